/**
 * The message codec: MessagePack (msgpackr) plus what the contract adds — Map, Set, Date,
 * BigInt, undefined, Error and typed arrays. One pre-pass walks the value to refuse what
 * cannot travel (functions, symbols) with the path to it, and to tag Maps, which msgpackr
 * would otherwise encode exactly like plain objects.
 */
import { Packr, addExtension } from 'msgpackr';
import { PulsingRuntimeError } from './errors';

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

const packr = new Packr({
  moreTypes: true,
  useRecords: false,
  useBigIntExtension: true,
  int64AsType: 'bigint',
});

function describe(path: string): string {
  return path === '' ? 'the value itself' : path;
}

/**
 * Walk `value`, refuse functions and symbols (naming the path), turn Maps into tagged maps.
 * Returns the value unchanged when nothing needs tagging (no copy on the common path).
 */
function prepare(value: unknown, path: string, seen: Set<object>): unknown {
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
  if (value === null || ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Date || value instanceof RegExp) {
    return value;
  }
  if (seen.has(value)) {
    throw new PulsingRuntimeError('Serialization', `cannot send a cyclic value at ${describe(path)}`);
  }
  seen.add(value);
  try {
    if (value instanceof Map) {
      const entries: [unknown, unknown][] = [];
      let i = 0;
      for (const [k, v] of value) {
        entries.push([prepare(k, `${path}<key ${i}>`, seen), prepare(v, `${path}.get(${i})`, seen)]);
        i++;
      }
      return new TaggedMap(entries);
    }
    if (value instanceof Set) {
      let changed = false;
      const items: unknown[] = [];
      let i = 0;
      for (const v of value) {
        const p = prepare(v, `${path}<item ${i++}>`, seen);
        changed ||= p !== v;
        items.push(p);
      }
      return changed ? new Set(items) : value;
    }
    if (value instanceof Error) return value;
    if (Array.isArray(value)) {
      let out: unknown[] | undefined;
      for (let i = 0; i < value.length; i++) {
        const p = prepare(value[i], `${path}[${i}]`, seen);
        if (p !== value[i]) (out ??= value.slice())[i] = p;
      }
      return out ?? value;
    }
    let out: Record<string, unknown> | undefined;
    for (const key of Object.keys(value)) {
      const v = (value as Record<string, unknown>)[key];
      const p = prepare(v, path === '' ? key : `${path}.${key}`, seen);
      if (p !== v) (out ??= { ...(value as Record<string, unknown>) })[key] = p;
    }
    for (const s of Object.getOwnPropertySymbols(value)) {
      if (Object.prototype.propertyIsEnumerable.call(value, s)) {
        throw new PulsingRuntimeError('Serialization', `cannot send a symbol key ${String(s)} at ${describe(path)}`);
      }
    }
    return out ?? value;
  } finally {
    seen.delete(value);
  }
}

/** Encode a value to MessagePack bytes. Throws `PulsingRuntimeError('Serialization')`. */
export function encode(value: unknown): Buffer {
  const prepared = prepare(value, '', new Set());
  try {
    return packr.pack(prepared);
  } catch (e) {
    throw new PulsingRuntimeError('Serialization', `cannot encode message: ${(e as Error).message}`);
  }
}

/** Decode MessagePack bytes produced by {@link encode} (or any MessagePack peer). */
export function decode(bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes);
  } catch (e) {
    throw new PulsingRuntimeError('Serialization', `cannot decode message: ${(e as Error).message}`);
  }
}

/** Send a value through the codec and back: what a remote peer would receive. */
export function roundTrip<T>(value: T): T {
  return decode(encode(value)) as T;
}
