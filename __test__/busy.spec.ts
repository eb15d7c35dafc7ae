import { describe, it, expect } from 'vitest';
import { AsyncLocalStorage, createHook } from 'node:async_hooks';
import * as pul from '../dist/index.js';
import { stillPendingAfter } from './helpers';

class Box { v = 0; put(x: number) { this.v = x; return x; } get() { return this.v; } hang() { return new Promise(() => {}); } }
const RBox = pul.remote(Box, { className: 'busy/Box' });

/** Keep this thread busy, as a long synchronous method does. */
function busyFor(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) { /* busy */ }
}

describe('a busy JS thread', () => {
  // Between messages the JS thread reads quiet connections itself (one wake-up per message
  // instead of two). Gossip shares those connections: while JS is busy, the node must still
  // read and answer it, or its peers declare it dead and fail every call to it.
  it('does not stop its node answering gossip: peers keep it and calls to it stay pending', async () => {
    const a = await pul.actorSystem({ addr: '127.0.0.1:0' });
    const b = await pul.actorSystem({ addr: '127.0.0.1:0', seeds: [a.addr!] });
    try {
      await RBox.spawn({ system: b, name: 'box' });
      const p = await RBox.resolve('box', { system: a, timeoutMs: 5000 });
      // Quiet traffic: the connections' reading is lent to this thread.
      for (let i = 0; i < 50; i++) await p.put(i);
      const pending = p.$with({ timeoutMs: 60_000 }).hang().then(() => 'settled', (e: unknown) => e);
      // Both nodes' JS (one thread here) busy for over twice what the default membership
      // needs to declare a silent node dead (a 150 ms probe timeout, then 900 ms suspicion).
      busyFor(2500);
      expect(await p.get()).toBe(49);
      expect(await stillPendingAfter(pending, 50)).toBe(true);
      for (const s of [a, b]) {
        const ms = await s.members();
        expect(ms.map((m) => m.status)).toEqual(['alive', 'alive']);
      }
    } finally {
      await a.shutdown();
      await b.shutdown();
    }
  });

  // What this thread reads of a lent connection reaches JS from the poll's own callback, as a
  // socket's `data` listeners do (not through the threadsafe function, a loop turn later), in
  // an async resource of its own: context and order hold as on the other path.
  it('hands what it reads to JS at once, in its own async resource, in order and in context', async () => {
    const types = new Set<string>();
    const hook = createHook({ init(_id, type) { types.add(type); } }).enable();
    const a = await pul.actorSystem({ addr: '127.0.0.1:0' });
    const b = await pul.actorSystem({ addr: '127.0.0.1:0', seeds: [a.addr!] });
    try {
      await RBox.spawn({ system: b, name: 'box' });
      const p = await RBox.resolve('box', { system: a, timeoutMs: 5000 });
      const als = new AsyncLocalStorage<number>();
      for (let i = 0; i < 200; i++) {
        await als.run(i, async () => {
          expect(await p.put(i)).toBe(i);
          expect(als.getStore()).toBe(i);
        });
      }
      expect(types.has('pulsing:read')).toBe(true);
      expect(await p.get()).toBe(199);
    } finally {
      hook.disable();
      await a.shutdown();
      await b.shutdown();
    }
  });
});
