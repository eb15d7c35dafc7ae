import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import * as pul from '../dist/index.js';
import { gate } from './helpers';

beforeEach(async () => { await pul.init(); });
afterEach(async () => { await pul.shutdown(); });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class Counter {
  value: number;
  log: string[] = [];
  finallyRan = 0;
  constructor(init = 0) { this.value = init; }
  incr() { return ++this.value; }
  get_() { return this.value; }
  async fetchAndAdd(n: number, wait: Promise<void>) { this.log.push(`start ${n}`); await wait; this.value += n; this.log.push(`end ${n}`); return this.value; }
  async slow(ms: number) { await sleep(ms); return ms; }
  *countTo(n: number): Generator<number, string> { try { for (let i = 0; i < n; i++) yield i; return 'done'; } finally { this.finallyRan++; } }
  async *stream(n: number): AsyncGenerator<string, number> { try { for (let i = 0; i < n; i++) { await sleep(0); yield `chunk_${i}`; } return n; } finally { this.finallyRan++; } }
  async *hang() { yield 1; await new Promise(() => {}); }
  getFinally() { return this.finallyRan; }
  getLog() { return this.log; }
  _secret() { return 'no'; }
}
const RCounter = pul.remote(Counter, { className: 'test/Counter' });

describe('remote() classes in one process', () => {
  it('spawns a typed proxy; sync methods run in arrival order', async () => {
    const c = await RCounter.spawn({ args: [10], name: 'counter' });
    const results = await Promise.all(Array.from({ length: 100 }, () => c.incr()));
    expect(results).toEqual(Array.from({ length: 100 }, (_, i) => 11 + i));
    expect(RCounter.className).toBe('test/Counter');
  });

  it('async methods interleave while they await', async () => {
    const c = await RCounter.spawn();
    const g1 = gate();
    const g2 = gate();
    const p1 = c.fetchAndAdd(1, g1.promise as Promise<void>);
    const p2 = c.fetchAndAdd(2, g2.promise as Promise<void>);
    // Both started before either finished: the second message ran while the first awaited.
    expect(await c.getLog()).toEqual(['start 1', 'start 2']);
    g2.open();
    expect(await p2).toBe(2);
    g1.open();
    expect(await p1).toBe(3);
  });

  it('a call made from inside a running method waits its turn (mailbox order kept)', async () => {
    const order: string[] = [];
    class Reentrant {
      self?: { inner(): Promise<number> };
      setSelf(p: pul.ActorRef) { this.self = p.asType(RReentrant); }
      outer() { order.push('outer start'); void this.self!.inner(); order.push('outer end'); return 1; }
      inner() { order.push('inner'); return 2; }
    }
    const RReentrant = pul.remote(Reentrant);
    const r = await RReentrant.spawn();
    await r.setSelf(r.$ref);
    await r.outer();
    await r.inner();
    expect(order).toEqual(['outer start', 'outer end', 'inner', 'inner']);
  });

  it('streams sync and async generators; await drains and gives the return value', async () => {
    const c = await RCounter.spawn();
    const got: string[] = [];
    for await (const s of c.stream(3)) got.push(s);
    expect(got).toEqual(['chunk_0', 'chunk_1', 'chunk_2']);
    const nums: number[] = [];
    for await (const n of c.countTo(4)) nums.push(n);
    expect(nums).toEqual([0, 1, 2, 3]);
    expect(await c.stream(5)).toBe(5);
    expect(await c.countTo(2)).toBe('done');
  });

  it('break cancels the generator: its finally runs', async () => {
    const c = await RCounter.spawn();
    for await (const s of c.stream(1000)) { if (s === 'chunk_2') break; }
    for await (const n of c.countTo(1000)) { if (n === 1) break; }
    expect(await c.getFinally()).toBe(2);
  });

  it('resolves by name (normalised) to typed and untyped proxies', async () => {
    await RCounter.spawn({ name: 'named', args: [1] });
    const p1 = await RCounter.resolve('named');
    const p2 = await pul.resolve('actors/named', { cls: RCounter });
    const p3 = await pul.resolve('named');
    expect(await p1.incr()).toBe(2);
    expect(await p2.incr()).toBe(3);
    expect(await p3.incr()).toBe(4);
    expect(p1.$ref.actorId).toBe(p3.$ref.actorId);
    expect(p1.$ref.actorId.startsWith(pul.getSystem().nodeId + ':')).toBe(true);
  });

  it('untyped proxy results are awaitable and for-await-able', async () => {
    await RCounter.spawn({ name: 'u' });
    const p = await pul.resolve('u');
    const items: unknown[] = [];
    for await (const x of p.stream(2)) items.push(x);
    expect(items).toEqual(['chunk_0', 'chunk_1']);
    const single: unknown[] = [];
    for await (const x of p.incr()) single.push(x);
    expect(single).toEqual([1]);
    expect(await p.stream(2)).toBe(2);
    await expect(p.noSuchMethod()).rejects.toBeInstanceOf(pul.PulsingUnsupportedError);
  });

  it('a typed proxy rejects unknown and private methods at once with PulsingUnsupportedError', async () => {
    const c = await RCounter.spawn();
    const anyC = c as unknown as Record<string, () => Promise<unknown>>;
    await expect(anyC.nope()).rejects.toBeInstanceOf(pul.PulsingUnsupportedError);
    await expect(anyC._secret()).rejects.toBeInstanceOf(pul.PulsingUnsupportedError);
    // Private in the same process too, even through an untyped proxy.
    await expect(c.$ref.asAny()._secret()).rejects.toThrow(/private/);
    await expect(c.$ref.asAny().onStart()).rejects.toBeInstanceOf(pul.PulsingUnsupportedError);
  });

  it('a typed proxy is not a thenable and shows only the actor: no then, constructor or toJSON', async () => {
    const c = await RCounter.spawn();
    const anyC = c as unknown as Record<string, unknown>;
    expect(anyC.then).toBeUndefined();
    expect(anyC.constructor).toBeUndefined();
    expect(anyC.toJSON).toBeUndefined();
    // Awaiting it again gives the proxy itself, not a call of a `then` method.
    expect(await Promise.resolve(c)).toBe(c);
    // Its $with copy is the same kind of object and still sends.
    expect(await c.$with({ timeoutMs: 1000 }).incr()).toBe(1);
    expect(typeof anyC.incr).toBe('function');
  });

  it('$with sets a timeout per call; the actor keeps serving', async () => {
    const c = await RCounter.spawn();
    const err = await c.$with({ timeoutMs: 20 }).slow(500).catch((e) => e);
    expect(err).toBeInstanceOf(pul.PulsingTimeoutError);
    expect(err.durationMs).toBe(20);
    expect(await c.$with({ timeoutMs: 1000 }).slow(1)).toBe(1);
    expect(() => c.$with({ timeoutMs: -5 })).toThrow(/timeoutMs/);
  });

  it('$with signal aborts a call and a stream with the signal reason', async () => {
    const c = await RCounter.spawn();
    const ac = new AbortController();
    const p = c.$with({ signal: ac.signal }).slow(10_000);
    ac.abort(new Error('user cancelled'));
    await expect(p).rejects.toThrow('user cancelled');
    const pre = new AbortController();
    pre.abort(new Error('already'));
    await expect(c.$with({ signal: pre.signal }).incr()).rejects.toThrow('already');
    const ac2 = new AbortController();
    const it = c.$with({ signal: ac2.signal }).hang()[Symbol.asyncIterator]();
    expect((await it.next()).value).toBe(1);
    const next = it.next();
    ac2.abort(new Error('stop streaming'));
    await expect(next).rejects.toThrow('stop streaming');
  });

  it('resolve with timeoutMs waits for the name to appear, then fails with ActorNotFound', async () => {
    const waiting = RCounter.resolve('late', { timeoutMs: 5000 });
    await RCounter.spawn({ name: 'late', args: [41] });
    expect(await (await waiting).incr()).toBe(42);
    const err = await pul.resolve('never', { timeoutMs: 30 }).catch((e) => e);
    expect(err).toBeInstanceOf(pul.PulsingRuntimeError);
    expect(err.kind).toBe('ActorNotFound');
    await expect(pul.resolve('missing')).rejects.toMatchObject({ kind: 'ActorNotFound' });
  });

  it('placement remote or an unknown node is a clear NodeNotFound; own node id works', async () => {
    await expect(RCounter.spawn({ placement: 'remote' })).rejects.toMatchObject({ kind: 'NodeNotFound' });
    await expect(RCounter.spawn({ placement: 'ffffffffffffffff' })).rejects.toMatchObject({ kind: 'NodeNotFound' });
    const c = await RCounter.spawn({ placement: pul.getSystem().nodeId });
    expect(await c.incr()).toBe(1);
  });

  it('names: duplicates and system/ are refused with Config errors', async () => {
    await RCounter.spawn({ name: 'dup' });
    await expect(RCounter.spawn({ name: 'actors/dup' })).rejects.toMatchObject({ kind: 'Config', message: expect.stringContaining('already taken') });
    await expect(RCounter.spawn({ name: 'system/x' })).rejects.toMatchObject({ kind: 'Config', message: expect.stringContaining('reserved') });
    await expect(RCounter.spawn({ name: '' })).rejects.toMatchObject({ kind: 'Config' });
  });

  it('an actor method can call another actor', async () => {
    class Front {
      async double(name: string, n: number) {
        const back = await pul.resolve(name, { cls: RCounter });
        let v = 0;
        for (let i = 0; i < n * 2; i++) v = await back.incr();
        return v;
      }
    }
    await RCounter.spawn({ name: 'back' });
    const f = await pul.remote(Front).spawn();
    expect(await f.double('back', 3)).toBe(6);
  });
});
