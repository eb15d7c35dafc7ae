/**
 * Decoding budget: a linear scan of MessagePack bytes, before msgpackr builds anything, that
 * refuses what would cost far more to decode than it cost to send. One byte of an empty map
 * becomes a JS object of ~60 bytes, so a 100 MiB body of them would take gigabytes of heap
 * and seconds of the event loop; deep nesting would overflow the stack. The scan allocates
 * nothing and stops at the first excess.
 *
 * It also refuses MessagePack extensions the codec does not use (msgpackr's records and
 * structured-clone references among them), so one peer cannot change how later messages of
 * others are decoded.
 */
import { PulsingRuntimeError } from './errors';

/** Nesting depth of maps, arrays and extension values at most. */
export const MAX_DEPTH = 512;
/** Maps and arrays in one message at most. */
export const MAX_CONTAINERS = 1_000_000;
/** Values in one message at most (keys, elements and scalars). */
export const MAX_ELEMENTS = 16_000_000;

/** Extensions whose value follows inline (`d4 <type> 00 <value>`): Map, out-of-band ref, Error, Set, RegExp. */
const INLINE_EXT = new Set([0x50, 0x51, 0x65, 0x73, 0x78]);
/** Extensions whose data is raw bytes: undefined (0), BigInt, typed arrays, Date. */
const RAW_EXT = new Set([0x00, 0x42, 0x74, 0xff]);

/** `LEFT[d]`: values still to read at depth d. Shared: the scan is synchronous and calls nothing. */
const LEFT = new Float64Array(MAX_DEPTH + 2);

function refuse(why: string): never {
  throw new PulsingRuntimeError('Serialization', `cannot decode message: ${why}`);
}

/**
 * Check that `b` holds exactly one MessagePack value within the budget; throws
 * `PulsingRuntimeError('Serialization')` naming what was exceeded.
 */
export function checkDecodeBudget(b: Uint8Array, start = 0, end = b.length): void {
  const left = LEFT;
  let depth = 0;
  left[0] = 1;
  let pos = start;
  let containers = 0;
  let elements = 0;
  const u16 = (p: number) => (b[p] << 8) | b[p + 1];
  const u32 = (p: number) => ((b[p] << 24) >>> 0) + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
  while (depth >= 0) {
    if (left[depth] === 0) { depth--; continue; }
    left[depth]--;
    if (pos >= end) refuse('it ends inside a value');
    if (++elements > MAX_ELEMENTS) refuse(`more than ${MAX_ELEMENTS} values`);
    const t = b[pos++];
    let children = -1;
    let skip = 0;
    if (t <= 0x7f || t >= 0xe0) skip = 0;
    else if (t <= 0x8f) children = (t & 0x0f) * 2;
    else if (t <= 0x9f) children = t & 0x0f;
    else if (t <= 0xbf) skip = t & 0x1f;
    else {
      switch (t) {
        case 0xc0: case 0xc2: case 0xc3: break;
        case 0xc4: case 0xd9: if (pos + 1 > end) refuse('truncated length'); skip = 1 + b[pos]; break;
        case 0xc5: case 0xda: if (pos + 2 > end) refuse('truncated length'); skip = 2 + u16(pos); break;
        case 0xc6: case 0xdb: if (pos + 4 > end) refuse('truncated length'); skip = 4 + u32(pos); break;
        case 0xca: skip = 4; break;
        case 0xcb: skip = 8; break;
        case 0xcc: case 0xd0: skip = 1; break;
        case 0xcd: case 0xd1: skip = 2; break;
        case 0xce: case 0xd2: skip = 4; break;
        case 0xcf: case 0xd3: skip = 8; break;
        case 0xdc: if (pos + 2 > end) refuse('truncated length'); children = u16(pos); pos += 2; break;
        case 0xdd: if (pos + 4 > end) refuse('truncated length'); children = u32(pos); pos += 4; break;
        case 0xde: if (pos + 2 > end) refuse('truncated length'); children = u16(pos) * 2; pos += 2; break;
        case 0xdf: if (pos + 4 > end) refuse('truncated length'); children = u32(pos) * 2; pos += 4; break;
        case 0xd4: {
          const type = b[pos];
          if (INLINE_EXT.has(type)) { pos += 2; children = 1; break; }
          if (!RAW_EXT.has(type)) refuse(`unsupported extension type ${type}`);
          skip = 2;
          break;
        }
        case 0xd5: case 0xd6: case 0xd7: case 0xd8: {
          if (!RAW_EXT.has(b[pos])) refuse(`unsupported extension type ${b[pos]}`);
          skip = 1 + (1 << (t - 0xd4));
          break;
        }
        case 0xc7: case 0xc8: case 0xc9: {
          const n = t === 0xc7 ? 1 : t === 0xc8 ? 2 : 4;
          if (pos + n + 1 > end) refuse('truncated length');
          const len = n === 1 ? b[pos] : n === 2 ? u16(pos) : u32(pos);
          if (!RAW_EXT.has(b[pos + n])) refuse(`unsupported extension type ${b[pos + n]}`);
          skip = n + 1 + len;
          break;
        }
        default: refuse(`invalid byte 0x${t.toString(16)}`);
      }
    }
    if (children >= 0) {
      if (++containers > MAX_CONTAINERS) refuse(`more than ${MAX_CONTAINERS} maps and arrays`);
      // Each value takes at least one byte: a count beyond the bytes left is a lie.
      if (children > end - pos) refuse(`a container announces ${children} values in ${end - pos} bytes`);
      if (children > 0) {
        if (depth + 1 > MAX_DEPTH) refuse(`nesting deeper than ${MAX_DEPTH}`);
        left[++depth] = children;
      }
      continue;
    }
    pos += skip;
    if (pos > end) refuse('it ends inside a value');
  }
  if (pos !== end) refuse(`${end - pos} bytes after the value`);
}
