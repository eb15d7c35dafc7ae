// Two-process benchmarks against a raw Node `net` echo measured in the same run.
// Prints one JSON object per line: {"name","value","unit"} (plus target / ratio when useful).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as pul from '../dist/index.mjs';
import { Connect } from '../dist/connect.mjs';
import { bucketOf } from '../dist/index.mjs';
import { Echo } from './bench-actors.mjs';
import { rawClient } from './raw-client.mjs';

const out = (name, value, unit, extra = {}) => console.log(JSON.stringify({ name, value: Math.round(value * 100) / 100, unit, ...extra }));
const children = [];
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });

function child(script, args = []) {
  const c = spawn(process.execPath, [fileURLToPath(new URL(script, import.meta.url)), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(c);
  return new Promise((resolve) => {
    let s = '';
    c.stdout.on('data', (d) => { s += d; const i = s.indexOf('\n'); if (i >= 0) resolve({ proc: c, ...JSON.parse(s.slice(0, i)) }); });
  });
}

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(s.length * p))]; };

// --- raw baseline ---------------------------------------------------------------------
async function rawBaseline() {
  const srv = await child('./raw-echo-server.mjs');
  const c = await rawClient(srv.port);
  for (let i = 0; i < 2000; i++) await c.call();
  const lat = [];
  for (let i = 0; i < 20_000; i++) { const t = process.hrtime.bigint(); await c.call(); lat.push(Number(process.hrtime.bigint() - t) / 1000); }
  const t0 = performance.now();
  let next = 0;
  const N = 200_000;
  await Promise.all(Array.from({ length: 256 }, async () => { while (next < N) { next++; await c.call(); } }));
  const thr = N / ((performance.now() - t0) / 1000);
  // One-way bulk: a 64 MiB frame, a 4-byte ack back.
  const big = Buffer.alloc(64 * 1024 * 1024);
  await c.bulk(big);
  const tb = performance.now();
  for (let i = 0; i < 4; i++) await c.bulk(big);
  const bytesPerS = (4 * 64 * 1024 * 1024) / ((performance.now() - tb) / 1000);
  // Small calls on a second connection while the first carries 64 MiB frames.
  const small = await rawClient(srv.port);
  let done = false;
  const bulk = (async () => { for (let i = 0; i < 4; i++) await c.bulk(big); done = true; })();
  const during = [];
  while (!done) { const t = process.hrtime.bigint(); await small.call(); during.push(Number(process.hrtime.bigint() - t) / 1000); }
  await bulk;
  small.close();
  c.close();
  srv.proc.kill('SIGTERM');
  return { p50: pct(lat, 0.5), p99: pct(lat, 0.99), thr, bytesPerS, duringP99: pct(during, 0.99) };
}

const raw = await rawBaseline();
out('raw_echo_rtt_p50_us', raw.p50, 'us');
out('raw_echo_rtt_p99_us', raw.p99, 'us');
out('raw_echo_throughput', raw.thr, '/s');
out('raw_bytes_64mib', raw.bytesPerS / 1e6, 'MB/s');
out('raw_small_ask_p99_during_bulk_us', raw.duringP99, 'us');

// --- Pulsing, two processes ---------------------------------------------------------
const remoteNode = await child('./bench-node.mjs');
const sys = await pul.init({ addr: '127.0.0.1:0', seeds: [remoteNode.addr] });
const REcho = pul.remote(Echo, { className: 'bench/Echo' });
const e = await REcho.resolve('echo', { timeoutMs: 10_000 });
const payload = 'x'.repeat(16);
for (let i = 0; i < 2000; i++) await e.echo(payload);

const lat = [];
for (let i = 0; i < 20_000; i++) { const t = process.hrtime.bigint(); await e.echo(payload); lat.push(Number(process.hrtime.bigint() - t) / 1000); }
let directThr = 0;
out('remote_ask_seq_p50_us', pct(lat, 0.5), 'us', { target: `<= 1.5x raw (${(raw.p50 * 1.5).toFixed(1)})`, ratio_to_raw: +(pct(lat, 0.5) / raw.p50).toFixed(2) });
out('remote_ask_seq_p99_us', pct(lat, 0.99), 'us', { target: `<= 2x raw (${(raw.p99 * 2).toFixed(1)})`, ratio_to_raw: +(pct(lat, 0.99) / raw.p99).toFixed(2) });

/** Calls per second to `target`, 256 in flight. */
async function throughput(target, N) {
  const t0 = performance.now();
  let next = 0;
  const worker = async () => { while (next < N) { next++; await target.echo(payload); } };
  await Promise.all(Array.from({ length: 256 }, worker));
  return N / ((performance.now() - t0) / 1000);
}

