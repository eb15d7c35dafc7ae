/**
 * Queues: records spread over buckets by a column, each bucket owned by one live node (the
 * core routes writes and reads there), read by offset. Reads do not delete.
 *
 * The bucket of a record is FNV-1a (32 bit) of its bucket column's value as text, modulo the
 * number of buckets: the same function as the core's (`cluster/queue/bucket.rs`), so a
 * TypeScript and a Rust writer put the same key in the same bucket.
 */
import type { NativeSystem } from './native';
import { errorFromJs } from './native';
import { encode, decode } from './codec';
import { PulsingRuntimeError, PulsingUnsupportedError } from './errors';
import { checkDuration } from './deadline';

/** Buckets of a queue unless set. */
export const DEFAULT_NUM_BUCKETS = 4;
/** Records buffered per bucket before a send, unless set. */
export const DEFAULT_BATCH_SIZE = 100;
/** How long `get({ wait: true })` waits for a record unless `timeoutMs` says otherwise. */
const DEFAULT_WAIT_MS = 30_000;
/** Batches one writer has on the way at most; `put` waits beyond (backpressure). */
const MAX_IN_FLIGHT = 64;
/** One wait of the core's at most; longer waits ask again. */
const MAX_WAIT_MS = 60_000;

/** Options of `queue.write`. */
export interface QueueWriteOptions {
  /** The field whose value picks the bucket (default `'id'`). */
  bucketColumn?: string;
  /** How many buckets (default 4; readers by rank must use the same number). */
  numBuckets?: number;
  /** Records buffered per bucket before they are sent (default 100). */
  batchSize?: number;
  /** Where records are kept. `'memory'` (the default) is the one in this build. */
  backend?: 'memory' | 'disk';
}

/** Options of `queue.read`: a rank of `worldSize` readers, or explicit buckets. */
export interface QueueReadOptions {
  /** This reader's rank: it reads the buckets `b` with `b % worldSize === rank`. */
  rank?: number;
  /** How many readers share the queue. */
  worldSize?: number;
  /** Read exactly these buckets instead. */
  bucketIds?: number[];
  /** The writers' number of buckets (default 4). */
  numBuckets?: number;
}

/** Options of `reader.get`. */
export interface QueueGetOptions {
  /** At most this many records (default 100). */
  limit?: number;
  /** Wait for a record when there is none yet (default false). */
  wait?: boolean;
  /** How long to wait (default 30 000 ms). */
  timeoutMs?: number;
}

/** FNV-1a, 32 bits, of `s` as UTF-8. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The bucket of a record whose bucket column has the value `key`. */
export function bucketOf(key: unknown, numBuckets: number): number {
  return fnv1a32(String(key)) % Math.max(1, numBuckets);
}

function config(msg: string): PulsingRuntimeError {
  return new PulsingRuntimeError('Config', msg);
}

function checkName(name: unknown): string {
  if (typeof name !== 'string' || name === '' || Buffer.byteLength(name) > 1024) {
    throw config(`a queue name must be a string of 1 to 1024 bytes, got ${JSON.stringify(name)}`);
  }
  return name;
}

function checkCount(v: unknown, field: string, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > max) throw config(`${field} must be a whole number from 1 to ${max}, got ${String(v)}`);
  return v as number;
}

/**
 * Records cross into the core packed into one buffer, each as a `u32` little-endian length
 * then its bytes (the core's `queue::pack`): one buffer per batch, not one per record.
 */
