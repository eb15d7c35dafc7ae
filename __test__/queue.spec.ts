import { describe, it, expect, afterAll } from 'vitest';
import * as pul from '../dist/index.js';
import { bucketOf, fnv1a32 } from '../dist/queue.js';
import { Connect } from '../dist/connect.js';
import { owns, queueNameWhere, startNode, stillPendingAfter, waitFor } from './helpers';

type Rec = { id: string; from: string; i: number };

class Worker {
  queueWrite(_name: string, _records: Rec[], _opts: object): number { return 0; }
  queueReadAll(_name: string, _opts: object): { buckets: number[]; records: Rec[] } { throw new Error('remote only'); }
  members(): Promise<number> { return Promise.resolve(0); }
}
const RWorker = pul.remote(Worker, { className: 'fixtures/Worker' });

describe('queues', () => {
  afterAll(() => pul.shutdown());

  it('hash buckets the same way as the core (FNV-1a 32)', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
    expect(fnv1a32('é-ü')).toBe(0x73909e7b); // UTF-8 bytes, as the core hashes them
    expect(bucketOf('u1', 4)).toBe(fnv1a32('u1') % 4);
    expect(bucketOf(42, 4)).toBe(fnv1a32('42') % 4);
  });

  it('writers on two nodes and readers by rank on three see every record once, in order per bucket', async () => {
    const a = await startNode(['--name', 'qa']);
    const b = await startNode(['--seeds', a.addr, '--name', 'qb']);
    const sys = await pul.init({ addr: '127.0.0.1:0', seeds: [a.addr], membership: { probeIntervalMs: 100, probeTimeoutMs: 60, suspicionTimeoutMs: 500, syncIntervalMs: 100 } });
    const qa = await RWorker.resolve('qa', { timeoutMs: 10_000 });
    const qb = await RWorker.resolve('qb', { timeoutMs: 10_000 });
    await waitFor(async () => (await sys.members()).length === 3, 10_000, '3 members');
    const opts = { bucketColumn: 'id', numBuckets: 6, batchSize: 16 };
    const mine: Rec[] = Array.from({ length: 300 }, (_, i) => ({ id: `k${i % 23}`, from: 'here', i }));
    const theirs: Rec[] = Array.from({ length: 300 }, (_, i) => ({ id: `k${i % 19}`, from: 'qa', i }));
    // Owners are computed from each node's view of the members: let every view settle.
    await waitFor(async () => (await qa.members()) === 3 && (await qb.members()) === 3, 10_000, 'every node to see 3');
    const w = await pul.queue.write('jobs', opts);
    await w.put(mine);
    await w.flush();
    expect(await qa.queueWrite('jobs', theirs, opts)).toBe(300);

    const here = await pul.queue.read('jobs', { rank: 0, worldSize: 3, numBuckets: 6 });
    const readHere: Rec[] = [];
    for (let got = await here.get({ limit: 50 }); got.length > 0; got = await here.get({ limit: 50 })) readHere.push(...(got as Rec[]));
    const r1 = await qa.queueReadAll('jobs', { rank: 1, worldSize: 3, numBuckets: 6 });
    const r2 = await qb.queueReadAll('jobs', { rank: 2, worldSize: 3, numBuckets: 6 });
    expect(here.bucketIds).toEqual([0, 3]);
    expect(r1.buckets).toEqual([1, 4]);
    expect(r2.buckets).toEqual([2, 5]);

    // A Connect client writes and reads through a gateway, which places the buckets for it.
    const conn = await Connect.to(b.addr);
    const cw = await conn.queue.write('jobs', opts);
    await cw.put([{ id: 'k1', from: 'client', i: 0 }, { id: 'k2', from: 'client', i: 1 }]);
    await cw.flush();
    const viaClient: Rec[] = [];
    for (const rank of [0, 1, 2]) {
      const cr = await conn.queue.read('jobs', { rank, worldSize: 3, numBuckets: 6 });
      for (let got = await cr.get({ limit: 1000 }); got.length > 0; got = await cr.get({ limit: 1000 })) viaClient.push(...(got as Rec[]));
    }
    await conn.close();
    expect(viaClient).toHaveLength(602);
    expect(viaClient.filter((r) => r.from === 'client').map((r) => r.i).sort()).toEqual([0, 1]);

    const all = [...readHere, ...r1.records, ...r2.records];
    expect(all).toHaveLength(600);
    const key = (r: Rec) => `${r.from}:${r.i}`;
    expect(new Set(all.map(key)).size).toBe(600); // exactly once
    for (const [rank, recs] of [[0, readHere], [1, r1.records], [2, r2.records]] as const) {
      for (const r of recs) expect(bucketOf(r.id, 6) % 3).toBe(rank);
      // In order per bucket, for each writer.
      for (const from of ['here', 'qa']) {
        for (let bk = 0; bk < 6; bk++) {
          const is = recs.filter((r) => r.from === from && bucketOf(r.id, 6) === bk).map((r) => r.i);
          expect(is).toEqual([...is].sort((x, y) => x - y));
        }
      }
    }
  }, 60_000);

  it('a batch the owner never stored is reported by flush (or the next put), not lost silently', async () => {
    const fast = { probeIntervalMs: 1000, probeTimeoutMs: 500, suspicionTimeoutMs: 60_000, syncIntervalMs: 100 };
    const a = await pul.actorSystem({ addr: '127.0.0.1:0', membership: fast, defaultTimeoutMs: 300 });
    const b = await pul.actorSystem({ addr: '127.0.0.1:0', seeds: [a.addr!], membership: fast });
    try {
      await waitFor(async () => (await a.members()).length === 2, 10_000, '2 members');
      const name = queueNameWhere(a, 'lossy', 8, (o) => owns(o, b.nodeId) > 0);
      const theirs = Array.from({ length: 8 }, (_, i) => i).find((bk) => a.queue.owner(name, bk) === b.nodeId)!;
      const key = Array.from({ length: 1000 }, (_, i) => `k${i}`).find((k) => bucketOf(k, 8) === theirs)!;
      const w = await a.queue.write(name, { numBuckets: 8, batchSize: 1 });
      a.faults.partition([b.nodeId]); // b never hears of the batch; a's view keeps b alive
      await w.put({ id: key });
      await expect(w.flush()).rejects.toBeInstanceOf(pul.PulsingTimeoutError);
      a.faults.heal();
      await w.put({ id: key });
      await w.flush(); // the failure was reported once; the writer goes on
    } finally {
      await a.shutdown();
      await b.shutdown();
    }
  });

  it('a writer keeps at most 64 batches on the way: the put that would send more waits until the owner stores one', async () => {
    const steady = { probeIntervalMs: 1000, probeTimeoutMs: 500, suspicionTimeoutMs: 60_000, syncIntervalMs: 100 };
    const a = await pul.actorSystem({ addr: '127.0.0.1:0', membership: steady });
    const b = await pul.actorSystem({ addr: '127.0.0.1:0', seeds: [a.addr!], membership: steady });
    try {
      await waitFor(async () => (await a.members()).length === 2, 10_000, '2 members');
      const name = queueNameWhere(a, 'bp', 1, (o) => o[0] === b.nodeId);
      const w = await a.queue.write(name, { numBuckets: 1, batchSize: 1 });
      a.faults.delay(b.nodeId, 3000); // every put reaches the owner 3 s late
      // 63 batches go out without waiting for the owner (which has stored none of them)...
      for (let i = 0; i < 63; i++) await w.put({ id: 'k', i });
      const atOwner = await b.queue.read(name, { bucketIds: [0], numBuckets: 1 });
      expect(await atOwner.get({ limit: 1000 })).toEqual([]);
      // ...the 64th is sent too, and its put waits: 64 on the way, none stored.
      const sixtyFourth = w.put({ id: 'k', i: 63 });
      expect(await stillPendingAfter(sixtyFourth, 300)).toBe(true);
      a.faults.heal();
      await sixtyFourth; // once the owner stored the first
      await w.put({ id: 'k', i: 64 });
      await w.flush();
      const r = await a.queue.read(name, { bucketIds: [0], numBuckets: 1 });
      const got = (await r.get({ limit: 1000 })) as { i: number }[];
      expect(got.map((x) => x.i)).toEqual(Array.from({ length: 65 }, (_, i) => i)); // all, in order
    } finally {
      await a.shutdown();
      await b.shutdown();
    }
  });

  it("a queue's first writer fixes its settings: later writers and readers take them, and one that asks otherwise is refused by name", async () => {
    const a = await pul.actorSystem({ addr: '127.0.0.1:0', defaultTimeoutMs: 1500 });
    const b = await pul.actorSystem({ addr: '127.0.0.1:0', seeds: [a.addr!] });
    const solo = await pul.actorSystem();
    try {
      await waitFor(async () => (await a.members()).length === 2, 10_000, '2 members');
      // A reader first: it fixes nothing (it reads the defaults' 4 buckets, finds nothing).
      expect((await a.queue.read('settled', { rank: 0, worldSize: 1 })).bucketIds).toEqual([0, 1, 2, 3]);
      const first = await a.queue.write('settled', { numBuckets: 8, replicas: 2, batchSize: 1 });
      await first.put({ id: 'x', n: 1 });
      // Unset options take the queue's: this writer buckets over 8, and a reader reads 8.
      const second = await b.queue.write('settled', { batchSize: 1 });
      await second.put({ id: 'y', n: 2 });
      await second.flush();
      expect((await b.queue.read('settled', { rank: 0, worldSize: 1 })).bucketIds).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      // Asking otherwise: refused, saying what the queue is and what was asked.
      await expect(b.queue.write('settled', { replicas: 1 })).rejects.toMatchObject({ kind: 'Config', message: expect.stringMatching(/kept with backend 'memory', replicas 2, numBuckets 8.*asks for replicas 1/) });
      await expect(a.queue.write('settled', { backend: 'disk', numBuckets: 4 })).rejects.toMatchObject({ kind: 'Config', message: expect.stringContaining("asks for backend 'disk', numBuckets 4") });
      await expect(b.queue.read('settled', { numBuckets: 3 })).rejects.toMatchObject({ kind: 'Config', message: expect.stringContaining('numBuckets 3') });
      // replicas: 2 needs a second node: alone, a put is refused after the writer's timeout,
      // with nothing stored; a standalone system refuses it at once.
      await b.shutdown();
      await waitFor(async () => (await a.members()).length === 1, 10_000, 'b gone');
      const lonely = await a.queue.write('lonely', { replicas: 2, batchSize: 1 });
      await lonely.put({ id: 'z' }); // sent without waiting; flush reports it
      await expect(lonely.flush()).rejects.toMatchObject({ kind: 'NodeNotFound', message: expect.stringContaining('the only live member: nothing was stored') });
      expect(await (await a.queue.read('lonely', { rank: 0, worldSize: 1 })).get({ limit: 10 })).toEqual([]);
      await expect(solo.queue.write('alone', { replicas: 2 })).rejects.toMatchObject({ kind: 'Config', message: expect.stringContaining('replicas 2 needs a cluster') });
    } finally {
      for (const s of [a, b, solo]) await s.shutdown();
    }
  });

  it('a consumer group as a job queue: nack with a delay, delivery counts, dead letters, delayed puts', async () => {
    const a = await pul.actorSystem({ addr: '127.0.0.1:0' });
    const b = await pul.actorSystem({ addr: '127.0.0.1:0', seeds: [a.addr!] });
    try {
      await waitFor(async () => (await a.members()).length === 2 && (await b.members()).length === 2, 10_000, '2 members');
      const w = await a.queue.write('emails', { numBuckets: 1, batchSize: 1 });
      const g = await b.queue.read('emails', { group: 'senders', maxDeliveries: 3 });
      const next = async () => {
        for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
          const got = await g.get({ limit: 10, wait: true, timeoutMs: 200 });
          if (got.length > 0) return got;
        }
        throw new Error('no record within 10 s');
      };
      await w.put({ id: 'x', to: 'ann' });
      await w.flush();
      const first = await next();
      expect(first).toMatchObject([{ value: { to: 'ann' }, deliveries: 1 }]);
      // It failed: back in 300 ms, counted.
      const t0 = Date.now();
      await g.nack(first, { delayMs: 300 });
      expect(await g.get({ limit: 10 })).toEqual([]);
      const second = await next();
      expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
      expect(second).toMatchObject([{ value: { to: 'ann' }, deliveries: 2 }]);
      await g.nack(second);
      const third = await next();
      expect(third).toMatchObject([{ deliveries: 3 }]);
      // The third failure: to the dead letters, a queue like any other, and never again here.
      await g.nack(third);
      const dead = await a.queue.read('emails.dead', { rank: 0, worldSize: 1 });
      expect(await dead.get({ limit: 10, wait: true, timeoutMs: 10_000 })).toEqual([{ id: 'x', to: 'ann' }]);
      // Delayed first delivery: the group gets it only then; a plain reader at once.
      const t1 = Date.now();
      await w.put({ id: 'x', to: 'bob' }, { delayMs: 400 });
      await w.flush();
      const plain = await a.queue.read('emails', { rank: 0, worldSize: 1 });
      expect((await plain.get({ limit: 10 })).map((r) => (r as { to: string }).to)).toEqual(['ann', 'bob']);
      expect(await g.get({ limit: 10 })).toEqual([]);
      const later = await next();
      expect(Date.now() - t1).toBeGreaterThanOrEqual(390);
      expect(later).toMatchObject([{ value: { to: 'bob' }, deliveries: 1 }]);
      await g.ack(later);
      await expect(g.nack(later, { delayMs: -1 })).rejects.toMatchObject({ kind: 'Config', message: expect.stringContaining('delayMs') });
      await expect(w.put({ id: 'y' }, { delayMs: Number.NaN })).rejects.toMatchObject({ kind: 'Config' });
      await expect(b.queue.read('emails', { group: 'g', maxDeliveries: -1 })).rejects.toMatchObject({ kind: 'Config', message: expect.stringContaining('maxDeliveries') });
    } finally {
      await a.shutdown();
      await b.shutdown();
    }
  });

  it('retention: trimAcked frees what every group acknowledged, retainMs expires old records; a plain reader reads on from the first kept', async () => {
    const a = await pul.actorSystem({ addr: '127.0.0.1:0' });
    const b = await pul.actorSystem({ addr: '127.0.0.1:0', seeds: [a.addr!] });
    try {
      await waitFor(async () => (await a.members()).length === 2 && (await b.members()).length === 2, 10_000, '2 members');
      const owned = async (queue: string) => {
        const all = [...(await a.metrics()).queues, ...(await b.metrics()).queues];
        return all.find((q) => q.queue === queue && q.role === 'owner');
      };
      const pad = 'x'.repeat(1000);
      const w = await a.queue.write('trimmed', { numBuckets: 1, batchSize: 10, trimAcked: true });
      for (let i = 0; i < 20; i++) await w.put({ id: 'k', i, pad });
      await w.flush();
      const full = (await owned('trimmed'))!;
      expect(full).toMatchObject({ records: 20, first: 0 });
      const g = await b.queue.read('trimmed', { group: 'g' });
      const got = await g.get({ limit: 10 });
      expect(got.map((r) => (r.value as { i: number }).i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      await g.ack(got);
      // The owner trims once a second: what the only group acknowledged goes, its bytes with it.
      await waitFor(async () => (await owned('trimmed'))?.first === 10, 10_000, 'bucket trimmed to offset 10');
      const trimmed = (await owned('trimmed'))!;
      expect(trimmed.records).toBe(10);
      expect(trimmed.bytes).toBeLessThan(full.bytes * 0.6);
      const plain = await a.queue.read('trimmed', { rank: 0, worldSize: 1 });
      expect((await plain.get({ limit: 100 })).map((r) => (r as { i: number }).i)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
      const listed = (await (await fetch(`http://${a.addr}/queues`)).json()) as { queues: { name: string; buckets: { first: number; records: number }[] }[] };
      expect(listed.queues.find((q) => q.name === 'trimmed')?.buckets[0]).toMatchObject({ first: 10, records: 10 });
      // Each node's /metrics has what it keeps: the owner's says where the bucket starts.
      const texts = await Promise.all([a.addr, b.addr].map(async (addr) => (await fetch(`http://${addr}/metrics`)).text()));
      expect(texts.join('\n')).toMatch(/pulsing_queue_first_offset\{[^}]*queue="trimmed"[^}]*\} 10/);
      // Retention is one of the queue's settings.
      await expect(b.queue.write('trimmed', { trimAcked: false })).rejects.toMatchObject({ kind: 'Config', message: expect.stringContaining('trimAcked false') });
      await expect(b.queue.write('t2', { retainMs: -5 })).rejects.toMatchObject({ kind: 'Config', message: expect.stringContaining('retainMs') });

      // retainMs: records go once older, acknowledged or not.
      const e = await b.queue.write('expiring', { numBuckets: 1, batchSize: 5, retainMs: 500 });
      const slow = await a.queue.read('expiring', { group: 'slow' });
      for (let i = 0; i < 5; i++) await e.put({ id: 'k', i });
      await e.flush();
      const early = await a.queue.read('expiring', { rank: 0, worldSize: 1 });
      expect(await early.get({ limit: 100 })).toHaveLength(5);
      expect(await slow.get({ limit: 2 })).toHaveLength(2); // never acknowledged
      await waitFor(async () => (await owned('expiring'))?.first === 5, 10_000, 'records older than 500 ms trimmed');
      expect(await (await a.queue.read('expiring', { rank: 0, worldSize: 1 })).get({ limit: 100 })).toEqual([]);
      await e.put({ id: 'k', i: 5 });
      await e.flush();
      const after = await slow.get({ limit: 10, wait: true, timeoutMs: 5000 });
      expect(after.map((r) => [r.offset, (r.value as { i: number }).i])).toEqual([[5, 5]]);
    } finally {
      await a.shutdown();
      await b.shutdown();
    }
  });

  it('waits for records, iterates until close, and refuses bad input by name', async () => {
    const sys = await pul.actorSystem();
    try {
      const r = await sys.queue.read('later', { bucketIds: [0, 1], numBuckets: 2 });
      const waited = r.get({ wait: true, timeoutMs: 5000 });
      const w = await sys.queue.write('later', { numBuckets: 2, batchSize: 1 });
      await w.put({ id: 'x', n: 1 });
      expect(await waited).toEqual([{ id: 'x', n: 1 }]);
      const seen: unknown[] = [];
      const loop = (async () => { for await (const rec of r) { seen.push(rec); if (seen.length === 2) r.close(); } })();
      await w.put([{ id: 'y', n: 2 }, { id: 'z', n: 3 }]);
      await loop;
      expect(seen).toHaveLength(2);
      expect(await r.get().catch((e) => e.kind)).toBe('Stopped');
      expect(await r.get({ wait: true, timeoutMs: 1 }).catch((e) => e.kind)).toBe('Stopped');
      await expect(w.put({ nope: 1 })).rejects.toMatchObject({ kind: 'Config', message: expect.stringContaining('"id"') });
      await expect(sys.queue.write('q', { backend: 'tape' as 'disk' })).rejects.toBeInstanceOf(pul.PulsingUnsupportedError);
      await expect(sys.queue.write('q', { storagePath: '/tmp' } as object)).rejects.toMatchObject({ kind: 'Config', message: expect.stringContaining('init({ storagePath })') });
      await expect(sys.queue.read('q', { rank: 3, worldSize: 2 })).rejects.toMatchObject({ kind: 'Config', message: expect.stringContaining('rank') });
      await expect(sys.queue.write('', {})).rejects.toMatchObject({ kind: 'Config' });
      await expect(sys.queue.read('q', { bucketIds: [9], numBuckets: 4 })).rejects.toMatchObject({ kind: 'Config' });
    } finally {
      await sys.shutdown();
    }
  });
});
