// One crossing per tick, many stream items per frame: what a batch carries must arrive
// whole, in order, for the right caller, and a cancel must still stop the producer at once.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createRequire } from 'node:module';
import * as pul from '../dist/index.js';
import { startNode, waitFor, type Child } from './helpers';

class Worker {
  incr(_n?: number): number { return 0; }
  echo<T>(x: T): T { return x; }
  where(): { label: string; pid: number; nodeId: string } { throw new Error('remote only'); }
  async *tokens(_n: number): AsyncGenerator<string, number> { return 0; }
  *mixed(_n: number, _big: number): Generator<{ i: number } | Buffer> { /* remote */ }
  finallyCount(): number { return 0; }
}
const RWorker = pul.remote(Worker, { className: 'fixtures/Worker' });
const fast = { probeIntervalMs: 100, probeTimeoutMs: 60, suspicionTimeoutMs: 500, syncIntervalMs: 100 };
let a: Child;
let b: Child;

describe('batched crossings and stream frames', () => {
  beforeAll(async () => {
    a = await startNode(['--name', 'ba']);
    b = await startNode(['--seeds', a.addr, '--name', 'bb']);
    const sys = await pul.init({ addr: '127.0.0.1:0', seeds: [a.addr], membership: fast });
    await waitFor(async () => (await sys.members()).length === 3, 10_000, '3 members');
  });
  afterAll(async () => { await pul.shutdown(); });

  it('one tick of calls to two nodes: every reply reaches its own caller', async () => {
    const [x, y] = [await RWorker.resolve('ba', { timeoutMs: 5000 }), await RWorker.resolve('bb', { timeoutMs: 5000 })];
    // All made in the same tick: one crossing carries frames for both connections.
    const calls = Array.from({ length: 500 }, (_, i) => (i % 2 ? x : y).echo({ i, to: i % 2 ? 'ba' : 'bb' }));
    const where = [x.where(), y.where()];
    const out = await Promise.all(calls);
    out.forEach((v, i) => expect(v).toEqual({ i, to: i % 2 ? 'ba' : 'bb' }));
    const [wx, wy] = await Promise.all(where);
    expect(wx.nodeId).toBe(a.nodeId);
    expect(wy.nodeId).toBe(b.nodeId);
  });

  it('calls with primitive arguments, encoded in place, arrive intact next to others in one tick', async () => {
    const x = await RWorker.resolve('ba');
    // Small and large (past the inline limit) bodies encoded where the encoder writes, each
    // copied out before the next call is encoded; objects (the other path) in between.
    const big = 'b'.repeat(10_000);
    const sent = Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? `${i}:${big}` : i % 3 === 1 ? i : { i }));
    const out = await Promise.all(sent.map((v) => x.echo(v)));
    expect(out).toEqual(sent);
  });

  it('tells and asks made in one tick keep their order on the actor', async () => {
    const x = await RWorker.resolve('ba');
    const base = await x.incr(0);
    const ref = x.$ref.asAny();
    const tells = Array.from({ length: 100 }, () => ref.$ref.tell({ incr: 1 }));
    const after = x.incr(0); // queued behind the tells, in the same batch
    await Promise.all(tells);
    expect(await after).toBe(base + 100);
  });

  it('a burst larger than one batch leaves in several crossings, in order', async () => {
    const x = await RWorker.resolve('ba');
    const base = await x.incr(0);
    const { NativeSystem } = createRequire(import.meta.url)('../native/binding.cjs');
    const send = NativeSystem.prototype.sendBatch;
    let crossings = 0;
    NativeSystem.prototype.sendBatch = function (...a: unknown[]) { crossings++; return send.apply(this, a); };
    try {
      const ref = x.$ref;
      const pad = 'p'.repeat(100);
      // One synchronous loop, one tick: about 3 MB of frames.
      const tells = Array.from({ length: 20_000 }, () => ref.tell({ incr: 1, pad }));
      const after = x.incr(0);
      expect(crossings).toBeGreaterThan(10); // flushed as it filled, not once at the end
      await Promise.all(tells);
      expect(await after).toBe(base + 20_000);
    } finally {
      NativeSystem.prototype.sendBatch = send;
    }
  });

  it('a tick of many small asks leaves in pieces of 128 frames, then twice as many each time, every reply to its caller', async () => {
    const x = await RWorker.resolve('ba');
    const { NativeSystem } = createRequire(import.meta.url)('../native/binding.cjs');
    const send = NativeSystem.prototype.sendBatch;
    let crossings = 0;
    NativeSystem.prototype.sendBatch = function (...a: unknown[]) { crossings++; return send.apply(this, a); };
    try {
      // 1000 asks in one tick, far below 64 KiB in all: only the frame count cuts them.
      const calls = Array.from({ length: 1000 }, (_, i) => x.echo(i));
      // The first leaves at once, then pieces of 128, 256 and 512 (897 in all)...
      expect(crossings).toBe(4);
      expect(await Promise.all(calls)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
      // ...and the last 103 at the end of the tick.
      expect(crossings).toBe(5);
      // The next tick starts again from 128.
      crossings = 0;
      const next = Array.from({ length: 200 }, (_, i) => x.echo(i));
      expect(crossings).toBe(2);
      await Promise.all(next);
    } finally {
      NativeSystem.prototype.sendBatch = send;
    }
  });

  it('a send batch the core cannot read safely is refused with a clear error, and the node sends on', async () => {
    const x = await RWorker.resolve('ba');
    const { NativeSystem } = createRequire(import.meta.url)('../native/binding.cjs');
    const send = NativeSystem.prototype.sendBatch;
    let core: unknown;
    NativeSystem.prototype.sendBatch = function (...a: unknown[]) { core = this; return send.apply(this, a); };
    try {
      await x.incr(0);
    } finally {
      NativeSystem.prototype.sendBatch = send;
    }
    const buf = Buffer.alloc(64);
    // Records and connections in one buffer: the core would read what it writes.
    expect(() => send.call(core, buf, 0, [], [], [], buf)).toThrow(/ops and conns must not share memory/);
    // A length past the end of the buffer.
    expect(() => send.call(core, buf, 65, [], [], [], Buffer.alloc(16))).toThrow(/a batch of 65 bytes in a buffer of 64/);
    expect(await x.echo('still')).toBe('still');
  });

  it('many items per frame arrive whole and in order, large ones out of band among them', async () => {
    const x = await RWorker.resolve('ba');
    const n = 5000;
    let i = 0;
    for await (const item of x.mixed(n, 100_000)) {
      if (i % 7 === 3) {
        expect(Buffer.isBuffer(item)).toBe(true);
        expect((item as Buffer).length).toBe(100_000);
        expect((item as Buffer)[99_999]).toBe(i % 256);
      } else {
        expect(item).toEqual({ i });
      }
      i++;
    }
    expect(i).toBe(n);
  });

  it('a break in the middle of a batch cancels the producer, which stops within its window', async () => {
    const x = await RWorker.resolve('bb');
    const before = await x.finallyCount();
    let got = 0;
    for await (const item of x.mixed(1_000_000, 10)) {
      if (!Buffer.isBuffer(item)) expect(item).toEqual({ i: got });
      if (++got === 10) break;
    }
    expect(got).toBe(10);
    await waitFor(async () => (await x.finallyCount()) === before + 1, 5000, 'the generator finally to run');
  });
});
