// `npm run bench:peers`: raw Node TCP echo, Moleculer (TCP transporter), grpc-js and pulsing,
// each server in its own process on 127.0.0.1, all measured by the same loop from this one:
// sequential p50/p99 of a 16-byte echo, throughput with 256 calls in flight, stream items
// per second, and a 64 MiB one-way transfer where the system can carry it.
// Prints one JSON line per figure: {"system","name","value","unit"}, then a Markdown table.
import { spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { rawClient } from '../raw-client.mjs';

const SEQ = Number(process.env.PEERS_SEQ ?? 10_000);
const THROUGHPUT = Number(process.env.PEERS_CALLS ?? 100_000);
const ITEMS = Number(process.env.PEERS_ITEMS ?? 200_000);
const payload = 'x'.repeat(16);
const children = [];
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });

function server(kind, ...args) {
  const c = spawn(process.execPath, [fileURLToPath(new URL('./servers.mjs', import.meta.url)), kind, ...args.map(String)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(c);
  return new Promise((resolve, reject) => {
    let s = '';
    c.stdout.on('data', (d) => { s += d; const i = s.indexOf('\n'); if (i >= 0) resolve({ proc: c, ...JSON.parse(s.slice(0, i)) }); });
    c.on('exit', (code) => reject(new Error(`${kind} server exited (${code})`)));
  });
}

function freePort() {
  return new Promise((resolve) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); }); });
}

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(s.length * p))]; };

/** The shared loop: every system is measured by exactly this code. */
async function measure(sys) {
  const r = {};
  for (let i = 0; i < 1000; i++) await sys.call(payload);
  const lat = [];
  for (let i = 0; i < SEQ; i++) { const t = process.hrtime.bigint(); await sys.call(payload); lat.push(Number(process.hrtime.bigint() - t) / 1000); }
  r.ask_p50_us = pct(lat, 0.5);
  r.ask_p99_us = pct(lat, 0.99);
  let next = 0;
  const t0 = performance.now();
  const worker = async () => { while (next < THROUGHPUT) { next++; await sys.call(payload); } };
  await Promise.all(Array.from({ length: 256 }, worker));
  r.asks_per_s_256 = THROUGHPUT / ((performance.now() - t0) / 1000);
  if (sys.stream) {
    // Warm up the stream path as the calls above warmed up the call path (same for every system).
    for await (const _ of sys.stream(ITEMS / 10)) { /* warm-up */ }
    const t1 = performance.now();
    let n = 0;
    for await (const _ of sys.stream(ITEMS)) n++;
    r.stream_items_per_s = n / ((performance.now() - t1) / 1000);
  }
  if (sys.bulk) {
    const big = Buffer.alloc(64 * 1024 * 1024, 7);
    await sys.bulk(big);
    const t2 = performance.now();
    for (let i = 0; i < 4; i++) await sys.bulk(big);
    r.bulk_64mib_mb_s = (4 * big.length) / ((performance.now() - t2) / 1000) / 1e6;
  }
  return r;
}

async function raw() {
  const srv = await server('raw');
  const c = await rawClient(srv.port, 16);
  return { call: c.call, bulk: c.bulk, close: () => { c.close(); srv.proc.kill('SIGTERM'); } };
}

async function moleculer() {
  const { ServiceBroker } = await import('moleculer');
  const [sport, cport] = [await freePort(), await freePort()];
  const srv = await server('moleculer', sport);
  const broker = new ServiceBroker({
    nodeID: 'client',
    logger: false,
    transporter: { type: 'TCP', options: { udpDiscovery: false, port: cport, urls: [`127.0.0.1:${sport}/server`, `127.0.0.1:${cport}/client`] } },
  });
  await broker.start();
  await broker.waitForServices(['echo'], 10_000);
  return {
    call: (s) => broker.call('echo.echo', { s }),
    close: async () => { await broker.stop(); srv.proc.kill('SIGTERM'); },
  };
}

async function grpcJs() {
  const grpc = await import('@grpc/grpc-js');
  const loader = await import('@grpc/proto-loader');
  const def = loader.loadSync(fileURLToPath(new URL('./echo.proto', import.meta.url)));
  const { bench } = grpc.loadPackageDefinition(def);
  const srv = await server('grpc');
  const client = new bench.Echo(`127.0.0.1:${srv.port}`, grpc.credentials.createInsecure());
  return {
    call: (s) => new Promise((resolve, reject) => client.Echo({ s }, (e, r) => (e ? reject(e) : resolve(r.s)))),
    stream: (n) => client.Items({ n }),
    close: () => { client.close(); srv.proc.kill('SIGTERM'); },
  };
}

async function pulsing() {
  const pul = await import('../../dist/index.mjs');
  const srv = await server('pulsing');
  await pul.init({ addr: '127.0.0.1:0', seeds: [srv.addr] });
  const e = await pul.resolve('echo', { timeoutMs: 10_000 });
  return {
    call: (s) => e.echo(s),
    stream: (n) => e.items(n),
    bulk: (big) => e.$with({ timeoutMs: 60_000 }).size(big),
    close: async () => { await pul.shutdown(); srv.proc.kill('SIGTERM'); },
  };
}

const systems = { 'raw Node TCP': raw, pulsing, 'Moleculer (TCP)': moleculer, 'grpc-js': grpcJs };
const only = process.env.PEERS_ONLY?.split(',');
const results = {};
const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
console.log(JSON.stringify({ machine }));
for (const [name, make] of Object.entries(systems)) {
  if (only && !only.some((o) => name.toLowerCase().includes(o))) continue;
  const sys = await make();
  const r = await measure(sys);
  await sys.close();
  results[name] = r;
  for (const [k, v] of Object.entries(r)) console.log(JSON.stringify({ system: name, name: k, value: Math.round(v * 10) / 10 }));
}

const fmt = (v, unit) => (v === undefined ? '' : unit === 'us' ? `${Math.round(v)} µs` : unit === 'mb' ? `${Math.round(v)} MB/s` : `${Math.round(v / 1000)}k`);
const names = Object.keys(results);
const rows = [
  ['ask p50, sequential', 'ask_p50_us', 'us'],
  ['ask p99', 'ask_p99_us', 'us'],
  ['asks/s, 256 in flight', 'asks_per_s_256', 'k'],
  ['stream items/s', 'stream_items_per_s', 'k'],
  ['64 MiB one way', 'bulk_64mib_mb_s', 'mb'],
];
console.log(`\nMachine: ${machine}\n`);
console.log(`| | ${names.join(' | ')} |`);
console.log(`|---|${names.map(() => '---').join('|')}|`);
for (const [label, key, unit] of rows) console.log(`| ${label} | ${names.map((n) => fmt(results[n][key], unit)).join(' | ')} |`);
process.exit(0);
