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
import { encode } from './codec';
import { checkBucketIds, checkCount, config, pack, takeTurns, unpack, type Turns } from './packed';
import { PulsingRuntimeError, PulsingUnsupportedError } from './errors';
import { type QueueGroupReader, groupReader } from './groups';

/** Buckets of a queue unless set. */
export const DEFAULT_NUM_BUCKETS = 4;
/** Records buffered per bucket before a send, unless set. */
export const DEFAULT_BATCH_SIZE = 100;
/** Batches one writer has on the way at most; `put` waits beyond (backpressure). */
const MAX_IN_FLIGHT = 64;

/**
 * Options of `queue.write`. `numBuckets`, `backend`, `replicas`, `retainMs` and `trimAcked`
 * are the queue's settings: its first writer fixes them (defaults where it says nothing), every later writer and reader
 * takes them, and one that asks otherwise is refused with a `Config` error naming both.
 */
export interface QueueWriteOptions {
  /** The field whose value picks the bucket (default `'id'`). */
  bucketColumn?: string;
  /** How many buckets (the queue's; 4 when its first writer does not say). */
  numBuckets?: number;
  /** Records buffered per bucket before they are sent (default 100). */
  batchSize?: number;
  /**
   * Where the owner keeps records: `'memory'` (the queue's; the default for a new queue), or
   * `'disk'` as well, so they survive its restart and a `kill -9` (each batch is synced
   * before the put resolves; the directory is the owner's `storagePath` init option).
   */
  backend?: 'memory' | 'disk';
  /**
   * Nodes keeping each bucket: 1 (the default for a new queue), or 2 so records survive the
   * owner's death: a put resolves only once the owner and the replica both hold it (with no
   * second live member, it waits for one, then fails; nothing is stored).
   */
  replicas?: 1 | 2;
  /**
   * Retention: records older than this many milliseconds are trimmed, whether consumer groups
   * acknowledged them or not (default 0: kept until trimmed otherwise). Checked every second;
   * a record may outlive it by 1/64 of it (100 ms at least).
   */
  retainMs?: number;
  /**
   * Retention: records every consumer group acknowledged are trimmed (default false; with no
   * group, nothing is). Trimmed records free their memory and disk; a plain reader at an
   * offset that was trimmed reads on from the first record kept.
   */
  trimAcked?: boolean;
}

/** Options of `queue.read` in a consumer group (see {@link QueueGroupReader}). */
export interface QueueGroupReadOptions {
  /** The group: its readers share the records, and its offsets are kept in the cluster. */
  group: string;
  /** After this long unacknowledged, a record is handed out again (default 30 000 ms). */
  visibilityTimeoutMs?: number;
  /**
   * A record handed out this many times that comes back again (not acknowledged in time, or
   * given back with `nack`) goes to the queue's dead letters, `<name>.dead` (a queue like any
   * other, the same bucket), and is acknowledged for the group. Default 0: no limit.
   */
  maxDeliveries?: number;
  /** Read only these buckets (default: all of them). */
  bucketIds?: number[];
  /** The queue's number of buckets (default: the queue's; 4 before its first writer). */
  numBuckets?: number;
}

/** Options of `queue.read`: a rank of `worldSize` readers, or explicit buckets. */
export interface QueueReadOptions {
  /** This reader's rank: it reads the buckets `b` with `b % worldSize === rank`. */
  rank?: number;
  /** How many readers share the queue. */
  worldSize?: number;
  /** Read exactly these buckets instead. */
  bucketIds?: number[];
  /** The queue's number of buckets (default: the queue's; 4 before its first writer). */
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
  // ASCII (the usual key) is its own UTF-8: hash the char codes, allocating nothing.
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return fnv1a32Utf8(s);
    h = Math.imul(h ^ c, 0x01000193);
  }
  return h >>> 0;
}

function fnv1a32Utf8(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) h = Math.imul(h ^ b, 0x01000193);
  return h >>> 0;
}

/** The bucket of a record whose bucket column has the value `key`. */
export function bucketOf(key: unknown, numBuckets: number): number {
  return fnv1a32(String(key)) % Math.max(1, numBuckets);
}


/** A duration in milliseconds: a whole number from 0 to 10 years. */
function checkMs(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 10 * 365 * 86_400_000) {
    throw config(`${what} must be a whole number of milliseconds from 0 to 10 years, got ${String(v)}`);
  }
  return v;
}

function checkName(name: unknown): string {
  if (typeof name !== 'string' || name === '' || Buffer.byteLength(name) > 1024) {
    throw config(`a queue name must be a string of 1 to 1024 bytes, got ${JSON.stringify(name)}`);
  }
  return name;
}




/** How a queue is kept, as its bucket 0's owner says (see {@link QueueWriteOptions}). */
interface Settings { disk: boolean; replicas: number; numBuckets: number; retainMs: number; trimAcked: boolean; settled: boolean }

