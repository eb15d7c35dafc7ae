/**
 * Queue records as they cross into the core, and the checks queue options share.
 * @internal
 */
import { decode } from './codec';
import { checkDuration } from './deadline';
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

/** How long `get({ wait: true })` waits for a record unless `timeoutMs` says otherwise. */
const DEFAULT_WAIT_MS = 30_000;
/** One wait of the core's at most; longer waits ask again. */
const MAX_WAIT_MS = 60_000;

/** What a reader of several buckets keeps between gets. */
export interface Turns {
  /** The bucket the next get starts with (buckets take turns). */
  turn: number;
  /** Whether the reader is closed (a wait ends early). */
  closed: boolean;
}

/**
 * One `get` over `buckets`: up to `limit` from each in turn, starting at `state.turn`; when
 * none has any and `wait` is set, waits on one bucket at a time until one has or the
 * deadline passes. `fetch(bucket, limit, waitMs)` reads one bucket.
 */
export async function takeTurns<T>(buckets: number[], state: Turns, opts: { limit?: number; wait?: boolean; timeoutMs?: number }, fetch: (bucket: number, limit: number, waitMs: number) => Promise<T[]>): Promise<T[]> {
  const limit = checkCount(opts.limit, 'limit', 100_000, 100);
  if (opts.timeoutMs !== undefined) checkDuration(opts.timeoutMs, 'timeoutMs');
  const out: T[] = [];
  for (let i = 0; i < buckets.length && out.length < limit; i++) {
    out.push(...(await fetch(buckets[(state.turn + i) % buckets.length], limit - out.length, 0)));
  }
  state.turn = (state.turn + 1) % buckets.length;
  if (out.length === 0 && opts.wait) {
    const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_WAIT_MS);
    for (let left = deadline - Date.now(); out.length === 0 && left > 0 && !state.closed; left = deadline - Date.now()) {
      // With several buckets, short waits in turn, so a record in any of them is seen soon.
      const slice = Math.min(left, buckets.length > 1 ? 50 : MAX_WAIT_MS);
      out.push(...(await fetch(buckets[state.turn], limit, Math.ceil(slice))));
      state.turn = (state.turn + 1) % buckets.length;
    }
  }
  return out;
}
