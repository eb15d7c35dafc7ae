import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import * as pul from '../dist/index.js';
import { gate } from './helpers';

beforeEach(async () => { await pul.init(); });
afterEach(async () => { await pul.shutdown(); });

class Echo extends pul.Actor {
  started?: string;
  stopped = 0;
  onStart(id: pul.ActorId) { this.started = id; }
  onStop() { this.stopped++; }
  metadata() { return { role: 'echo' }; }
  async receive(msg: unknown) {
    if (msg === 'stream please') return (async function* () { yield 'a'; yield 'b'; })();
    if (msg === 'who') return this.started;
    return msg;
  }
}

describe('low-level API: Actor, ask, tell', () => {
  it('spawn an Actor: onStart gets the id, ask/tell, metadata is published', async () => {
    const sys = pul.getSystem();
    const ref = await sys.spawn(new Echo(), { name: 'echo' });
    expect(ref.actorId).toMatch(new RegExp(`^${sys.nodeId}:\\d+$`));
    expect(await ref.ask('who')).toBe(ref.actorId);
    expect(await ref.ask({ hi: 1 }, { timeoutMs: 1000 })).toEqual({ hi: 1 });
    await expect(ref.tell({ hi: 2 })).resolves.toBeUndefined();
    const all = await sys.allNamedActors();
    expect(all).toEqual([{ name: 'actors/echo', instances: [{ nodeId: sys.nodeId, actorId: ref.actorId, metadata: { role: 'echo' } }] }]);
  });

  it('ask returns an AsyncIterable when receive streams', async () => {
    const ref = await pul.getSystem().spawn(new Echo());
    const s = (await ref.ask('stream please')) as AsyncIterable<string>;
    const got: string[] = [];
    for await (const x of s) got.push(x);
    expect(got).toEqual(['a', 'b']);
  });

  it('async onStart runs before the first message', async () => {
    const g = gate();
    const seen: string[] = [];
    class Slow extends pul.Actor {
      async onStart() { await g.promise; seen.push('started'); }
      receive(m: unknown) { seen.push(`msg ${m}`); return m; }
    }
    const spawning = pul.getSystem().spawn(() => new Slow(), { name: 'slow' });
    const ref = await pul.getSystem().resolve('slow');
    const reply = ref.ask(1);
    g.open();
    await spawning;
    expect(await reply).toBe(1);
    expect(seen).toEqual(['started', 'msg 1']);
  });

  it('refer, resolve, resolveAll, asAny, asType', async () => {
    class Calc { mul(a: number, b: number) { return a * b; } }
    const RCalc = pul.remote(Calc);
    const sys = pul.getSystem();
    const p = await RCalc.spawn({ name: 'services/calc' });
    const byId = await sys.refer(p.$ref.actorId);
    expect(await byId.asType(RCalc).mul(6, 7)).toBe(42);
    expect(await byId.asAny().mul(2, 3)).toBe(6);
    const byName = await sys.resolve('services/calc', { nodeId: sys.nodeId, timeoutMs: 100 });
    expect(byName.actorId).toBe(p.$ref.actorId);
    expect((await sys.resolveAll('services/calc')).map((r) => r.actorId)).toEqual([p.$ref.actorId]);
    expect(await sys.resolveAll('nobody')).toEqual([]);
    await expect(sys.refer('nonsense')).rejects.toMatchObject({ kind: 'Config' });
    await expect(sys.refer(`${sys.nodeId}:999999`)).rejects.toMatchObject({ kind: 'ActorNotFound' });
    await expect(sys.resolve('services/calc', { nodeId: '0000000000000001' })).rejects.toMatchObject({ kind: 'NodeNotFound' });
    await expect(byId.ask('x')).rejects.toThrow(/no receive\(\) method/);
  });

  it('stop runs onStop, fails old refs with Stopped, and frees the name', async () => {
    const sys = pul.getSystem();
    const echo = new Echo();
    const ref = await sys.spawn(echo, { name: 'stoppable' });
    await sys.stop('stoppable');
    expect(echo.stopped).toBe(1);
    await expect(ref.ask(1)).rejects.toMatchObject({ kind: 'Stopped' });
    await expect(sys.resolve('stoppable')).rejects.toMatchObject({ kind: 'ActorNotFound' });
    const again = await sys.spawn(new Echo(), { name: 'stoppable' });
    expect(await again.ask(5)).toBe(5);
    await expect(sys.stop('ghost')).rejects.toMatchObject({ kind: 'ActorNotFound' });
  });

  it('a full mailbox makes tell and ask wait, and nothing accepted is lost', async () => {
    const g = gate();
    const got: number[] = [];
    class Gated extends pul.Actor {
      async onStart() { await g.promise; }
      receive(m: unknown) { got.push(m as number); return m; }
    }
    const sys = pul.getSystem();
    const spawned = sys.spawn(() => new Gated(), { name: 'gated', mailboxCapacity: 2 });
    const ref = await sys.resolve('gated');
    let accepted = 0;
    const tells = [1, 2, 3, 4].map((i) => ref.tell(i).then(() => { accepted++; }));
    await Promise.resolve();
    await new Promise((r) => setImmediate(r));
    expect(accepted).toBe(2); // the mailbox holds two; the other senders wait
    g.open();
    await spawned;
    await Promise.all(tells);
    expect(await ref.ask(5)).toBe(5);
    expect(got).toEqual([1, 2, 3, 4, 5]);
  });

  it('mount exposes an existing object; unmount removes it', async () => {
    const svc = { hits: 0, hit() { return ++this.hits; } };
    const m = pul.mount(svc, { name: 'svc' });
    const p = await pul.resolve('svc'); // resolvable right away
    await m;
    expect(await p.hit()).toBe(1);
    expect(svc.hits).toBe(1); // the object itself is the state
    await pul.unmount('svc');
    await expect(pul.resolve('svc')).rejects.toMatchObject({ kind: 'ActorNotFound' });
  });

  it('spawn refuses a class where an instance or factory belongs', async () => {
    await expect(pul.getSystem().spawn(Echo as unknown as () => Echo)).rejects.toThrow(/not the class/);
  });
});

describe('a spawned proxy and its ref', () => {
  class Box { v = 1; value(): number { return this.v; } }
  const RBox = pul.remote(Box, { className: 'lowlevel/Box' });

  it('$ref is made when first read, then the same object; proxies over it reach the same actor', async () => {
    const p = await RBox.spawn({ name: 'box' });
    const ref = p.$ref;
    expect(ref).toBeInstanceOf(pul.ActorRef);
    expect(p.$ref).toBe(ref);
    expect(ref.actorId).toMatch(new RegExp(`^${pul.getSystem().nodeId}:\\d+$`));
    expect(p.$with({ timeoutMs: 1000 }).$ref.actorId).toBe(ref.actorId);
    expect(await ref.asType(RBox).value()).toBe(1);
    expect(await p.value()).toBe(1);
    expect((await RBox.resolve('box')).$ref.actorId).toBe(ref.actorId);
  });
});
