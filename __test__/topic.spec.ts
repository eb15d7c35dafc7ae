import { describe, it, expect, afterAll } from 'vitest';
import * as pul from '../dist/index.js';
import { Connect } from '../dist/connect.js';
import { startNode, waitFor } from './helpers';

class Worker {
  subscribe(_topic: string, _slowMs?: number): boolean { return true; }
  topicWith(_topic: string, _field: string): number { return 0; }
  topicNumbers(_topic: string): number { return 0; }
}
const RWorker = pul.remote(Worker, { className: 'fixtures/Worker' });

describe('topics', () => {
  afterAll(() => pul.shutdown());

  it('publish reaches subscribers on three nodes; the four modes count right, with a subscriber killed; a slow one slows nobody', async () => {
    const a = await startNode(['--name', 'ta']);
    const b = await startNode(['--seeds', a.addr, '--name', 'tb']);
    const sys = await pul.init({ addr: '127.0.0.1:0', seeds: [a.addr], membership: { probeIntervalMs: 100, probeTimeoutMs: 60, suspicionTimeoutMs: 500, syncIntervalMs: 100 } });
    const ta = await RWorker.resolve('ta', { timeoutMs: 10_000 });
    const tb = await RWorker.resolve('tb', { timeoutMs: 10_000 });
    await ta.subscribe('ev');
    await tb.subscribe('ev');
    const here: unknown[] = [];
    const tr = await pul.topic.read('ev');
    tr.onMessage((m) => { here.push(m); });
    await tr.start();
    const tw = await pul.topic.write('ev');
    // The subscribers are known cluster-wide once every node announced the topic.
    await waitFor(async () => (await tw.publish('hello', { mode: 'wait-all-acks' })).delivered === 3, 10_000, '3 subscribers');

    expect(await tw.publish({ n: 1 }, { mode: 'wait-all-acks' })).toEqual({ delivered: 3, failed: 0 });
    expect(await tw.publish({ n: 2 }, { mode: 'best-effort' })).toEqual({ delivered: 3, failed: 0 });
    // The subscriber here has it at once: nobody else is waited for.
    expect(await tw.publish({ n: 3 }, { mode: 'wait-any-ack' })).toEqual({ delivered: 1, failed: 0 });
    expect((await tw.publish({ n: 4 })).failed).toBe(0); // fire-and-forget
    await waitFor(async () => (await ta.topicWith('ev', 'n')) === 4 && (await tb.topicWith('ev', 'n')) === 4, 5000, 'all four everywhere');
    expect(here.slice(-4)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);

    // A slow subscriber (200 ms a message) on b, a quick one on a: 2000 messages.
    await tb.subscribe('burst', 200);
    await ta.subscribe('burst', 0);
    const bw = await pul.topic.write('burst');
    await waitFor(async () => (await bw.publish(-1, { mode: 'wait-all-acks' })).delivered === 2, 10_000, '2 burst subscribers');
    let failed = 0;
    for (let i = 0; i < 2000; i++) failed += (await bw.publish(i, { mode: 'wait-all-acks' })).failed;
    // The slow one lost what did not fit: had the publisher waited for it (2000 × 200 ms),
    // nothing would have been lost.
    expect(failed).toBeGreaterThan(0);
    await waitFor(async () => (await ta.topicNumbers('burst')) === 2000, 10_000, 'the quick subscriber to get every message');

    // A subscriber node that stops answering (SIGSTOP: its connections stay open, it is
    // still registered): each waiting mode counts it one failure and none hangs; the other
    // subscribers get every message.
    b.proc.child.kill('SIGSTOP');
    const [all, best, anyAck, fire] = await Promise.all([
      tw.publish({ after: 'all' }, { mode: 'wait-all-acks' }),
      tw.publish({ after: 'best' }, { mode: 'best-effort' }),
      tw.publish({ after: 'any' }, { mode: 'wait-any-ack' }),
      tw.publish({ after: 'fire' }),
    ]);
    expect(all).toEqual({ delivered: 2, failed: 1 });
    expect(best).toEqual({ delivered: 2, failed: 1 });
    expect(anyAck).toEqual({ delivered: 1, failed: 0 }); // the subscriber here had it at once
    expect(fire.failed).toBe(0); // sent: nobody answers a tell
    await waitFor(async () => (await ta.topicWith('ev', 'after')) === 4, 10_000, 'a to get all four');
    expect(here.slice(-4)).toEqual([{ after: 'all' }, { after: 'best' }, { after: 'any' }, { after: 'fire' }]);
    // Then dead (kill -9): once dropped from the cluster, nobody waits for it or counts it.
    b.proc.child.kill('SIGKILL');
    await b.proc.done;
    await waitFor(async () => !(await sys.members()).some((m) => m.nodeId === b.nodeId), 10_000, 'b dropped');
    expect(await tw.publish({ after: 'gone' }, { mode: 'wait-all-acks' })).toEqual({ delivered: 2, failed: 0 });
    await tr.stop();
    await tr.stop(); // idempotent
  }, 90_000);

  it('for await reads until break, and bad input is refused by name', async () => {
    const sys = await pul.actorSystem();
    try {
      const tr = await sys.topic.read('local');
      const tw = await sys.topic.write('local');
      const got: unknown[] = [];
      const reading = (async () => { for await (const m of tr) { got.push(m); if (got.length === 2) break; } })();
      await waitFor(async () => (await tw.publish('x', { mode: 'wait-all-acks' })).delivered === 1, 5000, 'the iterator to subscribe');
      await tw.publish('y', { mode: 'wait-all-acks' });
      await reading;
      expect(got).toEqual(['x', 'y']);
      expect(await tw.publish('z', { mode: 'wait-all-acks' })).toEqual({ delivered: 0, failed: 0 }); // break unsubscribed
      await expect(tw.publish('w', { mode: 'sometimes' as never })).rejects.toMatchObject({ kind: 'Config', message: expect.stringContaining('mode') });
      await expect(sys.topic.write('')).rejects.toMatchObject({ kind: 'Config' });
    } finally {
      await sys.shutdown();
    }
  });

  it('through Connect: a client publishes to members and subscribes through its gateway', async () => {
    const sys = pul.getSystem();
    const c = await startNode(['--seeds', sys.addr!, '--name', 'tc']);
    const tc = await RWorker.resolve('tc', { timeoutMs: 10_000 });
    await tc.subscribe('cv');
    const conn = await Connect.to(sys.addr!);
    try {
      // The client's publisher: its gateway fans out for it.
      const ctw = await conn.topic.write('cv');
      await waitFor(async () => (await ctw.publish('probe', { mode: 'wait-all-acks' })).delivered === 1, 10_000, 'the member subscriber');
      for (let i = 0; i < 10; i++) expect(await ctw.publish({ c: i }, { mode: 'wait-all-acks' })).toEqual({ delivered: 1, failed: 0 });
      await waitFor(async () => (await tc.topicWith('cv', 'c')) === 10, 5000, 'the ten on the member');

      // The client's subscriber: its gateway subscribes for it and streams to it; break
      // cancels the stream, which unsubscribes on the gateway.
      const cr = await conn.topic.read('cv2');
      const got: unknown[] = [];
      const reading = (async () => { for await (const m of cr) { got.push(m); if (got.length === 3) break; } })();
      const tw = await pul.topic.write('cv2');
      await waitFor(async () => (await tw.publish('first', { mode: 'wait-all-acks' })).delivered === 1, 10_000, 'the client subscriber');
      await tw.publish('second', { mode: 'wait-all-acks' });
      await tw.publish('third', { mode: 'wait-all-acks' });
      await reading;
      expect(got).toEqual(['first', 'second', 'third']);
      await waitFor(async () => (await tw.publish('gone', { mode: 'wait-all-acks' })).delivered === 0, 5000, 'the gateway to unsubscribe');
    } finally {
      await conn.close();
      c.proc.child.kill('SIGKILL');
    }
  }, 60_000);
});
