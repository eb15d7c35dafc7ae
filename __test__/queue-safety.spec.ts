// What a job pipeline meets when nodes start and stop: an acknowledged record is never lost
// for the order things happened in. Each case is a reproduction of a loss seen in a user's
// pipeline, across real processes on loopback.
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pul from '../dist/index.js';
import { Connect } from '../dist/connect.js';
import { line, runNode, startNode, waitFor, type Child } from './helpers';

class Worker {
  members(): Promise<number> { return Promise.resolve(0); }
  queueOwners(_name: string, _n: number): string[] { return []; }
  queueNameOwnedBy(_prefix: string, _n: number, _nodeId: string, _least: number): string { return ''; }
}
const RWorker = pul.remote(Worker, { className: 'fixtures/Worker' });
type Rec = { id: string; i: number };
const records = (n: number): Rec[] => Array.from({ length: n }, (_, i) => ({ id: `k${i % 101}`, i }));
const dirs: string[] = [];
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'pulsing-qs-')); dirs.push(d); return d; };

/** Three nodes (each its own storage directory) that all see each other, and a client. */
async function three(prefix: string): Promise<{ nodes: Child[]; conn: Connect; worker: (n: Child) => Promise<Worker> }> {
  const a = await startNode(['--name', `${prefix}-a`, '--storage', tmp()]);
  const b = await startNode(['--seeds', a.addr, '--name', `${prefix}-b`, '--storage', tmp()]);
  const c = await startNode(['--seeds', a.addr, '--name', `${prefix}-c`, '--storage', tmp()]);
  const nodes = [a, b, c];
  const conn = await Connect.to(nodes.map((n) => n.addr));
  const worker = async (n: Child) => (await conn.resolve(`${prefix}-${'abc'[nodes.indexOf(n)]}`, { cls: RWorker })) as unknown as Worker;
  for (const n of nodes) {
    const w = await worker(n);
    await waitFor(async () => (await w.members()) === 3, 15_000, `${n.nodeId} to see 3`);
  }
  return { nodes, conn, worker };
}

async function readAll(conn: Connect, name: string, numBuckets: number): Promise<number[]> {
  const r = await conn.queue.read(name, { rank: 0, worldSize: 1, numBuckets });
  const out: number[] = [];
  for (let got = await r.get({ limit: 1000 }); got.length > 0; got = await r.get({ limit: 1000 })) out.push(...(got as Rec[]).map((x) => x.i));
  return out.sort((x, y) => x - y);
}

