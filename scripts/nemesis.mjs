// A randomized fault test of queues ("nemesis"): node processes serve a queue (disk, two
// replicas) while a writer puts records and a consumer group reads them, both through
// Connect, and faults strike at random: kill -9, then a restart on the same directory, or a
// graceful stop (SIGTERM), then a restart. Afterwards a checker reads the recorded history:
// every acknowledged record was delivered at least once, none was delivered that was never
// put, and within each bucket the records kept the order they were written in.
//
// One fault at a time, as `replicas: 2` promises to ride through: a fault strikes once the
// cluster has settled from the one before (every node sees every other alive, and two
// sweeps have handed buckets over and brought replicas up to date). Two overlapping faults
// keep every record of a disk queue too, but a bucket may then be started afresh on a third
// node and the old copy appended after it when it comes back (docs/semantics.md): the order
// check would fail by design.
//
// With --trim the queue trims what the group acknowledged (trimAcked): buckets then move,
// merge and come back from disk with their first records trimmed.
//
// Usage: node scripts/nemesis.mjs [--seconds 20] [--nodes 4] [--seed N] [--trim] [--json]
// Prints the seed first (a failing run is replayed with --seed), then a summary; exits 1 if
// the checker finds anything. Every child is killed at exit, whatever happened.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Connect } from '../dist/connect.mjs';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    nodes: { type: 'string', default: '4' },
    seed: { type: 'string' },
    trim: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const count = Number(values.nodes);
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
if (!(seconds > 0) || !(count >= 3 && count <= 5) || !Number.isInteger(seed)) {
  console.error('usage: nemesis.mjs [--seconds S > 0] [--nodes 3..5] [--seed integer]');
  process.exit(2);
}
console.log(`nemesis: seed ${seed} (replay with --seed ${seed}${values.trim ? ' --trim' : ''}), ${count} nodes, ${seconds} s of faults${values.trim ? ', trimAcked' : ''}`);

/** mulberry32: a small seeded PRNG, so a run's faults can be replayed. */
function rng(a) {
  return () => {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(seed);
const between = (lo, hi) => lo + Math.floor(random() * (hi - lo));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const root = fileURLToPath(new URL('..', import.meta.url));
const QUEUE = 'nemesis';
const BUCKETS = 8;

// ---- nodes: a fixed address and directory per slot, so a restart is the same node's disk ----
const dirs = [];
const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
}

const slots = [];
for (let i = 0; i < count; i++) {
  const dir = mkdtempSync(join(tmpdir(), `pulsing-nemesis-${i}-`));
  dirs.push(dir);
  slots.push({ i, addr: `127.0.0.1:${await freePort()}`, dir, child: null, up: false });
}

const logs = process.env.NEMESIS_LOGS; // a directory: each node's stderr goes there
let generation = 0;
function start(slot) {
  const seeds = slots.filter((s) => s !== slot).map((s) => s.addr).join(',');
  const child = spawn(process.execPath, [join(root, '__test__/fixtures/node.mjs'), '--addr', slot.addr, '--seeds', seeds, '--storage', slot.dir, '--name', `nemesis-${slot.i}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  if (logs) {
    const f = createWriteStream(join(logs, `slot-${slot.i}-${generation++}.log`));
    child.stderr.pipe(f);
  }
  children.add(child);
  slot.child = child;
  let err = '';
  child.stderr.on('data', (d) => { err += d; if (err.length > 1 << 16) err = err.slice(-(1 << 15)); });
  child.on('exit', () => { children.delete(child); if (slot.child === child) slot.up = false; });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => { out += d; if (out.includes('\n')) { slot.up = true; resolve(); } });
    child.on('exit', (code, signal) => { if (!slot.up) reject(new Error(`node ${slot.i} exited at start (${code ?? signal}): ${err.slice(-2000)}`)); });
  });
}

function stop(slot, signal) {
  const c = slot.child;
  slot.up = false;
  return new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve();
    c.once('exit', resolve);
    c.kill(signal);
  });
}

for (const s of slots) await start(s);
const gateways = slots.map((s) => s.addr);

async function membersEverywhere(n) {
  for (const s of slots) {
    try {
      const ms = await (await fetch(`http://${s.addr}/cluster/members`)).json();
      if (ms.filter((m) => m.status === 'alive').length !== n) return false;
    } catch {
      return false;
    }
  }
  return true;
}
async function until(what, cond, ms) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
await until('every node to see all the others', () => membersEverywhere(count), 30_000);

// ---- history ----
const put = new Map(); // seq -> bucket (every record handed to put)
const acked = new Set(); // seqs in a window a flush acknowledged
const unknown = new Set(); // seqs in a window a flush (or put) reported failed
const deliveries = []; // { seq, bucket, offset }
const faults = { kill9: 0, sigterm: 0, restarts: 0 };
let writing = true;
let writeErrors = 0;
let readErrors = 0;

const bucketOf = (key) => {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % BUCKETS;
};

async function writer() {
  const conn = await Connect.to(gateways, { defaultTimeoutMs: 10_000 });
  const w = await conn.queue.write(QUEUE, { numBuckets: BUCKETS, batchSize: 20, backend: 'disk', replicas: 2, trimAcked: values.trim });
  let seq = 0;
  let window = [];
  while (writing) {
    for (let k = 0; k < 100 && writing; k++) {
      const id = `k${seq % 97}`;
      put.set(seq, bucketOf(id));
      window.push(seq);
      try {
        await w.put({ id, seq });
      } catch {
        // An earlier batch failed (the records of this window are not acknowledged).
        writeErrors++;
        for (const s of window) unknown.add(s);
        window = [];
      }
      seq++;
    }
    try {
      await w.flush();
      for (const s of window) acked.add(s);
    } catch {
      writeErrors++;
      for (const s of window) unknown.add(s);
    }
    window = [];
  }
  await conn.close();
}

let reading = true;
async function consumer() {
  const conn = await Connect.to(gateways, { defaultTimeoutMs: 10_000 });
  const g = await conn.queue.read(QUEUE, { group: 'nemesis-group', visibilityTimeoutMs: 5000, numBuckets: BUCKETS });
  while (reading) {
    try {
      const got = await g.get({ limit: 200, wait: true, timeoutMs: 500 });
      for (const r of got) deliveries.push({ seq: r.value.seq, bucket: r.bucket, offset: r.offset });
      if (got.length > 0) await g.ack(got);
    } catch {
      readErrors++;
      await sleep(100);
    }
  }
  await conn.close();
}

/** Every node sees every other alive, then two queue sweeps (1 s each) run. */
async function settled() {
  await until('the cluster to settle', () => membersEverywhere(count), 60_000);
  await sleep(2500);
}

async function nemesis() {
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    await sleep(between(0, 1500));
    const slot = slots[between(0, slots.length)];
    const graceful = random() < 0.5;
    if (logs) console.log(`${new Date().toISOString()} ${graceful ? 'SIGTERM' : 'SIGKILL'} slot ${slot.i}`);
    await stop(slot, graceful ? 'SIGTERM' : 'SIGKILL');
    faults[graceful ? 'sigterm' : 'kill9']++;
    await sleep(between(200, 2000));
    await start(slot);
    faults.restarts++;
    await settled();
  }
}

