// Queues that outlive their processes: 'disk' (the owner killed -9 and restarted), replicas: 2
// (the owner killed -9 for good), and consumer groups (a reader killed -9 and replaced: the
// group resumes at its committed offsets; what it never acknowledged comes back after the
// visibility timeout). Every node is a real process on loopback.
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pul from '../dist/index.js';
import { line, owns, queueNameWhere, runNode, startNode, waitFor, type Child, type Proc } from './helpers';

type Rec = { id: string; i: number };
type Seen = Rec & { bucket: number; offset: number };

class Worker {
  members(): Promise<number> { return Promise.resolve(0); }
}
const RWorker = pul.remote(Worker, { className: 'fixtures/Worker' });
const fast = { probeIntervalMs: 100, probeTimeoutMs: 60, suspicionTimeoutMs: 500, syncIntervalMs: 100 };
const dirs: string[] = [];
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'pulsing-q-')); dirs.push(d); return d; };
const records = (n: number, from = 0): Rec[] => Array.from({ length: n }, (_, k) => ({ id: `k${(from + k) % 37}`, i: from + k }));

async function readAll(sys: pul.ActorSystem, name: string, numBuckets: number): Promise<Rec[]> {
  const r = await sys.queue.read(name, { rank: 0, worldSize: 1, numBuckets });
  const out: Rec[] = [];
  for (let got = await r.get({ limit: 1000 }); got.length > 0; got = await r.get({ limit: 1000 })) out.push(...(got as Rec[]));
  return out;
}

async function settled(sys: pul.ActorSystem, n: number, names: string[]): Promise<void> {
  await waitFor(async () => (await sys.members()).length === n, 15_000, `${n} members`);
  for (const name of names) {
    const w = await RWorker.resolve(name, { timeoutMs: 10_000 });
    await waitFor(async () => (await w.members()) === n, 15_000, `${name} to see ${n}`);
  }
}

function killed(c: Child): Promise<unknown> {
  c.proc.child.kill('SIGKILL');
  return c.proc.done;
}

describe('durable queues', () => {
  afterAll(async () => {
    await pul.shutdown();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("'disk': every acknowledged record is there after the owner is killed -9 and restarted", async () => {
    const sys = await pul.init({ addr: '127.0.0.1:0', membership: fast, storagePath: tmp() });
    const dir = tmp();
    const d = await startNode(['--seeds', sys.addr!, '--storage', dir, '--name', 'disk1']);
    await settled(sys, 2, ['disk1']);
    // The node killed must own buckets, or the test proves nothing: the name is chosen so.
    const name = queueNameWhere(sys, 'durable', 8, (o) => owns(o, d.nodeId) >= 3);
    const w = await sys.queue.write(name, { numBuckets: 8, batchSize: 25, backend: 'disk' });
    await w.put(records(400));
    await w.flush(); // acknowledged: synced on the owner's disk

    await killed(d);
    await waitFor(async () => (await sys.members()).length === 1, 15_000, 'the owner to be dead');
    // Restarted on the same directory: a new process, a new node id.
    const d2 = await startNode(['--seeds', sys.addr!, '--storage', dir, '--name', 'disk2']);
    expect(d2.nodeId).not.toBe(d.nodeId);
    await settled(sys, 2, ['disk2']);
    const all = await readAll(sys, name, 8);
    expect(all.map((r) => r.i).sort((x, y) => x - y)).toEqual(records(400).map((r) => r.i));
  }, 90_000);

  it('replicas: 2: every acknowledged record is read from the replica after the owner is killed -9', async () => {
    const sys = pul.getSystem();
    const a = await startNode(['--seeds', sys.addr!, '--name', 'rep-a']);
    const b = await startNode(['--seeds', sys.addr!, '--name', 'rep-b']);
    await settled(sys, 4, ['disk2', 'rep-a', 'rep-b']);
    const victim = a;
    const name = queueNameWhere(sys, 'kept', 8, (o) => owns(o, victim.nodeId) >= 3);
    const w = await sys.queue.write(name, { numBuckets: 8, batchSize: 20, replicas: 2 });
    await w.put(records(400));
    await w.flush(); // acknowledged: on the owner and on its replica

    await killed(victim);
    await waitFor(async () => (await sys.members()).length === 3, 15_000, 'the owner to be dead');
    const all = await readAll(sys, name, 8);
    expect(all.map((r) => r.i).sort((x, y) => x - y)).toEqual(records(400).map((r) => r.i));
  }, 90_000);

  it('a consumer group resumes at its committed offsets and hands out again what was never acknowledged', async () => {
    const sys = pul.getSystem();
    const w = await sys.queue.write('work', { numBuckets: 4, batchSize: 50 });
    await w.put(records(200));
    await w.flush();
    // Each reader connects first and reads when told (a line on stdin): a process's start-up
    // is no part of the 4 s the unacknowledged stay invisible.
    const reader = (args: string[]) => runNode(['__test__/fixtures/group-reader.mjs', sys.addr!, 'work', 'workers', '--visibility', '4000', '--on-stdin', ...args], { stdin: true });
    const go = async (p: Proc) => { await line<boolean>(p, 'ready'); p.child.stdin!.write('go\n'); };
    const first = reader(['--take', '50', '--ack', '30']);
    const second = reader(['--back', '20']);
    await line<boolean>(second, 'ready');

    // A reader takes 50, acknowledges 30, and is killed -9.
    await go(first);
    const took = await line<Seen[]>(first, 'got');
    expect(took).toHaveLength(50);
    first.child.kill('SIGKILL');
    await first.done;

    // Its replacement gets every record never handed out (the 20 unacknowledged are still
    // invisible), then those 20 once their visibility timeout passes.
    await go(second);
    const rest = await line<Seen[]>(second, 'got');
    const back = await line<Seen[]>(second, 'back');
    const key = (r: Seen) => `${r.bucket}/${r.offset}`;
    expect(new Set([...took, ...rest].map(key)).size).toBe(200);
    expect(rest).toHaveLength(150);
    expect(back.map(key).sort()).toEqual(took.slice(30).map(key).sort());
    expect(back.map((r) => r.i).sort()).toEqual(took.slice(30).map((r) => r.i).sort());

    // Everything is committed in the cluster: a new member of the group gets nothing; another
    // group reads it all.
    const again = await sys.queue.read('work', { group: 'workers' });
    expect(await again.get({ limit: 1000 })).toEqual([]);
    const other = await sys.queue.read('work', { group: 'auditors' });
    const all = await other.get({ limit: 1000 });
    expect(all).toHaveLength(200);
    await other.commit();
    expect(await other.get({ limit: 1000 })).toEqual([]);

    // Two members of a group read at once: each record goes to one of them.
    const g1 = await sys.queue.read('work', { group: 'pair' });
    const g2 = await sys.queue.read('work', { group: 'pair' });
    const [x, y] = await Promise.all([g1.get({ limit: 120 }), g2.get({ limit: 1000 })]);
    expect(x.length + y.length).toBe(200);
    expect(new Set([...x, ...y].map((r) => `${r.bucket}/${r.offset}`)).size).toBe(200);
    await expect(g1.ack([{ value: null, bucket: 0.5, offset: 1, deliveries: 1 }])).rejects.toMatchObject({ kind: 'Config' });
    await expect(sys.queue.read('work', { group: '' })).rejects.toMatchObject({ kind: 'Config' });
    await expect(sys.queue.write('work', { replicas: 3 as 2 })).rejects.toMatchObject({ kind: 'Config' });
    second.child.kill('SIGKILL');
  }, 90_000);
});