/** The queue's settings; a `writer` that comes first fixes them to what it asks. */
async function describe(core: NativeSystem, queue: string, asked: Partial<Settings>, writer: boolean): Promise<Settings> {
  const r = await core.queueDescribe(queue, asked, writer);
  if (!('settled' in r)) throw errorFromJs(r);
  return r;
}

async function put(core: NativeSystem, queue: string, bucket: number, records: Buffer[], s: Settings, delays: number[] | null): Promise<void> {
  const r = await core.queuePut(queue, bucket, pack(records), s, delays);
  if (typeof r !== 'number') throw errorFromJs(r);
}

/** Options of `writer.put`. */
export interface QueuePutOptions {
  /**
   * Hold the records back from consumer groups this long: their first delivery comes then
   * (plain readers see them at once). By the owner's clock.
   */
  delayMs?: number;
}

/**
 * Writes records to a queue, batched per bucket.
 *
 * A bucket has one put on the way at a time, so its records keep their order. Batches that
 * fill up while it is on the way wait, and leave together as one put when it is stored (up
 * to 64 batches): under load a put carries more records, not more round trips.
 */
export class QueueWriter {
  private readonly pending = new Map<number, Buffer[]>();
  /** Per bucket with a put on the way, the full batches waiting for it. */
  private readonly waiting = new Map<number, Buffer[]>();
  /** Puts on the way. */
  private readonly inFlight = new Set<Promise<void>>();
  /** Records sent or waiting and not yet stored; `put` waits beyond `MAX_IN_FLIGHT` batches. */
  private unstored = 0;
  /** The first batch that failed since the last `put` or `flush` reported one. */
  private failure: unknown = null;
  /** Records put with a delay (and not sent yet): when groups may have them (Unix ms). */
  private readonly delayed = new WeakMap<Buffer, number>();
  /** How many of those are not sent yet (none: no batch is scanned for them). */
  private delayedCount = 0;

  private readonly numBuckets: number;

  /** @internal */
  constructor(private readonly core: NativeSystem, readonly name: string, private readonly column: string, private readonly batchSize: number, private readonly settings: Settings) {
    this.numBuckets = settings.numBuckets;
  }

  /**
   * Add a record (or several); a bucket whose batch is full is sent now, without waiting for
   * its owner (`flush` does: it reports a batch that failed).
   *
   * @param records - Objects with the bucket column (any value the codec carries).
   * @param opts - `delayMs`: hold them back from consumer groups this long.
   * @throws {@link PulsingRuntimeError} kind `Config` for a record without the column.
   * @example
   * ```ts
   * await w.put({ id: 'u1', data: 'hello' });
   * await w.put([{ id: 'u2' }, { id: 'u3' }]);
   * await w.put({ id: 'u4', task: 'remind' }, { delayMs: 60_000 });
   * ```
   */
  async put(records: object | object[], opts: QueuePutOptions = {}): Promise<void> {
    const list = Array.isArray(records) ? records : [records];
    const delayMs = opts.delayMs;
    if (delayMs !== undefined && (!Number.isFinite(delayMs) || delayMs < 0)) throw config(`delayMs must be a number of milliseconds, 0 or more, got ${String(delayMs)}`);
    const until = delayMs ? Date.now() + delayMs : 0;
    const full: [number, Buffer[]][] = [];
    for (const rec of list) {
      if (typeof rec !== 'object' || rec === null || !(this.column in rec)) {
        throw config(`queue ${this.name}: a record needs its bucket column "${this.column}", got ${JSON.stringify(rec)}`);
      }
      const b = bucketOf((rec as Record<string, unknown>)[this.column], this.numBuckets);
      let batch = this.pending.get(b);
      if (!batch) this.pending.set(b, (batch = []));
      const bytes = encode(rec);
      if (until) {
        this.delayed.set(bytes, until);
        this.delayedCount++;
      }
      batch.push(bytes);
      if (batch.length >= this.batchSize) {
        full.push([b, batch]);
        this.pending.set(b, []);
      }
    }
    for (const [b, recs] of full) this.send(b, recs);
    // Past the bound, wait for owners to store what is on the way (backpressure).
    while (this.unstored >= MAX_IN_FLIGHT * this.batchSize && this.inFlight.size > 0) await Promise.race(this.inFlight);
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
    this.unstored += records.length;
    const waiting = this.waiting.get(bucket);
    if (waiting) {
      waiting.push(...records);
      return;
    }
    this.start(bucket, records);
  }

  /** Put `records` to `bucket`; once stored, the batches that waited for it leave. */
  private start(bucket: number, records: Buffer[]): void {
    this.waiting.set(bucket, []);
    const sent: Promise<void> = put(this.core, this.name, bucket, records, this.settings, this.delaysOf(records))
      .catch((e) => { this.failure ??= e; })
      .then(() => {
        this.unstored -= records.length;
        this.inFlight.delete(sent);
        const next = this.waiting.get(bucket)!;
        if (next.length === 0) {
          this.waiting.delete(bucket);
          return;
        }
        const most = Math.min(100_000, MAX_IN_FLIGHT * this.batchSize);
        const now = next.length > most ? next.splice(0, most) : next;
        this.waiting.delete(bucket);
        this.start(bucket, now);
        if (now !== next) this.waiting.get(bucket)!.push(...next);
      });
    this.inFlight.add(sent);
  }

