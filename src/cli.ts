#!/usr/bin/env node
/**
 * `npx pulsing`: look at a running cluster and host actors from the command line.
 *
 * - `inspect cluster|actors|metrics --seeds host:port[,...] [--json]`: an observer over the
 *   nodes' HTTP surface (it never joins gossip); the first seed that answers is asked.
 * - `inspect watch --seeds ...`: the same, live in the terminal, until Ctrl-C.
 * - `actor <module>#<Export> --addr --seeds --name [--passphrase]`: host an actor class
 *   exported by a module, as a node of the cluster.
 * - `demo`: the project's demo (a local cluster doing real work).
 *
 * Exit codes: 0 done, 1 failed (nothing answered, an actor could not start), 2 bad usage.
 * Errors go to stderr; `--json` output to stdout is one JSON document.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';

const USAGE: Record<string, string> = {
  main: `usage: pulsing <command> [options]

commands:
  inspect cluster   members of a cluster and their status
  inspect actors    named actors: node, mailbox depth, messages handled, errors
  inspect queues    queue buckets (owner, replicas, records, groups' lag) and topics
  inspect metrics   the Prometheus metrics of a node
  inspect watch     members and actors, live
  actor             host an actor class from a module as a cluster node
  demo              run the demo: a local cluster doing real work

Run "pulsing <command> --help" for a command's options.`,
  inspect: `usage: pulsing inspect <cluster|actors|queues|metrics|watch> --seeds host:port[,...] [options]

Asks the first seed that answers over HTTP (it never joins the cluster).

options:
  --seeds <list>        nodes to ask, comma separated (required)
  --json                print JSON (cluster, actors, queues, metrics)
  --passphrase <p>      the cluster's passphrase (sends the bearer token derived from it)
  --token <t>           the bearer token itself
  --timeout-ms <n>      how long to wait for a node (default 3000)
  --interval-ms <n>     watch: time between refreshes (default 1000)
  -h, --help            this text`,
  actor: `usage: pulsing actor <module>#<Export> --name <name> [options]

Hosts the actor class <Export> of <module> (a path or a package) as a node of the cluster,
under <name>, until interrupted.

options:
  --name <name>         the actor's name (required)
  --addr <host:port>    where the node listens (default 127.0.0.1:0)
  --seeds <list>        nodes to join, comma separated
  --passphrase <p>      the cluster's passphrase
  -h, --help            this text`,
  demo: `usage: pulsing demo

Runs a small local cluster doing real work (the project's examples/demo.mjs).`,
};

/**
 * Load a user's module (ES or CommonJS) by URL or package name. A real `import()`: this file
 * is compiled to CommonJS, where TypeScript would turn `import()` into `require()`, which
 * cannot load an ES module.
 */
const importModule = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<Record<string, unknown>>;

/** A usage error: printed with the command's usage, exit code 2. */
class Usage extends Error {}

type Parsed = { values: Record<string, string | boolean | undefined>; positionals: string[] };

function parse(args: string[], options: NonNullable<ParseArgsConfig['options']>, usage: string): Parsed {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true }) as Parsed;
  } catch (e) {
    throw new Usage(`${(e as Error).message}\n\n${usage}`);
  }
}

function seedsOf(v: unknown, usage: string): string[] {
  const seeds = typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : [];
  if (seeds.length === 0) throw new Usage(`--seeds is required\n\n${usage}`);
  for (const s of seeds) if (!/^[^\s:]+:\d+$/.test(s)) throw new Usage(`--seeds: expected host:port, got ${JSON.stringify(s)}`);
  return seeds;
}

function count(v: unknown, flag: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Usage(`${flag} must be a whole number of milliseconds, got ${JSON.stringify(v)}`);
  return n;
}

/** GET `path` from the first of `seeds` that answers; every seed's failure otherwise. */
async function fetchFirst(seeds: string[], path: string, headers: Record<string, string>, timeoutMs: number): Promise<Response> {
  const why: string[] = [];
  for (const seed of seeds) {
    try {
      const r = await fetch(`http://${seed}${path}`, { headers, signal: AbortSignal.timeout(timeoutMs) });
      if (r.status === 401) throw new Error('401 unauthorized (pass --passphrase or --token)');
      if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
      return r;
    } catch (e) {
      why.push(`${seed}: ${(e as Error).message}${(e as { cause?: Error }).cause ? ` (${(e as { cause: Error }).cause.message})` : ''}`);
    }
  }
  throw new Error(`no seed answered ${path}: ${why.join('; ')}`);
}