function pack(records: Buffer[]): Buffer {
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
function unpack(packed: Buffer, count: number): unknown[] {
  const out: unknown[] = new Array(count);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const len = packed.readUInt32LE(at);
    out[i] = decode(packed.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return out;
}

async function put(core: NativeSystem, queue: string, bucket: number, records: Buffer[]): Promise<void> {
  const r = await core.queuePut(queue, bucket, pack(records));
  if (typeof r !== 'number') throw errorFromJs(r);
}

/** Writes records to a queue, batched per bucket. */
export class QueueWriter {
  private readonly pending = new Map<number, Buffer[]>();
  /** Per bucket, the last batch sent: the next one leaves after it, so a bucket keeps order. */
  private readonly sending = new Map<number, Promise<void>>();
  /** Batches sent and not yet stored; `put` waits while there are `MAX_IN_FLIGHT`. */
  private readonly inFlight = new Set<Promise<void>>();
  /** The first batch that failed since the last `put` or `flush` reported one. */
  private failure: unknown = null;

  /** @internal */
  constructor(private readonly core: NativeSystem, readonly name: string, private readonly column: string, private readonly numBuckets: number, private readonly batchSize: number) {}

  /**
   * Add a record (or several); a bucket whose batch is full is sent now, without waiting for
   * its owner (`flush` does: it reports a batch that failed).
   *
   * @param records - Objects with the bucket column (any value the codec carries).
   * @throws {@link PulsingRuntimeError} kind `Config` for a record without the column.
   * @example
   * ```ts
   * await w.put({ id: 'u1', data: 'hello' });
   * await w.put([{ id: 'u2' }, { id: 'u3' }]);
   * ```
   */
  async put(records: object | object[]): Promise<void> {
    const list = Array.isArray(records) ? records : [records];
    const full: [number, Buffer[]][] = [];
    for (const rec of list) {
      if (typeof rec !== 'object' || rec === null || !(this.column in rec)) {
        throw config(`queue ${this.name}: a record needs its bucket column "${this.column}", got ${JSON.stringify(rec)}`);
      }
      const b = bucketOf((rec as Record<string, unknown>)[this.column], this.numBuckets);
      let batch = this.pending.get(b);
      if (!batch) this.pending.set(b, (batch = []));
      batch.push(encode(rec));
      if (batch.length >= this.batchSize) {
        full.push([b, batch]);
        this.pending.set(b, []);
      }
    }
    for (const [b, recs] of full) this.send(b, recs);
    // Batches of different buckets travel at once; past the bound, wait (backpressure).
    while (this.inFlight.size >= MAX_IN_FLIGHT) await Promise.race(this.inFlight);
    this.throwFailure();
  }

  /**
   * Send everything buffered; resolves once every owner stored every record put so far, or
   * rejects with the first failure (a record put is reported here if its batch failed).
   */
  async flush(): Promise<void> {
    for (const [b, recs] of this.pending) if (recs.length > 0) this.send(b, recs);
    this.pending.clear();
    while (this.inFlight.size > 0) await Promise.race(this.inFlight);
    this.throwFailure();
  }

  private send(bucket: number, records: Buffer[]): void {
    const sent = (this.sending.get(bucket) ?? Promise.resolve())
      .then(() => put(this.core, this.name, bucket, records))
      .catch((e) => { this.failure ??= e; });
    this.sending.set(bucket, sent);
    this.inFlight.add(sent);
    void sent.then(() => this.inFlight.delete(sent));
  }

  private throwFailure(): void {
    const e = this.failure;
    if (e !== null) {
      this.failure = null;
      throw e;
    }
  }
}

/** Reads some buckets of a queue, each from where it left off. */
export class QueueReader implements AsyncIterable<unknown> {
  private readonly offsets: Map<number, number>;
  private turn = 0;
  private closed = false;

  /** @internal */
  constructor(private readonly core: NativeSystem, readonly name: string, buckets: number[]) {
    this.offsets = new Map(buckets.map((b) => [b, 0]));
  }

  /** The buckets this reader reads. */
  get bucketIds(): number[] {
    return [...this.offsets.keys()];
  }

  /**
   * Up to `limit` records, in order within each bucket; with `wait`, waits for one.
   *
   * @example
   * ```ts
   * const recs = await r.get({ limit: 100, wait: true, timeoutMs: 1000 });
   * ```
   */
  async get(opts: QueueGetOptions = {}): Promise<unknown[]> {
    if (this.closed) throw new PulsingRuntimeError('Stopped', `the reader of queue ${this.name} is closed`);
    const limit = checkCount(opts.limit, 'limit', 100_000, 100);
    if (opts.timeoutMs !== undefined) checkDuration(opts.timeoutMs, 'timeoutMs');
    const buckets = this.bucketIds;
    const out: unknown[] = [];
    for (let i = 0; i < buckets.length && out.length < limit; i++) {
      out.push(...(await this.read(buckets[(this.turn + i) % buckets.length], limit - out.length, 0)));
    }
    this.turn = (this.turn + 1) % buckets.length;
    if (out.length === 0 && opts.wait) {
      // Wait on one bucket at a time, in turn, until the deadline.
      const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_WAIT_MS);
      for (let left = deadline - Date.now(); out.length === 0 && left > 0 && !this.closed; left = deadline - Date.now()) {
        const slice = Math.min(left, buckets.length > 1 ? 50 : MAX_WAIT_MS);
        out.push(...(await this.read(buckets[this.turn], limit, Math.ceil(slice))));
        this.turn = (this.turn + 1) % buckets.length;
      }
    }
    return out;
  }

  private async read(bucket: number, limit: number, waitMs: number): Promise<unknown[]> {
    const r = await this.core.queueGet(this.name, bucket, this.offsets.get(bucket)!, limit, waitMs);
    if (!('packed' in r)) throw errorFromJs(r);
    this.offsets.set(bucket, r.next);
    return unpack(r.packed, r.count);
  }

  /** Every record, waiting for more, until `close()`. */
  async *[Symbol.asyncIterator](): AsyncIterator<unknown> {
    while (!this.closed) {
      for (const rec of await this.get({ limit: 100, wait: true, timeoutMs: 1000 })) yield rec;
    }
  }

  /** Stop reading: a `for await` over it ends. */
  close(): void {
    this.closed = true;
  }
}

/** The queues of one system: `system.queue`, or `pul.queue` for the global one. */
export class Queues {
  /** @internal */
  constructor(private readonly core: () => NativeSystem) {}

  /**
   * The node (its id) that owns `bucket` of queue `name` now: the rendezvous winner among
   * the live members this node knows.
   */
  owner(name: string, bucket: number): string {
    checkName(name);
    if (!Number.isInteger(bucket) || bucket < 0 || bucket > 0xffffffff) throw config(`bucket must be a whole number, got ${String(bucket)}`);
    return this.core().queueOwner(name, bucket);
  }

  /**
   * A writer to queue `name`.
   *
   * @example
   * ```ts
   * const w = await pul.queue.write('jobs', { bucketColumn: 'id', numBuckets: 4 });
   * ```
   */
  async write(name: string, opts: QueueWriteOptions = {}): Promise<QueueWriter> {
    checkName(name);
    if (opts.backend !== undefined && opts.backend !== 'memory') {
      throw new PulsingUnsupportedError(`queue ${name}: the ${JSON.stringify(opts.backend)} backend is not part of this build ('memory' is)`);
    }
    const column = opts.bucketColumn ?? 'id';
    if (typeof column !== 'string' || column === '') throw config('bucketColumn must be a non-empty string');
    return new QueueWriter(this.core(), name, column, checkCount(opts.numBuckets, 'numBuckets', 65_536, DEFAULT_NUM_BUCKETS), checkCount(opts.batchSize, 'batchSize', 100_000, DEFAULT_BATCH_SIZE));
  }

  /**
   * A reader of queue `name`: rank `rank` of `worldSize` readers, or the buckets `bucketIds`.
   *
   * @example
   * ```ts
   * const r = await pul.queue.read('jobs', { rank: 0, worldSize: 2 });
   * for await (const rec of r) console.log(rec);
   * ```
   */
  async read(name: string, opts: QueueReadOptions = {}): Promise<QueueReader> {
    checkName(name);
    const n = checkCount(opts.numBuckets, 'numBuckets', 65_536, DEFAULT_NUM_BUCKETS);
    let buckets: number[];
    if (opts.bucketIds !== undefined) {
      if (!Array.isArray(opts.bucketIds) || opts.bucketIds.length === 0 || opts.bucketIds.some((b) => !Number.isInteger(b) || b < 0 || b >= n)) {
        throw config(`bucketIds must be a non-empty array of buckets from 0 to ${n - 1}, got ${JSON.stringify(opts.bucketIds)}`);
      }
      buckets = [...new Set(opts.bucketIds)];
    } else {
      const world = checkCount(opts.worldSize ?? 1, 'worldSize', 65_536, 1);
      const rank = opts.rank ?? 0;
      if (!Number.isInteger(rank) || rank < 0 || rank >= world) throw config(`rank must be a whole number from 0 to worldSize - 1 (${world - 1}), got ${String(rank)}`);
      buckets = Array.from({ length: n }, (_, b) => b).filter((b) => b % world === rank);
      if (buckets.length === 0) throw config(`rank ${rank} of ${world} reads no bucket of ${n}: use fewer readers or more buckets`);
    }
    return new QueueReader(this.core(), name, buckets);
  }
}
