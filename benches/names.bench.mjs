// Names at scale, default timings: how long a joining node takes to learn 100,000 names,
// and what gossip costs per node when nothing changes, with 10 names and with 100,000.
// Prints one JSON object per line: {"name","value","unit"}.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as pul from '../dist/index.mjs';

const out = (name, value, unit, extra = {}) => console.log(JSON.stringify({ name, value: Math.round(value * 100) / 100, unit, ...extra }));
const children = [];
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function node(count, prefix, seed) {
  const c = spawn(process.execPath, [fileURLToPath(new URL('./names-node.mjs', import.meta.url)), String(count), prefix, ...(seed ? [seed] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(c);
  return new Promise((resolve) => {
    let s = '';
    c.stdout.on('data', (d) => { s += d; const i = s.indexOf('\n'); if (i >= 0) resolve({ proc: c, ...JSON.parse(s.slice(0, i)) }); });
  });
}

async function until(cond, ms, what) {
  const end = Date.now() + ms;
  while (!(await cond())) { if (Date.now() > end) throw new Error(`timed out: ${what}`); await sleep(10); }
}

/** Gossip bytes per second this node sends once things settled (a measuring window). */
async function steadyGossip(sys) {
  await sleep(4000); // let piggybacked updates drain
  const before = sys.gossipBytesSent();
  const t0 = performance.now();
  await sleep(5000);
  return (sys.gossipBytesSent() - before) / ((performance.now() - t0) / 1000);
}

async function cluster(counts) {
  const a = await node(counts[0], 'a');
  const rest = await Promise.all([node(counts[1], 'b', a.addr), node(counts[2], 'c', a.addr)]);
  return [a, ...rest];
}

// 10 names.
{
  const nodes = await cluster([4, 3, 3]);
  const sys = await pul.actorSystem({ addr: '127.0.0.1:0', seeds: [nodes[0].addr] });
  await until(async () => (await sys.allNamedActors()).length === 10, 30_000, '10 names');
  out('gossip_bytes_per_node_s', await steadyGossip(sys), 'B/s', { names: 10, nodes: 4 });
  await sys.shutdown();
  for (const n of nodes) n.proc.kill('SIGKILL');
}

// 100,000 names.
{
  const nodes = await cluster([34_000, 33_000, 33_000]);
  const probe = await pul.actorSystem({ addr: '127.0.0.1:0', seeds: [nodes[2].addr] });
  await until(async () => (await probe.allNamedActors()).length === 100_000, 60_000, 'the cluster holds 100k names');
  await probe.shutdown();
  const t0 = performance.now();
  const sys = await pul.actorSystem({ addr: '127.0.0.1:0', seeds: [nodes[0].addr] });
  await sys.resolve('c32999', { timeoutMs: 30_000 });
  const lastMs = performance.now() - t0;
  await until(async () => (await sys.allNamedActors()).length === 100_000, 30_000, 'all names');
  out('names_join_ms', performance.now() - t0, 'ms', { names: 100_000, last_name_ms: Math.round(lastMs), target: '<= 5000' });
  out('gossip_bytes_per_node_s', await steadyGossip(sys), 'B/s', { names: 100_000, nodes: 4 });
  await sys.shutdown();
  for (const n of nodes) n.proc.kill('SIGKILL');
}
process.exit(0);