{
  const thr = await throughput(e, 200_000);
  out('remote_ask_throughput', thr, '/s', { target: '>= 0.5x raw pipelined echo', ratio_to_raw: +(thr / raw.thr).toFixed(2) });
  directThr = thr;
}

{
  // Metrics on against off: the same actor on a node started with `metrics: false`, in turns.
  const offNode = await child('./bench-node.mjs', [remoteNode.addr, 'metrics-off']);
  const eoff = await REcho.resolve('echo-metrics-off', { timeoutMs: 10_000 });
  for (let i = 0; i < 2000; i++) await eoff.echo(payload);
  const on = [], off = [], cost = [];
  for (let i = 0; i < 5; i++) {
    const a = await throughput(e, 60_000);
    const b = await throughput(eoff, 60_000);
    on.push(a); off.push(b); cost.push(1 - a / b);
  }
  const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  out('remote_ask_throughput_metrics_on', med(on), '/s');
  out('remote_ask_throughput_metrics_off', med(off), '/s', { metrics_cost_pct: +(med(cost) * 100).toFixed(1), target_pct: 5 });
  offNode.proc.kill('SIGTERM');
}

// --- Connect: a client through a gateway process to the actor on the other node --------
{
  const gw = await child('./bench-node.mjs', [remoteNode.addr, 'gateway']);
  const conn = await Connect.to(gw.addr);
  const ce = await conn.resolve('echo', { cls: REcho, timeoutMs: 10_000 });
  for (let i = 0; i < 2000; i++) await ce.echo(payload);
  const clat = [];
  for (let i = 0; i < 20_000; i++) { const t = process.hrtime.bigint(); await ce.echo(payload); clat.push(Number(process.hrtime.bigint() - t) / 1000); }
  const p50 = pct(clat, 0.5);
  const directP50 = pct(lat, 0.5);
  out('connect_ask_seq_p50_us', p50, 'us', { target: `<= 2x direct (${(directP50 * 2).toFixed(1)})`, ratio_to_direct: +(p50 / directP50).toFixed(2) });
  const N = 200_000;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 256 }, async () => { while (next < N) { next++; await ce.echo(payload); } }));
  const thr = N / ((performance.now() - t0) / 1000);
  out('connect_ask_throughput', thr, '/s', { target: `>= 0.5x direct (${(directThr * 0.5).toFixed(0)})`, ratio_to_direct: +(thr / directThr).toFixed(2) });
  await conn.close();
  gw.proc.kill('SIGTERM');
}

// --- queue: batches of 100 to buckets the other node owns, in memory and on disk ----------
for (const backend of ['memory', 'disk']) {
  const name = `bench/queue/${backend}`;
  const remoteBuckets = Array.from({ length: 16 }, (_, b) => b).filter((b) => sys.queue.owner(name, b) === remoteNode.nodeId);
  const keys = [];
  for (let i = 0; keys.length < 64; i++) if (remoteBuckets.includes(bucketOf(`k${i}`, 16))) keys.push(`k${i}`);
  const w = await sys.queue.write(name, { numBuckets: 16, batchSize: 100, backend });
  const rec = (i) => ({ id: keys[i % keys.length], i, data: 'x'.repeat(16) });
  const put = async (n) => { for (let i = 0; i < n; i += 1000) await w.put(Array.from({ length: 1000 }, (_, j) => rec(i + j))); await w.flush(); };
  await put(20_000);
  const N = backend === 'memory' ? 400_000 : 200_000;
  const t0 = performance.now();
  await put(N);
  const suffix = backend === 'memory' ? '' : '_disk';
  out(`queue_put${suffix}_records_s`, N / ((performance.now() - t0) / 1000), '/s', { target: backend === 'memory' ? 1_000_000 : 200_000, backend, fsync: backend === 'disk' ? 'per batch (group commit)' : 'none', buckets: remoteBuckets.length });
  if (backend !== 'memory') continue;
  const r = await sys.queue.read(name, { bucketIds: remoteBuckets, numBuckets: 16 });
  const t1 = performance.now();
  let got = 0;
  for (let recs = await r.get({ limit: 1000 }); recs.length > 0; recs = await r.get({ limit: 1000 })) got += recs.length;
  out('queue_get_records_s', got / ((performance.now() - t1) / 1000), '/s', { records: got });
}