  /** The delays of a batch, flattened (index, Unix ms), or null when it has none. */
  private delaysOf(records: Buffer[]): number[] | null {
    if (this.delayedCount === 0) return null;
    let out: number[] | null = null;
    for (let i = 0; i < records.length; i++) {
      const at = this.delayed.get(records[i]);
      if (at === undefined) continue;
      (out ??= []).push(i, at);
      this.delayedCount--;
    }
    return out;
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
  private readonly turns: Turns = { turn: 0, closed: false };

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
    if (this.turns.closed) throw new PulsingRuntimeError('Stopped', `the reader of queue ${this.name} is closed`);
    return takeTurns(this.bucketIds, this.turns, opts, (b, limit, waitMs) => this.read(b, limit, waitMs));
  }

  private async read(bucket: number, limit: number, waitMs: number): Promise<unknown[]> {
    const r = await this.core.queueGet(this.name, bucket, this.offsets.get(bucket)!, limit, waitMs);
    if (!('packed' in r)) throw errorFromJs(r);
    this.offsets.set(bucket, r.next);
    return unpack(r.packed, r.count);
  }

  /** Every record, waiting for more, until `close()`. */
  async *[Symbol.asyncIterator](): AsyncIterator<unknown> {
    while (!this.turns.closed) {
      for (const rec of await this.get({ limit: 100, wait: true, timeoutMs: 1000 })) yield rec;
    }
  }

  /** Stop reading: a `for await` over it ends. */
  close(): void {
    this.turns.closed = true;
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
    if (opts.backend !== undefined && opts.backend !== 'memory' && opts.backend !== 'disk') {
      throw new PulsingUnsupportedError(`queue ${name}: the ${JSON.stringify(opts.backend)} backend: use 'memory' or 'disk'`);
    }
    if ('storagePath' in opts) {
      throw config(`queue ${name}: storagePath is the owning node's setting (init({ storagePath })), not a writer's: the records live on the owner's disk`);
    }
    if (opts.replicas !== undefined && opts.replicas !== 1 && opts.replicas !== 2) throw config(`replicas must be 1 or 2, got ${String(opts.replicas)}`);
    const column = opts.bucketColumn ?? 'id';
    if (typeof column !== 'string' || column === '') throw config('bucketColumn must be a non-empty string');
    const numBuckets = opts.numBuckets === undefined ? undefined : checkCount(opts.numBuckets, 'numBuckets', 65_536, DEFAULT_NUM_BUCKETS);
    const batchSize = checkCount(opts.batchSize, 'batchSize', 100_000, DEFAULT_BATCH_SIZE);
    const retainMs = opts.retainMs === undefined ? undefined : checkMs(opts.retainMs, 'retainMs');
    if (opts.trimAcked !== undefined && typeof opts.trimAcked !== 'boolean') throw config(`trimAcked must be true or false, got ${String(opts.trimAcked)}`);
    const core = this.core();
    const disk = opts.backend === undefined ? undefined : opts.backend === 'disk';
    const asked = { disk, replicas: opts.replicas, numBuckets, retainMs, trimAcked: opts.trimAcked };
    return new QueueWriter(core, name, column, batchSize, await describe(core, name, asked, true));
  }

  /**
   * A reader of queue `name`: rank `rank` of `worldSize` readers, or the buckets `bucketIds`;
   * or, with `group`, a member of a consumer group.
   *
   * @example
   * ```ts
   * const r = await pul.queue.read('jobs', { rank: 0, worldSize: 2 });
   * for await (const rec of r) console.log(rec);
   * const g = await pul.queue.read('jobs', { group: 'indexers' });
   * const recs = await g.get({ limit: 10 }); await g.ack(recs);
   * ```
   */
  async read(name: string, opts: QueueGroupReadOptions): Promise<QueueGroupReader>;
  async read(name: string, opts?: QueueReadOptions): Promise<QueueReader>;
  async read(name: string, options: QueueReadOptions | QueueGroupReadOptions = {}): Promise<QueueReader | QueueGroupReader> {
    checkName(name);
    const asked = options.numBuckets === undefined ? undefined : checkCount(options.numBuckets, 'numBuckets', 65_536, DEFAULT_NUM_BUCKETS);
    // The queue's number of buckets (a reader never fixes it: only a writer does).
    const n = (await describe(this.core(), name, { numBuckets: asked }, false)).numBuckets;
    if ('group' in options) return groupReader(this.core(), name, n, options);
    const opts = options;
    let buckets: number[];
    if (opts.bucketIds !== undefined) {
      buckets = checkBucketIds(opts.bucketIds, n);
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
