// `npm run demo`: a local cluster doing real work on embedded defaults.
//
// This process is the seed node. It starts three worker nodes (child processes on loopback
// ports the OS picks), which join by gossip and host a tokenizer and four word-count shards.
// The seed streams a text through the tokenizer on one node into the shards on the others,
// then kills one worker with SIGKILL mid-run: its pending call fails at once (its connection
// closed: ConnectionFailed; a partitioned node would be declared dead: NodeDown),
// the survivors drop it, its shard is respawned on another node, and the work carries on.
// Last, a client process that is not a node (Connect) reads the results through a gateway.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as pul from '../dist/index.mjs';
import { RShard, RTokenizer } from './demo-actors.mjs';

const TEXT = `Actors keep private state and handle one message at a time. Messages flow through
mailboxes; a full mailbox pushes back instead of dropping. Nodes find each other by gossip,
probe each other, and declare a silent node dead; calls pending on a dead node fail at once.
Streams carry tokens one by one under flow control, and breaking out of a stream cancels it.`;

const log = (...a) => console.log(...a);
const children = [];
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });

const fast = { probeIntervalMs: 100, probeTimeoutMs: 60, suspicionTimeoutMs: 500, syncIntervalMs: 100 };
const system = await pul.init({ addr: '127.0.0.1:0', membership: fast });
log(`seed node ${system.nodeId} listening on ${system.addr}`);

function startNode(args) {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./demo-node.mjs', import.meta.url)), '--seeds', system.addr, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => { if (String(d).includes('ready')) resolve(child); });
    child.on('exit', (code) => reject(new Error(`node exited early (${code})`)));
  });
}

async function until(what, cond, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const t0 = Date.now();
const [n1, n2, n3] = await Promise.all([
  startNode(['--tokenizer']),
  startNode(['--shard', '0', '--shard', '1']),
  startNode(['--shard', '2', '--shard', '3']),
]);
await until('4 members', async () => (await system.members()).length === 4);
log(`cluster formed in ${Date.now() - t0} ms: ${(await system.members()).map((m) => m.addr).join(', ')}`);

const tokenizer = await RTokenizer.resolve('tokenizer', { timeoutMs: 5000 });
const shards = await Promise.all([0, 1, 2, 3].map((i) => RShard.resolve(`shard/${i}`, { timeoutMs: 5000 })));
for (const [i, s] of shards.entries()) log(`  shard/${i} lives on pid ${(await s.host()).pid}`);
const shardOf = (w) => [...w].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) >>> 0, 7) % 4;

async function count(text) {
  let n = 0;
  for await (const word of tokenizer.words(text)) { // a stream from another process
    await shards[shardOf(word)].add(word);          // calls to two more processes
    n++;
  }
  return n;
}

// The demo checks what it shows: a wrong count or a wrong failure fails `npm run demo`.
function check(ok, what) {
  if (!ok) throw new Error(`demo check failed: ${what}`);
}
const words = TEXT.toLowerCase().match(/[a-z]+/g);
const first = await count(TEXT);
check(first === words.length, `streamed ${first} words, the text has ${words.length}`);
log(`streamed ${first} words across nodes`);

// Kill the node hosting shards 2 and 3 while a call to it is pending.
const victim = (await shards[2].host()).nodeId;
const pending = shards[2].stall().catch((e) => e);
const killedAt = Date.now();
n3.kill('SIGKILL');
const err = await pending;
log(`killed pid ${n3.pid}: its pending call failed after ${Date.now() - killedAt} ms with ${err.constructor.name} (${err.kind})`);
check(err instanceof pul.PulsingRuntimeError && err.kind === 'ConnectionFailed', `the pending call failed with ${err.kind ?? err}, not ConnectionFailed (its connection closed)`);
await until('the survivors to drop it', async () => !(await system.members()).some((m) => m.nodeId === victim));
log(`members now: ${(await system.members()).length}`);

// Respawn the lost shards on the surviving workers and carry on.
shards[2] = await RShard.spawn({ name: 'shard/2', placement: 'remote' });
shards[3] = await RShard.spawn({ name: 'shard/3', placement: 'remote' });
log(`shards 2 and 3 respawned on pids ${(await shards[2].host()).pid} and ${(await shards[3].host()).pid}`);
const second = await count(TEXT);
check(second === words.length, `streamed ${second} more words, the text has ${words.length}`);
log(`streamed ${second} more words`);
// Shards 0 and 1 kept their counts; 2 and 3 started over on their new nodes.
const kept = words.filter((w) => shardOf(w) < 2).length;
const totals = await Promise.all(shards.map((s) => s.total()));
check(totals.reduce((a, b) => a + b, 0) === kept + words.length, `the shards hold ${totals.join('+')} words, not ${kept} kept + ${words.length}`);

const tops = (await Promise.all(shards.map((s) => s.top(3)))).flat().sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 6);
log('top words:', tops.map(([w, n]) => `${w}×${n}`).join(', '));

// A client outside the cluster (Connect): it reaches every shard through one gateway node.
{
  const client = spawn(process.execPath, [fileURLToPath(new URL('./demo-client.mjs', import.meta.url)), system.addr], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(client);
  let out = '';
  client.stdout.on('data', (d) => { out += d; });
  const code = await new Promise((r) => client.on('exit', r));
  if (code !== 0) throw new Error(`the Connect client failed (${code})`);
  const r = JSON.parse(out);
  const expected = (await Promise.all(shards.map((s) => s.top(2)))).flat();
  check(JSON.stringify(r.top) === JSON.stringify(expected), `the client read ${JSON.stringify(r.top)}, the shards hold ${JSON.stringify(expected)}`);
  log(`a Connect client (pid ${client.pid}, not a member: still ${(await system.members()).length} members) read the shards on pids ${r.hostPids.join(', ')} through ${r.gateway}, then exited by itself`);
}

for (const c of [n1, n2]) c.kill('SIGTERM'); // graceful leave
await until('the workers to leave', async () => (await system.members()).length === 1, 5000);
await pul.shutdown();
log('all nodes shut down cleanly');
