// Local (one process) benchmarks. Prints one JSON object per line: {"name","value","unit"}.
// Run with `npm run bench` (release build of the addon).
import * as pul from '../dist/index.mjs';

const out = (name, value, unit, extra = {}) =>
  console.log(JSON.stringify({ name, value: Math.round(value * 100) / 100, unit, ...extra }));

/** Run `fn` repeatedly for about `ms` milliseconds; returns operations per second. */
async function rate(ms, batch, fn) {
  for (let i = 0; i < 3; i++) await fn(); // warm up
  let ops = 0;
  const start = process.hrtime.bigint();
  const until = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < until) {
    for (let i = 0; i < batch; i++) await fn();
    ops += batch;
    now = process.hrtime.bigint();
  }
  return ops / (Number(now - start) / 1e9);
}

class Counter {
  value = 0;
  incr() { return ++this.value; }
  async incrAsync() { return ++this.value; }
  *items(n) { for (let i = 0; i < n; i++) yield i; }
}
class Idle { ping() { return 1; } }

const sys = await pul.init();
const RCounter = pul.remote(Counter, { className: 'bench/Counter' });
const c = await RCounter.spawn({ name: 'bench-counter' });

out('local_ask_seq', await rate(1500, 10_000, () => c.incr()), '/s', { target: 5_000_000 });

{
  // Metrics on (the default) against off: the same named actor on a system with
  // `metrics: false`, measured in turns so drift in the machine's speed hits both alike.
  const off = await pul.actorSystem({ metrics: false });
  const u = await RCounter.spawn({ system: off, name: 'bench-counter-off' });
  const on = [], offs = [], cost = [];
  for (let i = 0; i < 9; i++) {
    const a = await rate(300, 10_000, () => c.incr());
    const b = await rate(300, 10_000, () => u.incr());
    on.push(a); offs.push(b); cost.push(1 - a / b);
  }
  // Medians; the cost is the median of each turn's own ratio (turns close in time share the
  // machine's state, so their ratio is steadier than a ratio of medians).
  const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  out('local_ask_seq_metrics_on', med(on), '/s');
  out('local_ask_seq_metrics_off', med(offs), '/s', { metrics_cost_pct: +(med(cost) * 100).toFixed(1), target_pct: 5 });
  await off.shutdown();
}
out('local_ask_async_seq', await rate(1000, 10_000, () => c.incrAsync()), '/s');

// Pipelined: 256 calls in flight, awaited together.
const batch = new Array(256);
out('local_ask_pipelined', (await rate(1500, 40, async () => {
  for (let i = 0; i < 256; i++) batch[i] = c.incr();
  await Promise.all(batch);
})) * 256, '/s');

const ref = c.$ref;
out('local_tell', (await rate(1000, 40, async () => {
  for (let i = 0; i < 255; i++) void ref.target.tell('incr', []);
  await ref.target.tell('incr', []);
})) * 256, '/s');

{
  const n = 1_000_000;
  const t0 = process.hrtime.bigint();
  let got = 0;
  for await (const _ of c.items(n)) got++;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  out('local_stream_items', got / s, '/s');
}

{
  const RIdle = pul.remote(Idle, { className: 'bench/Idle' });
  const n = 200_000;
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  const t0 = process.hrtime.bigint();
  const keep = new Array(n);
  for (let i = 0; i < n; i++) keep[i] = RIdle.spawn();
  await Promise.all(keep);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  out('spawn_rate', n / s, '/s', { target: 500_000 });
  for (let i = 0; i < n; i++) keep[i] = null; // drop the proxies; the system still holds the actors
  global.gc?.();
  const after = process.memoryUsage().heapUsed;
  out('actor_bytes', (after - before) / n, 'bytes', { target: 1024, gc: typeof global.gc === 'function' });
}

{
  const strict = await pul.actorSystem({ strictLocal: true });
  const s = await RCounter.spawn({ system: strict });
  out('local_ask_seq_strict_codec', await rate(1000, 2000, () => s.incr()), '/s');
  await strict.shutdown();
}

{
  // The global system still holds the 200,000 idle actors spawned above.
  const t0 = process.hrtime.bigint();
  await pul.shutdown();
  out('shutdown_200k_idle_actors_ms', Number(process.hrtime.bigint() - t0) / 1e6, 'ms');
}