// --- topic: fan-out to 3 subscribers on 3 nodes (this one and two more) ---------------
{
  const subs = await Promise.all([child('./bench-node.mjs', [sys.addr, 'subscriber']), child('./bench-node.mjs', [sys.addr, 'subscriber'])]);
  let here = 0;
  const tr = await sys.topic.read('bench/fanout');
  tr.onMessage(() => { here++; });
  await tr.start();
  const tw = await sys.topic.write('bench/fanout');
  while ((await tw.publish(-1, { mode: 'wait-all-acks' })).delivered < 3) await new Promise((r) => setTimeout(r, 20));
  const N = 100_000;
  let next = 0;
  let delivered = 0;
  let failed = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < N) { next++; const r = await tw.publish(next, { mode: 'wait-all-acks' }); delivered += r.delivered; failed += r.failed; }
  }));
  out('topic_fanout_msgs_s', delivered / ((performance.now() - t0) / 1000), '/s', { target: 500_000, subscribers: 3, mode: 'wait-all-acks', failed });
  await tr.stop();
  for (const c of subs) c.proc.kill('SIGTERM');
}

{
  const N = 500_000;
  const ref = e.$ref;
  const any = ref.asAny();
  // Warm-up, as the asks above have: the first tells compile the tell path on both ends.
  const warm = (await e.count()) + 50_000;
  for (let i = 0; i < 50_000; i++) void ref.target.tell('bump', []);
  while ((await any.count()) < warm) { /* behind the tells */ }
  const before = await e.count();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) void ref.target.tell('bump', []);
  while ((await any.count()) < before + N) { /* the count ask queues behind the tells */ }
  out('remote_tell_throughput', N / ((performance.now() - t0) / 1000), '/s', { target: 1_000_000 });
}

{
  const N = 500_000;
  // Warm-up: one short stream first.
  for await (const _ of e.items(50_000)) { /* drained */ }
  const t0 = performance.now();
  let n = 0;
  for await (const _ of e.items(N)) n++;
  out('remote_stream_items', n / ((performance.now() - t0) / 1000), '/s', { target: 1_000_000 });
}

{
  const big = Buffer.alloc(64 * 1024 * 1024, 7);
  await e.$with({ timeoutMs: 60_000 }).size(big);
  const t0 = performance.now();
  for (let i = 0; i < 4; i++) await e.$with({ timeoutMs: 60_000 }).size(big);
  const mbs = (4 * big.length) / ((performance.now() - t0) / 1000) / 1e6;
  out('remote_bytes_64mib', mbs, 'MB/s', { target: `>= 1x raw (${(raw.bytesPerS / 1e6).toFixed(0)})`, ratio_to_raw: +(mbs / (raw.bytesPerS / 1e6)).toFixed(2) });

  let done = false;
  const bulk = (async () => { for (let i = 0; i < 4; i++) await e.$with({ timeoutMs: 60_000 }).size(big); done = true; })();
  const lat = [];
  while (!done) { const t = process.hrtime.bigint(); await e.echo(payload); lat.push(Number(process.hrtime.bigint() - t) / 1000); }
  await bulk;
  out('small_ask_p99_during_bulk_us', pct(lat, 0.99), 'us', { target: 1000, p50: +pct(lat, 0.5).toFixed(1), samples: lat.length, ratio_to_raw: +(pct(lat, 0.99) / raw.duringP99).toFixed(3) });
}

// --- failure detection with default timings ------------------------------------------
{
  const victim = await child('./bench-node.mjs', [sys.addr]);
  while (!(await sys.members()).some((m) => m.nodeId === victim.nodeId)) await new Promise((r) => setTimeout(r, 5));
  const t0 = performance.now();
  victim.proc.kill('SIGKILL');
  while ((await sys.members()).some((m) => m.nodeId === victim.nodeId)) await new Promise((r) => setTimeout(r, 5));
  out('failure_detect_ms', performance.now() - t0, 'ms', { target: 2000 });
}
await pul.shutdown();
remoteNode.proc.kill('SIGTERM');

// --- convergence: 20 nodes (systems in one process, real sockets on loopback) --------
{
  const t0 = performance.now();
  const seed = await pul.actorSystem({ addr: '127.0.0.1:0' });
  const nodes = [seed];
  for (let i = 1; i < 20; i++) nodes.push(await pul.actorSystem({ addr: '127.0.0.1:0', seeds: [seed.addr] }));
  const all = async () => (await Promise.all(nodes.map((n) => n.members()))).every((m) => m.length === 20);
  while (!(await all())) await new Promise((r) => setTimeout(r, 5));
  out('cluster_converge_ms', performance.now() - t0, 'ms', { target: 3000, nodes: 20 });
  await Promise.all(nodes.map((n) => n.shutdown()));
}
process.exit(0);
