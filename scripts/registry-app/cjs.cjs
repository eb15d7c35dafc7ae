// A user's CommonJS script: the same through require().
const { init, actorSystem, remote, shutdown } = require('pulsing');
const { Connect } = require('pulsing/connect');

class Counter {
  constructor() { this.n = 0; }
  incr(by = 1) { return (this.n += by); }
  *count(k) { for (let i = 0; i < k; i++) yield i; }
}
(async () => {
  const RCounter = remote(Counter, { className: 'app/Counter' });
  const a = await init({ addr: '127.0.0.1:0' });
  const b = await actorSystem({ addr: '127.0.0.1:0', seeds: [a.addr] });
  await RCounter.spawn({ name: 'counter', system: b });
  const c = await RCounter.resolve('counter', { timeoutMs: 10_000 });
  if ((await c.incr(3)) !== 3) throw new Error('incr');
  const items = [];
  for await (const x of c.count(3)) items.push(x);
  if (items.join() !== '0,1,2') throw new Error(`stream: ${items}`);
  if (typeof Connect.to !== 'function') throw new Error('pulsing/connect');
  await b.shutdown();
  await shutdown();
  console.log('cjs ok');
})().catch((e) => { console.error(e); process.exit(1); });
