import { describe, it, expect } from 'vitest';
import * as pul from '../dist/index.js';
import { waitFor } from './helpers';

const fast = { probeIntervalMs: 50, probeTimeoutMs: 30, suspicionTimeoutMs: 300, syncIntervalMs: 50 };
class Desk { constructor(readonly who = 'desk') {} hello() { return `hello from ${this.who}`; } }
const RDesk = pul.remote(Desk, { className: 'head/Desk' });

describe('head-node mode', () => {
  it('workers register with the head; names resolve head <-> worker and worker <-> worker', async () => {
    const head = await pul.actorSystem({ addr: '127.0.0.1:0', isHeadNode: true, membership: fast });
    const w1 = await pul.actorSystem({ addr: '127.0.0.1:0', headAddr: head.addr!, membership: fast });
    const w2 = await pul.actorSystem({ addr: '127.0.0.1:0', headAddr: head.addr!, membership: fast });
    try {
      for (const s of [head, w1, w2]) await waitFor(async () => (await s.members()).length === 3, 5000, '3 members');
      await RDesk.spawn({ system: head, name: 'front', args: ['head'] });
      await RDesk.spawn({ system: w1, name: 'back', args: ['w1'] });
      expect(await (await RDesk.resolve('back', { system: head, timeoutMs: 5000 })).hello()).toBe('hello from w1');
      expect(await (await RDesk.resolve('front', { system: w1, timeoutMs: 5000 })).hello()).toBe('hello from head');
      expect(await (await RDesk.resolve('back', { system: w2, timeoutMs: 5000 })).hello()).toBe('hello from w1');

      // A worker that stops reporting is dropped by the head, and then by the other workers.
      w1.faults.partition([head.nodeId]);
      head.faults.partition([w1.nodeId]);
      await waitFor(async () => (await w2.members()).length === 2, 5000, 'w1 dropped');
      await expect(w2.resolve('back')).rejects.toMatchObject({ kind: 'ActorNotFound' });
    } finally {
      for (const s of [head, w1, w2]) await s.shutdown();
    }
  });

  it('isHeadNode and headAddr are exclusive', async () => {
    await expect(pul.actorSystem({ addr: '127.0.0.1:0', isHeadNode: true, headAddr: '127.0.0.1:1' })).rejects.toMatchObject({ kind: 'Config', message: expect.stringContaining('exclusive') });
  });
});
