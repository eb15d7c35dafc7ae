import { describe, it, expect } from 'vitest';
import * as pul from '../dist/index.js';
import { waitFor } from './helpers';

const fast = { probeIntervalMs: 50, probeTimeoutMs: 30, suspicionTimeoutMs: 300, syncIntervalMs: 50 };
class Box { v = 0; n = 0; put(x: number) { this.v = x; this.n++; return x; } get() { return this.v; } puts() { return this.n; } hang() { return new Promise(() => {}); } }
const RBox = pul.remote(Box, { className: 'faults/Box' });

describe('fault injection (public, for users\' tests)', () => {
  it('a partition makes both sides drop each other and fail pending calls; heal converges with every name once', async () => {
    const a = await pul.actorSystem({ addr: '127.0.0.1:0', membership: fast });
    const b = await pul.actorSystem({ addr: '127.0.0.1:0', seeds: [a.addr!], membership: fast });
    try {
      await RBox.spawn({ system: a, name: 'box-a' });
      await RBox.spawn({ system: b, name: 'box-b' });
      const onA = await RBox.resolve('box-b', { system: a, timeoutMs: 5000 });
      await RBox.resolve('box-a', { system: b, timeoutMs: 5000 });
      const pending = onA.$with({ timeoutMs: 30_000 }).hang().catch((e) => e);

      a.faults.partition([b.nodeId]);
      b.faults.partition([a.nodeId]);
      const err = await pending;
      expect(err).toMatchObject({ kind: 'NodeDown' });
      await waitFor(async () => (await a.members()).length === 1 && (await b.members()).length === 1, 5000, 'both sides alone');
      await expect(a.resolve('box-b')).rejects.toMatchObject({ kind: 'ActorNotFound' });

      a.faults.heal();
      b.faults.heal();
      await waitFor(async () => (await a.members()).length === 2 && (await b.members()).length === 2, 10_000, 'converged');
      const p = await RBox.resolve('box-b', { system: a, timeoutMs: 5000 });
      expect(await p.put(7)).toBe(7);
      for (const s of [a, b]) {
        await waitFor(async () => (await s.allNamedActors()).length === 2, 5000, 'both names');
        const names = await s.allNamedActors();
        expect(names.map((n) => [n.name, n.instances.length]).sort()).toEqual([['actors/box-a', 1], ['actors/box-b', 1]]);
      }
    } finally {
      await a.shutdown();
      await b.shutdown();
    }
  });

  it('dropRate drops that share of the frames sent to a node: 1 all, 0 none, 0.5 about half, and a dropped one never arrives', async () => {
    // Slow failure detection: half the probes dropped must not take b for dead here.
    const steady = { probeIntervalMs: 200, probeTimeoutMs: 150, suspicionTimeoutMs: 60_000, syncIntervalMs: 100 };
    const a = await pul.actorSystem({ addr: '127.0.0.1:0', membership: steady });
    const b = await pul.actorSystem({ addr: '127.0.0.1:0', seeds: [a.addr!], membership: steady });
    try {
      await RBox.spawn({ system: b, name: 'lossy-box' });
      const p = await RBox.resolve('lossy-box', { system: a, timeoutMs: 5000 });
      const quick = p.$with({ timeoutMs: 300 });
      a.faults.dropRate(b.nodeId, 1);
      await expect(quick.put(1)).rejects.toBeInstanceOf(pul.PulsingTimeoutError);
      a.faults.dropRate(b.nodeId, 0.5);
      // 400 calls, each its own frame: every answered one was applied, no dropped one was
      // (3 s: time enough for every call that arrived to be answered).
      const patient = p.$with({ timeoutMs: 3000 });
      const results = await Promise.allSettled(Array.from({ length: 400 }, (_, i) => patient.put(i + 100)));
      const ok = results.filter((r) => r.status === 'fulfilled').length;
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(pul.PulsingTimeoutError);
      expect(ok).toBeGreaterThan(120); // binomial(400, 0.5): 200 ± 10; these bounds are 8 sd away
      expect(ok).toBeLessThan(280);
      a.faults.dropRate(b.nodeId, 0);
      expect(await quick.put(7)).toBe(7);
      const onB = await RBox.resolve('lossy-box', { system: b });
      expect(await onB.get()).toBe(7);
      expect(await onB.puts()).toBe(ok + 1); // the dropped ones never reached b
      for (const bad of [-0.1, 1.5, Number.NaN]) expect(() => a.faults.dropRate(b.nodeId, bad)).toThrow(/between 0 and 1/);
    } finally {
      await a.shutdown();
      await b.shutdown();
    }
  });

  it('delay slows calls down; bad arguments and standalone systems get clear errors', async () => {
    const a = await pul.actorSystem({ addr: '127.0.0.1:0', membership: fast });
    const b = await pul.actorSystem({ addr: '127.0.0.1:0', seeds: [a.addr!], membership: fast });
    const solo = await pul.actorSystem();
    try {
      await RBox.spawn({ system: b, name: 'slow-box' });
      const p = await RBox.resolve('slow-box', { system: a, timeoutMs: 5000 });
      a.faults.delay(b.nodeId, 80);
      const t0 = performance.now();
      await p.get();
      expect(performance.now() - t0).toBeGreaterThanOrEqual(75);
      a.faults.heal();
      expect(() => a.faults.dropRate(b.nodeId, 2)).toThrow(/between 0 and 1/);
      expect(() => solo.faults.heal()).toThrow(/needs a cluster node/);
    } finally {
      for (const s of [a, b, solo]) await s.shutdown();
    }
  });
});