describe('queues keep what they acknowledged', () => {
  afterAll(async () => {
    await pul.shutdown();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  for (const early of ['a plain reader', 'a group reader'] as const) {
    it(`replicas: 2 holds when ${early} touched the queue first: SIGKILL of the busiest owner loses nothing`, async () => {
      const prefix = early === 'a plain reader' ? 'r1' : 'r2';
      const { nodes, conn, worker } = await three(prefix);
      try {
        const name = `jobs-${early === 'a plain reader' ? 'plain' : 'group'}`;
        // The reader comes first and finds nothing.
        if (early === 'a plain reader') {
          const r = await conn.queue.read(name, { rank: 0, worldSize: 1, numBuckets: 4 });
          expect(await r.get({ limit: 10 })).toEqual([]);
        } else {
          const g = await conn.queue.read(name, { group: 'workers', numBuckets: 4 });
          expect(await g.get({ limit: 10 })).toEqual([]);
        }
        const w = await conn.queue.write(name, { numBuckets: 4, batchSize: 50, replicas: 2 });
        await w.put(records(1000));
        await w.flush(); // acknowledged: on each bucket's owner and its replica
        const owners = await (await worker(nodes[0])).queueOwners(name, 4);
        const busiest = nodes.reduce((x, y) => (owners.filter((o) => o === y.nodeId).length > owners.filter((o) => o === x.nodeId).length ? y : x));
        busiest.proc.child.kill('SIGKILL');
        await busiest.proc.done;
        const alive = nodes.filter((n) => n !== busiest);
        const rest = await Connect.to(alive.map((n) => n.addr));
        for (const n of alive) {
          const w2 = (await rest.resolve(`${prefix}-${'abc'[nodes.indexOf(n)]}`, { cls: RWorker })) as unknown as Worker;
          await waitFor(async () => (await w2.members()) === 2, 15_000, 'the survivors to drop the dead owner');
        }
        try {
          expect(await readAll(rest, name, 4)).toEqual(records(1000).map((r) => r.i));
        } finally {
          await rest.close();
        }
      } finally {
        await conn.close();
        for (const n of nodes) if (n.proc.child.exitCode === null) n.proc.child.kill('SIGKILL');
      }
    }, 90_000);
  }

  for (const leave of ['shutdown', 'sigterm'] as const) {
    it(`a node that leaves (${leave === 'shutdown' ? 'shutdown()' : 'SIGTERM'}) hands its buckets over first: every acknowledged record stays`, async () => {
      const prefix = leave === 'shutdown' ? 'l1' : 'l2';
      const { nodes, conn, worker } = await three(prefix);
      try {
        const producer = runNode(['__test__/fixtures/producer.mjs', nodes[0].addr], { stdin: true });
        const me = await line<string>(producer, 'nodeId');
        const wa = await worker(nodes[0]);
        await waitFor(async () => (await wa.members()) === 4, 15_000, 'the producer joined');
        // The producer owns buckets of the queue, or leaving would hand nothing over.
        const name = await wa.queueNameOwnedBy(`leave-${leave}`, 8, me, 2);
        producer.child.stdin!.write(`${JSON.stringify({ queue: name, count: 1000, numBuckets: 8, leave })}\n`);
        expect(await line<number>(producer, 'flushed')).toBe(1000);
        if (leave === 'sigterm') producer.child.kill('SIGTERM');
        const done = await producer.done;
        expect({ code: done.code, signal: done.signal }, `stdout:\n${done.stdout}\nstderr:\n${done.stderr}`).toEqual({ code: 0, signal: null });
        expect(producer.stdout()).toContain('{"down":true}');
        await waitFor(async () => (await wa.members()) === 3, 15_000, 'the producer gone');
        expect(await readAll(conn, name, 8)).toEqual(records(1000).map((r) => r.i));
      } finally {
        await conn.close();
        for (const n of nodes) n.proc.child.kill('SIGKILL');
      }
    }, 90_000);
  }

  it('a hand-over that cannot finish within shutdownTimeoutMs is cut short, and says so', async () => {
    const { nodes, conn, worker } = await three('l3');
    try {
      const producer = runNode(['__test__/fixtures/producer.mjs', nodes[0].addr, '500'], { stdin: true });
      const me = await line<string>(producer, 'nodeId');
      const wa = await worker(nodes[0]);
      await waitFor(async () => (await wa.members()) === 4, 15_000, 'the producer joined');
      const name = await wa.queueNameOwnedBy('cut-short', 8, me, 2);
      producer.child.stdin!.write(`${JSON.stringify({ queue: name, count: 200, numBuckets: 8, leave: 'sigterm' })}\n`);
      expect(await line<number>(producer, 'flushed')).toBe(200);
      // Nobody can take the buckets now: every other node is frozen.
      for (const n of nodes) n.proc.child.kill('SIGSTOP');
      producer.child.kill('SIGTERM');
      const done = await producer.done;
      expect(done.code).toBe(0);
      expect(done.stderr).toMatch(/WARN .*shutdown cut short after 500 ms \(shutdownTimeoutMs\): \d+ queue buckets and \d+ replicas may not have been handed over/);
    } finally {
      for (const n of nodes) n.proc.child.kill('SIGKILL');
      await conn.close().catch(() => {});
    }
  }, 90_000);

  it('nodes started in one working directory keep their disk buckets apart; one directory takes one node', async () => {
    const cwd = tmp();
    const a = await startNode(['--name', 'dir-a', '--default-storage'], 15_000, 'node.mjs', { cwd });
    const b = await startNode(['--seeds', a.addr, '--name', 'dir-b', '--default-storage'], 15_000, 'node.mjs', { cwd });
    const conn = await Connect.to([a.addr, b.addr]);
    try {
      const wa = (await conn.resolve('dir-a', { cls: RWorker })) as unknown as Worker;
      await waitFor(async () => (await wa.members()) === 2, 15_000, '2 members');
      const w = await conn.queue.write('shared-cwd', { numBuckets: 4, batchSize: 20, backend: 'disk', replicas: 2 });
      await w.put(records(200));
      // Acknowledged in time (it hung for over 30 s when both used one directory).
      await Promise.race([w.flush(), new Promise((_, reject) => setTimeout(() => reject(new Error('flush hung')), 15_000))]);
      expect(await readAll(conn, 'shared-cwd', 4)).toEqual(records(200).map((r) => r.i)); // each once
    } finally {
      await conn.close();
    }
    // One directory, two nodes: the second is refused at init, told which directory and who holds it.
    const dir = tmp();
    const first = await startNode(['--storage', dir]);
    const second = runNode(['__test__/fixtures/node.mjs', '--storage', dir]);
    const { code, stderr } = await second.done;
    expect(code).not.toBe(0);
    expect(stderr).toContain(`queue directory ${dir}`);
    expect(stderr).toContain(`node ${first.nodeId}`);
    expect(stderr).toMatch(/Config/);
    for (const n of [a, b, first]) n.proc.child.kill('SIGKILL');
  }, 90_000);

  it('a seed that never answers is reported, saying why; a seed written as a URL is a Config error', async () => {
    const refused = await startNode(['--seeds', '127.0.0.1:1', '--name', 'lonely']);
    await waitFor(() => /seed 127\.0\.0\.1:1 .*(refused)/.test(refused.proc.stderr()), 15_000, 'the warning about the seed');
    expect(refused.proc.stderr()).toMatch(/WARN/);
    // Something that is not a node: an HTTP server.
    const http = await import('node:http');
    const server = http.createServer((_, res) => res.end('hello')).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const addr = `127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const confused = await startNode(['--seeds', addr, '--name', 'confused']);
      await waitFor(() => new RegExp(`seed ${addr.replace(/\./g, '\\.')} .*not a Pulsing node`).test(confused.proc.stderr()), 15_000, 'the warning about the seed');
    } finally {
      server.close();
    }
    await expect(pul.actorSystem({ addr: '127.0.0.1:0', seeds: ['http://127.0.0.1:9000'] })).rejects.toMatchObject({ kind: 'Config', message: expect.stringContaining('http://127.0.0.1:9000') });
  }, 60_000);
});
