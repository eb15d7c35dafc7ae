/**
 * The message codec: MessagePack (msgpackr) plus what the contract adds — Map, Set, Date,
 * BigInt, undefined, Error and typed arrays. One pre-pass walks the value to refuse what
 * cannot travel (functions, symbols) with the path to it, and to tag Maps, which msgpackr
 * would otherwise encode exactly like plain objects.
 */
import { Packr, Unpackr, addExtension, REUSE_BUFFER_MODE, RESET_BUFFER_MODE } from 'msgpackr';
import { PulsingRuntimeError } from './errors';
import { zerocopy } from './zerocopy';
import { checkDecodeBudget } from './budget';

/** A Map on its way to the wire; decoded back into a Map. */
class TaggedMap {
  constructor(readonly entries: [unknown, unknown][]) {}
}

addExtension({
  Class: TaggedMap,
  type: 0x50,
  write: (m: TaggedMap) => m.entries,
  read: (entries: [unknown, unknown][]) => new Map(entries),
});

/** A binary value sent out of band: the body holds its index among the attachments. */
class OutOfBand {
  constructor(readonly idx: number, readonly type: string) {}
}

const VIEWS: Record<string, { new (b: ArrayBufferLike, off: number, len: number): ArrayBufferView; BYTES_PER_ELEMENT?: number }> = {
  Uint8Array, Int8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array,
};

/** Attachments of the message being decoded (decoding is synchronous). */
let decoding: Buffer[] | null = null;

/** A view of the received memory of the original type (copied only if misaligned). */
function materialize(idx: number, type: string): unknown {
  const a = decoding?.[idx];
  if (!a) throw new PulsingRuntimeError('Serialization', `message refers to attachment ${idx}, which did not arrive`);
  if (type === 'Buffer') return a;
  if (type === 'DataView') return new DataView(a.buffer, a.byteOffset, a.byteLength);
  const View = VIEWS[type];
  if (!View) return a;
  const size = View.BYTES_PER_ELEMENT ?? 1;
  const src = a.byteOffset % size === 0 ? a : Buffer.from(a);
  return new View(src.buffer, src.byteOffset, src.byteLength / size);
}

addExtension({
  Class: OutOfBand,
  type: 0x51,
  write: (r: OutOfBand) => [r.idx, r.type],
  read: ([idx, type]: [number, string]) => materialize(idx, type),
});

type ZeroCopyMode = 'auto' | 'off' | 'force';

/** Settings from the environment (`PULSING_ZEROCOPY*`, documented in the README). */
function zeroCopySettings(): { mode: ZeroCopyMode; threshold: number; streamThreshold: number; chunkBytes: number } {
  const mode = (process.env.PULSING_ZEROCOPY ?? 'auto') as ZeroCopyMode;
  if (!['auto', 'off', 'force'].includes(mode)) {
    throw new PulsingRuntimeError('Config', `PULSING_ZEROCOPY must be auto, off or force, got ${JSON.stringify(mode)}`);
  }
  const raw = process.env.PULSING_ZEROCOPY_STREAM_THRESHOLD ?? '65536';
  const threshold = Number(raw);
  if (!Number.isInteger(threshold) || threshold < 0) {
    throw new PulsingRuntimeError('Config', `PULSING_ZEROCOPY_STREAM_THRESHOLD must be a whole number of bytes, got ${JSON.stringify(raw)}`);
  }
  const rawChunk = process.env.PULSING_ZEROCOPY_CHUNK_BYTES ?? '262144';
  const chunkBytes = Number(rawChunk);
  if (!Number.isInteger(chunkBytes) || chunkBytes < 4096 || chunkBytes > 2 ** 31) {
    throw new PulsingRuntimeError('Config', `PULSING_ZEROCOPY_CHUNK_BYTES must be a whole number of bytes from 4096, got ${JSON.stringify(rawChunk)}`);
  }
  return { mode, threshold: mode === 'force' ? 0 : mode === 'off' ? Infinity : threshold, streamThreshold: threshold, chunkBytes };
}
const settings = zeroCopySettings();

/** Transport settings from the same variables: bulk-lane threshold and write chunk size. */
export const transportSettings = { bulkThreshold: Math.min(settings.streamThreshold, 2 ** 31), chunkBytes: settings.chunkBytes };

/** Where out-of-band values go while encoding, and from what size. */
interface OutOfBandSink { list: Buffer[]; threshold: number }

const OPTIONS = {
  moreTypes: true,
  useRecords: false,
  useBigIntExtension: true,
  int64AsType: 'bigint',
} as const;
const packr = new Packr(OPTIONS);

/**
 * Small messages inside a batch are decoded from a copy in this buffer: msgpackr reads short
 * strings in JS only from a source under 140 bytes (its native string extraction costs more
 * than the whole message), and a source of its own keeps one cached `DataView` for all. Its
 * binary values are copied out (`copyBuffers`): the buffer is reused by the next message.
 */
