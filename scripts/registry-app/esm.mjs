// A user's ESM script: two systems in one process, a call and a stream across the wire, and
// a Connect client reaching the actor on b through a.
import { init, actorSystem, remote, shutdown } from 'pulsing';
import { Connect } from 'pulsing/connect';

class Counter {
  n = 0;
  incr(by = 1) { return (this.n += by); }
  *count(k) { for (let i = 0; i < k; i++) yield i; }
}
const RCounter = remote(Counter, { className: 'app/Counter' });
const a = await init({ addr: '127.0.0.1:0' });
const b = await actorSystem({ addr: '127.0.0.1:0', seeds: [a.addr] });
await RCounter.spawn({ name: 'counter', system: b });
const c = await RCounter.resolve('counter', { timeoutMs: 10_000 });
if ((await c.incr(2)) !== 2) throw new Error('incr');
const items = [];
for await (const x of c.count(5)) items.push(x);
if (items.join() !== '0,1,2,3,4') throw new Error(`stream: ${items}`);
const conn = await Connect.to(a.addr);
const viaGateway = await conn.resolve('counter', { cls: RCounter });
if ((await viaGateway.incr(1)) !== 3) throw new Error('connect: incr');
await conn.close();
await b.shutdown();
await shutdown();
console.log(`esm ok: remote call and stream across ${a.addr} and ${b.addr}, and through Connect`);
