/**
 * The call envelope, `[method, args]` in MessagePack, read and written without the general
 * codec where it can be. A method name is a handful of bytes that every call of a burst
 * repeats: decoding it makes a new string each time, and each lookup of that string on the
 * actor (its method, the hook and prototype checks) hashes it again. Read through a small
 * cache, the same bytes give the same string, which V8 has already hashed and internalised
 * (a remote tell costs about 200 ns less on the receiving JS thread). On the way out, a call
 * without arguments is the same bytes every time: they come from a cache too.
 *
 * Both caches are bounded: names come from the network (received) or from any caller (sent).
 */
import { decodeParts, type InPlace } from './codec';

const FIXARRAY_2 = 0x92;
const FIXARRAY_0 = 0x90;
const NIL = 0xc0;

/** Received names: a fixed table, one name per slot, a new one replacing the old. */
const SLOTS = 256;
const slotBytes: (Uint8Array | null)[] = new Array<Uint8Array | null>(SLOTS).fill(null);
const slotNames: string[] = new Array<string>(SLOTS).fill('');

/** The method name whose MessagePack string (fixstr) is `b[at, at + len)`. */
function methodAt(b: Uint8Array, at: number, len: number): string {
  let h = len;
  for (let i = 0; i < len; i++) h = (h * 31 + b[at + i]) | 0;
  const slot = h & (SLOTS - 1);
  const known = slotBytes[slot];
  if (known !== null && known.length === len) {
    let i = 0;
    while (i < len && known[i] === b[at + i]) i++;
    if (i === len) return slotNames[slot];
  }
  // The fixstr with its head byte: a string by construction, the codec decodes it.
  const name = decodeParts(b, null, at - 1, at + len) as string;
  // A copy: `b` may be a view of memory that is reused (Buffer#slice would share it).
  const copy = new Uint8Array(len);
  for (let i = 0; i < len; i++) copy[i] = b[at + i];
  slotBytes[slot] = copy;
  slotNames[slot] = name;
  return name;
}

/**
 * Decode a call body, `body[start, end)` with its attachments: `[method, args]`, or null
 * when the bytes are MessagePack but not a call. A nil `args` (a Rust `()`) reads as no
 * arguments. Throws `PulsingRuntimeError('Serialization')` for bytes that do not decode.
 *
 * @example
 * const call = decodeCall(ev.body, ev.attachments, ev.start, ev.end);
 * if (call === null) throw new PulsingRuntimeError('Protocol', 'a call body must be [method, args]');
 */
export function decodeCall(body: Uint8Array, attachments: Buffer[] | null | undefined, start: number, end: number): [string, unknown[]] | null {
  const len = body[start + 1] - 0xa0;
  if (body[start] === FIXARRAY_2 && len >= 0 && len < 32 && start + 2 + len < end) {
    const method = methodAt(body, start + 2, len);
    const at = start + 2 + len;
    const first = body[at];
    if (at + 1 === end && (first === FIXARRAY_0 || first === NIL)) return [method, []];
    const args = decodeParts(body, attachments, at, end);
    if (args == null) return [method, []];
    return Array.isArray(args) ? [method, args] : null;
  }
  // Any other spelling of the envelope (a longer name, a str8 head): the general codec.
  let call = decodeParts(body, attachments, start, end);
  if (Array.isArray(call) && call.length === 2 && call[1] == null) call = [call[0], []];
  if (!Array.isArray(call) || call.length !== 2 || typeof call[0] !== 'string' || !Array.isArray(call[1])) return null;
  return call as [string, unknown[]];
}

/** Sent names: the whole body of a call without arguments, per method. */
const EMPTY_CALLS_MAX = 1024;
const emptyCalls = new Map<string, InPlace>();
const utf8 = new TextEncoder();

/**
 * The body of `method()` with no arguments, `[method, []]`, from a cache, as an in-place
 * encoding (`body.subarray(start, end)` is the message); null for a name too long for a
 * fixstr (the general codec then writes it).
 *
 * @example
 * const body = emptyCallBody('incr'); // 0x92 0xa4 'i' 'n' 'c' 'r' 0x90
 */
export function emptyCallBody(method: string): InPlace | null {
  const known = emptyCalls.get(method);
  if (known !== undefined) return known;
  const name = utf8.encode(method);
  if (name.length >= 32) return null;
  // Shaped as an in-place encoding (`[start, end)` of a buffer), which the outbox copies.
  const body = Object.assign(Buffer.alloc(3 + name.length), { start: 0, end: 3 + name.length });
  body[0] = FIXARRAY_2;
  body[1] = 0xa0 + name.length;
  body.set(name, 2);
  body[2 + name.length] = FIXARRAY_0;
  // Bounded: a caller making up names forever only ever refills it.
  if (emptyCalls.size >= EMPTY_CALLS_MAX) emptyCalls.clear();
  emptyCalls.set(method, body);
  return body;
}