const SMALL_MESSAGE = 128;
const scratch = Buffer.allocUnsafeSlow(SMALL_MESSAGE);
const smallUnpackr = new Unpackr({ ...OPTIONS, copyBuffers: true });
let scratchBusy = false;

/**
 * Where in a value the walk is: object keys (strings), array indices (numbers), and Map/Set
 * positions (strings starting with `\0`, already spelled). Kept as a stack and spelled only
 * for an error, so a walk allocates no path strings.
 */
type Path = (string | number)[];

function describe(path: Path): string {
  if (path.length === 0) return 'the value itself';
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (seg.startsWith('\0')) out += seg.slice(1);
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

/** Walk `v` under `seg` of `path`. */
function under(v: unknown, path: Path, seg: string | number, seen: object[], oob: OutOfBandSink | null): unknown {
  // Primitives need no walk (and no path).
  const t = typeof v;
  if (t !== 'object' && t !== 'function' && t !== 'symbol') return v;
  path.push(seg);
  try {
    return prepare(v, path, seen, oob);
  } finally {
    path.pop();
  }
}

/**
 * Walk `value`, refuse functions and symbols (naming the path), turn Maps into tagged maps.
 * Returns the value unchanged when nothing needs tagging (no copy on the common path).
 */
function prepare(value: unknown, path: Path, seen: object[], oob: OutOfBandSink | null = null): unknown {
  switch (typeof value) {
    case 'function':
      throw new PulsingRuntimeError('Serialization', `cannot send a function at ${describe(path)}`);
    case 'symbol':
      throw new PulsingRuntimeError('Serialization', `cannot send a symbol at ${describe(path)}`);
    case 'object':
      break;
    default:
      return value;
  }
  if (value === null) return value;
  if (ArrayBuffer.isView(value)) {
    if (oob && value.byteLength >= oob.threshold) {
      const type = Buffer.isBuffer(value) ? 'Buffer' : value.constructor.name;
      oob.list.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength)); // a view: no copy
      return new OutOfBand(oob.list.length - 1, type);
    }
    return value;
  }
  if (value instanceof ArrayBuffer || value instanceof Date || value instanceof RegExp) return value;
  const describe0 = (value as { [zerocopy]?: () => unknown })[zerocopy];
  if (typeof describe0 === 'function') {
    // A class that sends itself as raw buffers: its descriptor travels, buffers out of band.
    const d = describe0.call(value) as { buffers?: unknown; dtype?: unknown; shape?: unknown; strides?: unknown };
    const forced = oob ? { list: oob.list, threshold: settings.mode === 'off' ? Infinity : 0 } : null;
    return prepare({ dtype: d.dtype, shape: d.shape, strides: d.strides, buffers: d.buffers }, path, seen, forced);
  }
  // The objects above this one: values nest shallowly, so a scan beats a Set.
  if (seen.includes(value)) {
    throw new PulsingRuntimeError('Serialization', `cannot send a cyclic value at ${describe(path)}`);
  }
  seen.push(value);
  try {
    if (value instanceof Map) {
      const entries: [unknown, unknown][] = [];
      let i = 0;
      for (const [k, v] of value) {
        entries.push([under(k, path, `\0<key ${i}>`, seen, oob), under(v, path, `\0.get(${i})`, seen, oob)]);
        i++;
      }
      return new TaggedMap(entries);
    }
    if (value instanceof Set) {
      let changed = false;
      const items: unknown[] = [];
      let i = 0;
      for (const v of value) {
        const p = under(v, path, `\0<item ${i++}>`, seen, oob);
        changed ||= p !== v;
        items.push(p);
      }
      return changed ? new Set(items) : value;
    }
    if (value instanceof Error) return value;
    if (Array.isArray(value)) {
      let out: unknown[] | undefined;
      for (let i = 0; i < value.length; i++) {
        const p = under(value[i], path, i, seen, oob);
        if (p !== value[i]) (out ??= value.slice())[i] = p;
      }
      return out ?? value;
    }
    let out: Record<string, unknown> | undefined;
    for (const key in value) {
      if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
      const v = (value as Record<string, unknown>)[key];
      const p = under(v, path, key, seen, oob);
      if (p !== v) (out ??= { ...(value as Record<string, unknown>) })[key] = p;
    }
    for (const s of Object.getOwnPropertySymbols(value)) {
      if (Object.prototype.propertyIsEnumerable.call(value, s)) {
        throw new PulsingRuntimeError('Serialization', `cannot send a symbol key ${String(s)} at ${describe(path)}`);
      }
    }
    return out ?? value;
  } finally {
    seen.pop();
  }
}

/** Encode a value to MessagePack bytes. Throws `PulsingRuntimeError('Serialization')`. */
export function encode(value: unknown): Buffer {
  const prepared = prepare(value, [], []);
  try {
    return packr.pack(prepared);
  } catch (e) {
    throw new PulsingRuntimeError('Serialization', `cannot encode message: ${(e as Error).message}`);
  }
}

