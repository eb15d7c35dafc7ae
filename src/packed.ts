/**
 * Queue records as they cross into the core, and the checks queue options share.
 * @internal
 */
import { decode } from './codec';
import { PulsingRuntimeError } from './errors';

/** A `Config` error. */
export function config(msg: string): PulsingRuntimeError {
  return new PulsingRuntimeError('Config', msg);
}

/** `v` as a whole number from 1 to `max`, or `dflt` when absent. */
export function checkCount(v: unknown, field: string, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > max) throw config(`${field} must be a whole number from 1 to ${max}, got ${String(v)}`);
  return v as number;
}

/** The buckets `ids` of a queue of `n`, checked, each once. */
export function checkBucketIds(ids: unknown, n: number): number[] {
  if (!Array.isArray(ids) || ids.length === 0 || ids.some((b) => !Number.isInteger(b) || b < 0 || b >= n)) {
    throw config(`bucketIds must be a non-empty array of buckets from 0 to ${n - 1}, got ${JSON.stringify(ids)}`);
  }
  return [...new Set(ids as number[])];
}

/**
 * Records cross into the core packed into one buffer, each as a `u32` little-endian length
 * then its bytes (the core's `queue::pack`): one buffer per batch, not one per record.
 */
export function pack(records: Buffer[]): Buffer {
  let size = 0;
  for (const r of records) size += 4 + r.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const r of records) {
    out.writeUInt32LE(r.length, at);
    r.copy(out, at + 4);
    at += 4 + r.length;
  }
  return out;
}

/** The `count` records of a packed buffer, decoded. */
export function unpack(packed: Buffer, count: number): unknown[] {
  const out: unknown[] = new Array(count);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const len = packed.readUInt32LE(at);
    out[i] = decode(packed.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return out;
}
