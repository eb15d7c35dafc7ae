// Names at scale, as users meet it: three node processes hold 100,000 named actors between
// them, and a fourth node that joins learns them all and resolves the last. How fast is
// `npm run bench`'s names_join_ms (target 5 s); the deadlines here only catch a join that
// trickles names through gossip (minutes) instead of taking them in a sync.
import { describe, it, expect, afterAll } from 'vitest';
import * as pul from '../dist/index.js';
import { startNode, waitFor } from './helpers';

const fast = { probeIntervalMs: 100, probeTimeoutMs: 60, suspicionTimeoutMs: 500, syncIntervalMs: 100 };

describe('names at scale', () => {
  afterAll(async () => {
    await pul.shutdown();
  });

  it('a node joining a 3-node cluster with 100,000 names learns them all and resolves the last', async () => {
    const a = await startNode(['--names', '34000', '--prefix', 'a'], 60_000);
    const [b, c] = await Promise.all([
      startNode(['--seeds', a.addr, '--names', '33000', '--prefix', 'b'], 60_000),
      startNode(['--seeds', a.addr, '--names', '33000', '--prefix', 'c'], 60_000),
    ]);
    // Let the three converge on each other's names first (the join is what is measured).
    const probe = await pul.actorSystem({ addr: '127.0.0.1:0', seeds: [c.addr], membership: fast });
    await waitFor(async () => (await probe.allNamedActors()).length === 100_000, 30_000, 'the cluster holds 100k names');
    await probe.shutdown();
    const sys = await pul.init({ addr: '127.0.0.1:0', seeds: [a.addr], membership: fast });
    const last = await pul.resolve('c32999', { timeoutMs: 30_000 });
    expect(last.$ref.actorId.startsWith(c.nodeId)).toBe(true);
    expect(await last.ping()).toBe(32999);
    await waitFor(async () => (await sys.allNamedActors()).length === 100_000, 30_000, 'all 100k names');
    const all = await sys.allNamedActors();
    expect(all.find((n) => n.name === 'actors/a33999')?.instances.map((i) => i.nodeId)).toEqual([a.nodeId]);
    expect(all.find((n) => n.name === 'actors/b0')?.instances.map((i) => i.nodeId)).toEqual([b.nodeId]);
    expect((await sys.members()).map((m) => m.nodeId).sort()).toEqual([a.nodeId, b.nodeId, c.nodeId, sys.nodeId].sort());
  }, 120_000);
});