/**
 * Decode MessagePack bytes produced by {@link encode} (or any MessagePack peer). Bytes over
 * the decoding budget (nesting, number of values, unknown extensions) are refused with
 * `PulsingRuntimeError('Serialization')` before anything is built.
 */
export function decode(bytes: Uint8Array): unknown {
  return decodeRange(bytes, 0, bytes.length);
}

/**
 * Decode the value in `bytes[start, end)`: a message inside a larger buffer (an event batch)
 * is read where it is (a small one from a copy in `scratch`), with no view made of it.
 */
function decodeRange(bytes: Uint8Array, start: number, end: number): unknown {
  checkDecodeBudget(bytes, start, end);
  try {
    if (start === 0 && end === bytes.length) return packr.unpack(bytes);
    if (end - start > SMALL_MESSAGE || scratchBusy) return packr.unpack(bytes, { start, end });
    // A loop, not `set`/`copy`: those make a view first, and these are a few dozen bytes.
    for (let i = start, j = 0; i < end; i++, j++) scratch[j] = bytes[i];
    scratchBusy = true;
    try {
      return smallUnpackr.unpack(scratch, end - start);
    } finally {
      scratchBusy = false;
    }
  } catch (e) {
    throw new PulsingRuntimeError('Serialization', `cannot decode message: ${(e as Error).message}`);
  }
}

/** The attachments of a message that has none (shared: nobody adds to it). */
const NONE: Buffer[] = Object.freeze([]) as unknown as Buffer[];

/** Whether `v` is a primitive, or a `[method, args]` pair whose args are all primitives. */
function flat(v: unknown): boolean {
  if (typeof v !== 'object') return typeof v !== 'function' && typeof v !== 'symbol';
  if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'string' || !Array.isArray(v[1])) return false;
  const args = v[1] as unknown[];
  for (let i = 0; i < args.length; i++) {
    const t = typeof args[i];
    if (t === 'object' || t === 'function' || t === 'symbol') return false;
  }
  return true;
}

/** A message ready for the wire: the body, and the binary values sent out of band. */
export interface Parts { body: Buffer; attachments: Buffer[] }

/** A body encoded where the encoder writes: `[start, end)` of a buffer the next encode reuses. */
export type InPlace = Buffer & { start: number; end: number };

/** msgpackr: return its own buffer with start/end set (no view), and write there again next time. */
const IN_PLACE = REUSE_BUFFER_MODE | RESET_BUFFER_MODE;

/**
 * Encode in place a primitive, or a call `[method, args]` whose arguments are all
 * primitives: no Buffer is made for it, and the bytes must be copied before anything else
 * is encoded. Null for anything else (use {@link encodeParts}).
 */
export function encodeFlat(value: unknown): InPlace | null {
  if (!flat(value)) return null;
  try {
    return packr.pack(value, IN_PLACE) as InPlace;
  } catch (e) {
    throw new PulsingRuntimeError('Serialization', `cannot encode message: ${(e as Error).message}`);
  }
}

/**
 * Encode for the wire: Buffers and typed arrays from `PULSING_ZEROCOPY_STREAM_THRESHOLD`
 * bytes up (all with `PULSING_ZEROCOPY=force`, none with `off`) leave the body and travel as
 * attachments, referenced from the body; they are views of the caller's memory, not copies.
 */
export function encodeParts(value: unknown): Parts {
  if (flat(value)) {
    // Nothing to walk (a call whose arguments are primitives): no walk, no attachments.
    try {
      return { body: packr.pack(value), attachments: NONE };
    } catch (e) {
      throw new PulsingRuntimeError('Serialization', `cannot encode message: ${(e as Error).message}`);
    }
  }
  const sink: OutOfBandSink = { list: [], threshold: settings.threshold };
  const prepared = prepare(value, [], [], sink);
  try {
    return { body: packr.pack(prepared), attachments: sink.list };
  } catch (e) {
    throw new PulsingRuntimeError('Serialization', `cannot encode message: ${(e as Error).message}`);
  }
}

/**
 * Decode a message (`body[start, end)`, all of it by default) with its attachments;
 * out-of-band values are views of their memory.
 */
export function decodeParts(body: Uint8Array, attachments: Buffer[] | null | undefined, start = 0, end = body.length): unknown {
  decoding = attachments ?? null;
  try {
    return decodeRange(body, start, end);
  } finally {
    decoding = null;
  }
}

/** Send a value through the codec and back: what a remote peer would receive. */
export function roundTrip<T>(value: T): T {
  const bytes = encode(value);
  // Our own bytes, just encoded: no budget to check.
  try {
    return packr.unpack(bytes) as T;
  } catch (e) {
    throw new PulsingRuntimeError('Serialization', `cannot decode message: ${(e as Error).message}`);
  }
}