const started = Date.now();
const w = writer();
const c = consumer();
await nemesis();
writing = false;
await w;
// Every node is up again: let the cluster settle, then read until every acknowledged record
// came (or the deadline: what is missing then is lost).
await until('the cluster to settle', () => membersEverywhere(count), 60_000);
const seen = () => new Set(deliveries.map((d) => d.seq));
const drainEnd = Date.now() + 60_000;
while (Date.now() < drainEnd) {
  const s = seen();
  if ([...acked].every((q) => s.has(q))) break;
  await sleep(200);
}
reading = false;
await c;
// Records trimmed (with --trim): the sum of the buckets' first offsets, as /queues lists them.
let trimmed = 0;
try {
  const q = await (await fetch(`http://${slots[0].addr}/queues`)).json();
  for (const b of q.queues.find((x) => x.name === QUEUE)?.buckets ?? []) trimmed += b.first;
} catch {
  trimmed = -1;
}

// ---- checker ----
const delivered = seen();
const lost = [...acked].filter((q) => !delivered.has(q)).sort((a, b) => a - b);
const phantom = [...delivered].filter((q) => !put.has(q));
const duplicates = deliveries.length - delivered.size;
// Within a bucket, records were stored in the order they were written (one writer): by the
// offset each was first stored at, the sequence numbers increase. A batch stored twice (a put
// tried again after its answer was lost: at-least-once) repeats records at later offsets;
// their first offsets still count.
const firstAt = new Map(); // bucket -> seq -> lowest offset
const offsetsOf = new Map(); // seq -> set of "bucket/offset"
const timesAt = new Map(); // "bucket/offset" -> deliveries
for (const d of deliveries) {
  const m = firstAt.get(d.bucket) ?? new Map();
  m.set(d.seq, Math.min(m.get(d.seq) ?? Infinity, d.offset));
  firstAt.set(d.bucket, m);
  const at = `${d.bucket}/${d.offset}`;
  offsetsOf.set(d.seq, (offsetsOf.get(d.seq) ?? new Set()).add(at));
  timesAt.set(at, (timesAt.get(at) ?? 0) + 1);
}
const disorder = [];
for (const [b, m] of firstAt) {
  const seqs = [...m.entries()].sort((x, y) => x[1] - y[1]).map((e) => e[0]);
  for (let i = 1; i < seqs.length; i++) if (seqs[i] < seqs[i - 1]) disorder.push({ bucket: b, after: seqs[i - 1], seq: seqs[i] });
}
const storedTwice = [...offsetsOf.values()].filter((s) => s.size > 1).length;
const redelivered = [...timesAt.values()].filter((n) => n > 1).length;
const wrongBucket = deliveries.filter((d) => put.get(d.seq) !== undefined && put.get(d.seq) !== d.bucket).length;
const summary = {
  seed,
  trim: values.trim,
  nodes: count,
  seconds: Math.round((Date.now() - started) / 1000),
  faults,
  put: put.size,
  acknowledged: acked.size,
  notAcknowledged: unknown.size,
  delivered: delivered.size,
  duplicates,
  storedTwice,
  redelivered,
  lost: lost.length,
  phantom: phantom.length,
  outOfOrder: disorder.length,
  wrongBucket,
  trimmed,
  writeErrors,
  readErrors,
};
console.log(values.json ? JSON.stringify(summary) : summary);
if (lost.length) console.log(`lost (first 20): ${lost.slice(0, 20).join(', ')}`);
if (phantom.length) console.log(`phantom (first 20): ${phantom.slice(0, 20).join(', ')}`);
if (disorder.length) console.log(`out of order (first 5): ${JSON.stringify(disorder.slice(0, 5))}`);
const ok = lost.length === 0 && phantom.length === 0 && disorder.length === 0 && wrongBucket === 0 && acked.size > 0 && (!values.trim || trimmed > 0);
console.log(ok ? `nemesis: ok (seed ${seed})` : `nemesis: FAILED (replay with --seed ${seed})`);
process.exit(ok ? 0 : 1);