type Member = { nodeId: string; addr: string | null; status: string };
type Figure = number | null | undefined;
type Named = { name: string; instances: { nodeId: string; actorId: string; metadata: Record<string, string>; mailboxDepth?: Figure; handled?: Figure; errors?: Figure }[] };
const fig = (v: Figure) => (typeof v === 'number' ? String(v) : '-');

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

const membersTable = (ms: Member[]) => table([['NODE', 'ADDRESS', 'STATUS'], ...ms.map((m) => [m.nodeId, m.addr ?? '', m.status])]);
type QueuesAnswer = {
  queues: { name: string; buckets: { bucket: number; owner: string | null; replicas: string[]; records: number; bytes: number; groups: { group: string; lag: number }[] }[] }[];
  topics: { name: string; nodes: { nodeId: string; subscribers: number; waiting: number }[] }[];
  unanswered: string[];
};
const queuesTable = (q: QueuesAnswer) => [
  table([
    ['QUEUE', 'BUCKET', 'OWNER', 'REPLICAS', 'RECORDS', 'BYTES', 'GROUPS (LAG)'],
    ...q.queues.flatMap((x) => x.buckets.map((b) => [x.name, String(b.bucket), b.owner ?? '-', b.replicas.join(',') || '-', String(b.records), String(b.bytes), b.groups.map((g) => `${g.group} (${g.lag})`).join(', ') || '-'])),
  ]),
  table([['TOPIC', 'NODE', 'SUBSCRIBERS', 'WAITING'], ...q.topics.flatMap((t) => t.nodes.map((n) => [t.name, n.nodeId, String(n.subscribers), String(n.waiting)]))]),
  ...(q.unanswered.length ? [`(no answer from ${q.unanswered.join(', ')})`] : []),
].join('\n\n');
const actorsTable = (as: Named[]) => table([
  ['NAME', 'NODE', 'ACTOR', 'MAILBOX', 'HANDLED', 'ERRORS'],
  ...as.flatMap((a) => a.instances.map((i) => [a.name, i.nodeId, i.actorId, fig(i.mailboxDepth), fig(i.handled), fig(i.errors)])),
]);

/** Prometheus text as `[{ name, labels, value }]` (the samples; comments skipped). */
function samples(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || line.startsWith('#')) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

async function inspect(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    seeds: { type: 'string' }, json: { type: 'boolean' }, passphrase: { type: 'string' }, token: { type: 'string' },
    'timeout-ms': { type: 'string' }, 'interval-ms': { type: 'string' },
  }, USAGE.inspect);
  if (values.help) {
    console.log(USAGE.inspect);
    return 0;
  }
  const what = positionals[0];
  if (!['cluster', 'actors', 'queues', 'metrics', 'watch'].includes(what ?? '') || positionals.length > 1) {
    throw new Usage(`inspect: expected cluster, actors, queues, metrics or watch, got ${JSON.stringify(positionals.join(' '))}\n\n${USAGE.inspect}`);
  }
  const seeds = seedsOf(values.seeds, USAGE.inspect);
  const timeoutMs = count(values['timeout-ms'], '--timeout-ms', 3000);
  let token = values.token as string | undefined;
  if (values.passphrase !== undefined) token = (await import('./index')).httpToken(values.passphrase as string);
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const get = async (path: string) => fetchFirst(seeds, path, headers, timeoutMs);
  if (what === 'cluster') {
    const ms = (await (await get('/cluster/members')).json()) as Member[];
    console.log(values.json ? JSON.stringify(ms) : membersTable(ms));
  } else if (what === 'queues') {
    const q = (await (await get('/queues')).json()) as QueuesAnswer;
    console.log(values.json ? JSON.stringify(q) : queuesTable(q));
  } else if (what === 'actors') {
    const as = (await (await get('/actors')).json()) as Named[];
    console.log(values.json ? JSON.stringify(as) : actorsTable(as));
  } else if (what === 'metrics') {
    const text = await (await get('/metrics')).text();
    console.log(values.json ? JSON.stringify(samples(text)) : text.trimEnd());
  } else {
    const every = count(values['interval-ms'], '--interval-ms', 1000);
    // Ctrl-C (or SIGTERM) is how a watch ends: the screen stays, the exit code is 0.
    let stopped = false;
    let wake = () => {};
    const stop = () => { stopped = true; wake(); };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    while (!stopped) {
      let screen: string;
      try {
        const [ms, as] = await Promise.all([get('/cluster/members').then((r) => r.json() as Promise<Member[]>), get('/actors').then((r) => r.json() as Promise<Named[]>)]);
        screen = `${new Date().toISOString()}  ${ms.filter((m) => m.status === 'alive').length}/${ms.length} members alive\n\n${membersTable(ms)}\n\n${as.length ? actorsTable(as) : '(no named actors)'}`;
      } catch (e) {
        screen = `${new Date().toISOString()}  ${(e as Error).message}`;
      }
      if (stopped) break;
      process.stdout.write(`\x1b[2J\x1b[H${screen}\n`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, every);
        wake = () => { clearTimeout(t); r(); };
      });
    }
  }
  return 0;
}

