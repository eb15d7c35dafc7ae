/**
 * Consumer groups of a queue: readers that share the records of the queue's buckets. The
 * group's place in each bucket is kept by the bucket's owner in the cluster, not by a reader:
 * a record is handed to one member at a time, a restarted member resumes where its group
 * committed, and a record not acknowledged within the visibility timeout is handed out again
 * (at-least-once: process records so that a second delivery does no harm).
 */
import type { NativeSystem } from './native';
import { errorFromJs } from './native';
import { PulsingRuntimeError } from './errors';
import { checkBucketIds, config, takeTurns, unpack, type Turns } from './packed';
import type { QueueGetOptions, QueueGroupReadOptions } from './queue';

/** How long a record handed out stays invisible to the group's other readers, unless set. */
const DEFAULT_VISIBILITY_MS = 30_000;
const MAX_VISIBILITY_MS = 3_600_000;
/** Longest a record given back (`nack`) may wait before it is handed out again. */
const MAX_NACK_DELAY_MS = 86_400_000;

/** A record handed to a group reader: pass it to `ack` once processed (or to `nack`). */
export interface GroupRecord<T = unknown> {
  /** The record as written. */
  value: T;
  /** Its bucket. */
  bucket: number;
  /** Its offset in the bucket. */
  offset: number;
  /**
   * How many times it was handed out, this time too: 1 the first time, more after its
   * visibility timeout passed or a `nack` (it starts over when its bucket changes owner).
   */
  deliveries: number;
}

/** Options of `nack`. */
export interface NackOptions {
  /** Hand the records out again after this long (default 0: at once; at most 24 h). */
  delayMs?: number;
}

/**
 * A member of a consumer group (`queue.read(name, { group })`).
 *
 * @example
 * ```ts
 * const g = await pul.queue.read('jobs', { group: 'indexers', visibilityTimeoutMs: 10_000 });
 * for await (const rec of g) {
 *   await index(rec.value);
 *   await g.ack([rec]);
 * }
 * ```
 */
export class QueueGroupReader implements AsyncIterable<GroupRecord> {
  /** Handed to this reader and not acknowledged, per bucket (what `commit` acknowledges). */
  private readonly unacked = new Map<number, Set<number>>();
  private readonly turns: Turns = { turn: 0, closed: false };

  /** @internal */
  constructor(private readonly core: NativeSystem, readonly name: string, readonly group: string, readonly bucketIds: number[], private readonly visibilityMs: number, private readonly maxDeliveries: number) {}

  /**
   * Up to `limit` records handed to this reader; with `wait`, waits for one (a new record,
   * or one coming back after its visibility timeout).
   */
  async get(opts: QueueGetOptions = {}): Promise<GroupRecord[]> {
    if (this.turns.closed) throw new PulsingRuntimeError('Stopped', `the group reader ${this.group} of queue ${this.name} is closed`);
    return takeTurns(this.bucketIds, this.turns, opts, (b, limit, waitMs) => this.fetch(b, limit, waitMs));
  }

  private async fetch(bucket: number, limit: number, waitMs: number): Promise<GroupRecord[]> {
    const r = await this.core.queueGroupGet(this.name, bucket, this.group, limit, waitMs, this.visibilityMs, this.maxDeliveries);
    if (!('packed' in r)) throw errorFromJs(r);
    const values = unpack(r.packed, r.count);
    let mine = this.unacked.get(bucket);
    if (!mine) this.unacked.set(bucket, (mine = new Set()));
    return values.map((value, i) => {
      mine.add(r.offsets[i]);
      return { value, bucket, offset: r.offsets[i], deliveries: r.deliveries[i] ?? 1 };
    });
  }

  /**
   * Acknowledge `records`: the group does not hand them out again, and its committed offset
   * in each bucket (kept in the cluster) moves past every record acknowledged without a gap.
   */
  async ack(records: GroupRecord | GroupRecord[]): Promise<void> {
    const byBucket = offsetsByBucket('ack', records);
    await Promise.all([...byBucket].map(([b, offsets]) => this.ackBucket(b, offsets)));
  }