async function actor(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    name: { type: 'string' }, addr: { type: 'string' }, seeds: { type: 'string' }, passphrase: { type: 'string' },
  }, USAGE.actor);
  if (values.help) {
    console.log(USAGE.actor);
    return 0;
  }
  const spec = positionals[0] ?? '';
  const hash = spec.lastIndexOf('#');
  if (positionals.length !== 1 || hash <= 0 || hash === spec.length - 1) throw new Usage(`actor: expected <module>#<Export>, got ${JSON.stringify(positionals.join(' '))}\n\n${USAGE.actor}`);
  if (typeof values.name !== 'string' || values.name === '') throw new Usage(`--name is required\n\n${USAGE.actor}`);
  const [file, exported] = [spec.slice(0, hash), spec.slice(hash + 1)];
  // A path (relative to the working directory) or a package name.
  const local = resolvePath(file);
  const mod = await importModule(existsSync(local) ? pathToFileURL(local).href : file);
  const cls = mod[exported];
  if (typeof cls !== 'function') throw new Error(`${file} has no class export ${exported} (it exports: ${Object.keys(mod).join(', ') || 'nothing'})`);
  const pul = await import('./index');
  const seeds = values.seeds === undefined ? [] : seedsOf(values.seeds, USAGE.actor);
  const system = await pul.init({ addr: (values.addr as string | undefined) ?? '127.0.0.1:0', seeds, passphrase: values.passphrase as string | undefined });
  // Already an actor class (`remote()` applied in the module), or a plain class to make one.
  type Spawnable = { spawn(opts: { name: string }): Promise<unknown> };
  const ActorCls = ('spawn' in cls && 'resolve' in cls ? cls : pul.remote(cls as new (...a: never[]) => object)) as unknown as Spawnable;
  await ActorCls.spawn({ name: values.name as string });
  console.log(JSON.stringify({ addr: system.addr, nodeId: system.nodeId, name: values.name }));
  const stop = () => { void pul.shutdown().then(() => process.exit(0)); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return new Promise<number>(() => {}); // until interrupted
}

async function demo(args: string[]): Promise<number> {
  const { values } = parse(args, {}, USAGE.demo);
  if (values.help) {
    console.log(USAGE.demo);
    return 0;
  }
  const script = join(__dirname, '..', 'examples', 'demo.mjs');
  if (!existsSync(script)) throw new Error(`the demo is not installed with this package (${script})`);
  const child = spawn(process.execPath, [script], { stdio: 'inherit' });
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
}

/** Run the CLI with `argv` (without node and the script); the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'inspect': return await inspect(rest);
      case 'actor': return await actor(rest);
      case 'demo': return await demo(rest);
      case undefined: case '-h': case '--help': case 'help':
        console.log(USAGE.main);
        return command === undefined ? 2 : 0;
      default:
        throw new Usage(`unknown command ${JSON.stringify(command)}\n\n${USAGE.main}`);
    }
  } catch (e) {
    console.error(`pulsing: ${(e as Error).message}`);
    return e instanceof Usage ? 2 : 1;
  }
}

if (require.main === module) {
  // `pulsing inspect ... | head`: a closed pipe ends the output, not with a crash.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(0); throw e; });
  void main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