  /**
   * Give `records` back: they could not be processed. Each is handed out again after
   * `delayMs` (to this reader or another of the group); one already handed out
   * `maxDeliveries` times goes to the queue's dead letters (`<name>.dead`) instead.
   *
   * @example
   * ```ts
   * for (const rec of await g.get({ limit: 10 })) {
   *   try { await handle(rec.value); await g.ack(rec); }
   *   catch { await g.nack(rec, { delayMs: 2 ** rec.deliveries * 1000 }); }
   * }
   * ```
   */
  async nack(records: GroupRecord | GroupRecord[], opts: NackOptions = {}): Promise<void> {
    const delayMs = opts.delayMs ?? 0;
    if (!Number.isInteger(delayMs) || delayMs < 0 || delayMs > MAX_NACK_DELAY_MS) throw config(`delayMs must be a whole number from 0 to ${MAX_NACK_DELAY_MS}, got ${String(delayMs)}`);
    const byBucket = offsetsByBucket('nack', records);
    await Promise.all([...byBucket].map(async ([bucket, offsets]) => {
      for (let i = 0; i < offsets.length; i += 100_000) {
        const chunk = offsets.slice(i, i + 100_000);
        const r = await this.core.queueGroupNack(this.name, bucket, this.group, chunk, delayMs, this.maxDeliveries);
        if (typeof r === 'object') throw errorFromJs(r);
        const mine = this.unacked.get(bucket);
        for (const o of chunk) mine?.delete(o);
      }
    }));
  }

  /** Acknowledge every record handed to this reader so far. */
  async commit(): Promise<void> {
    await Promise.all([...this.unacked].filter(([, o]) => o.size > 0).map(([b, o]) => this.ackBucket(b, [...o])));
  }

  private async ackBucket(bucket: number, offsets: number[]): Promise<void> {
    for (let i = 0; i < offsets.length; i += 100_000) {
      const chunk = offsets.slice(i, i + 100_000);
      const r = await this.core.queueGroupAck(this.name, bucket, this.group, chunk);
      if (typeof r !== 'number') throw errorFromJs(r);
      const mine = this.unacked.get(bucket);
      for (const o of chunk) mine?.delete(o);
    }
  }

  /** Every record handed to this reader, waiting for more, until `close()`. */
  async *[Symbol.asyncIterator](): AsyncIterator<GroupRecord> {
    while (!this.turns.closed) {
      for (const rec of await this.get({ limit: 100, wait: true, timeoutMs: 1000 })) yield rec;
    }
  }

  /** Stop reading: a `for await` over it ends. Records not acknowledged come back to the group. */
  close(): void {
    this.turns.closed = true;
  }
}

/** The offsets of `records` (as `get` returned them), per bucket. */
function offsetsByBucket(what: string, records: GroupRecord | GroupRecord[]): Map<number, number[]> {
  const list = Array.isArray(records) ? records : [records];
  const byBucket = new Map<number, number[]>();
  for (const r of list) {
    if (typeof r !== 'object' || r === null || !Number.isInteger(r.bucket) || !Number.isInteger(r.offset)) {
      throw config(`${what} takes records returned by get, got ${JSON.stringify(r)}`);
    }
    let o = byBucket.get(r.bucket);
    if (!o) byBucket.set(r.bucket, (o = []));
    o.push(r.offset);
  }
  return byBucket;
}

/** @internal */
export function groupReader(core: NativeSystem, name: string, numBuckets: number, opts: QueueGroupReadOptions): QueueGroupReader {
  if (typeof opts.group !== 'string' || opts.group === '' || Buffer.byteLength(opts.group) > 1024) {
    throw config(`queue ${name}: group must be a string of 1 to 1024 bytes, got ${JSON.stringify(opts.group)}`);
  }
  for (const k of ['rank', 'worldSize'] as const) {
    if (k in opts) throw config(`queue ${name}: a group shares every bucket among its readers: ${k} does not apply (use bucketIds to narrow)`);
  }
  const vis = opts.visibilityTimeoutMs ?? DEFAULT_VISIBILITY_MS;
  if (!Number.isInteger(vis) || vis < 1 || vis > MAX_VISIBILITY_MS) throw config(`visibilityTimeoutMs must be a whole number from 1 to ${MAX_VISIBILITY_MS}, got ${String(vis)}`);
  const max = opts.maxDeliveries ?? 0;
  if (!Number.isInteger(max) || max < 0 || max > 0xffffffff) throw config(`maxDeliveries must be a whole number (0: no limit), got ${String(max)}`);
  if (max > 0 && Buffer.byteLength(`${name}.dead`) > 1024) throw config(`queue ${name}: its dead letters' name (${name}.dead) would be over 1024 bytes: use a shorter queue name with maxDeliveries`);
  const buckets = opts.bucketIds === undefined ? Array.from({ length: numBuckets }, (_, b) => b) : checkBucketIds(opts.bucketIds, numBuckets);
  return new QueueGroupReader(core, name, opts.group, buckets, vis, max);
}
