// `npm run demo`: a small pipeline of actors doing real work on embedded defaults.
//
// A tokenizer streams words out of a text, a pool of counter actors (sharded by word) keeps
// word counts, and a supervised "flaky" stage crashes on purpose and is restarted while the
// pipeline keeps running. Everything runs in this process on the standalone runtime.
import * as pul from '../dist/index.mjs';

const TEXT = `
Actors keep private state and handle one message at a time. Messages flow through mailboxes;
a full mailbox pushes back instead of dropping. Streams carry tokens one by one, and breaking
out of a stream cancels the producer. Supervision restarts a crashed actor with backoff.
`;

class Tokenizer {
  *words(text) {
    for (const w of text.toLowerCase().match(/[a-z]+/g) ?? []) yield w;
    return 'eof';
  }
}

class Shard {
  counts = new Map();
  add(word) { this.counts.set(word, (this.counts.get(word) ?? 0) + 1); return this.counts.get(word); }
  top(n) { return [...this.counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, n); }
  size() { return this.counts.size; }
}

let incarnations = 0;
class Flaky {
  seen = 0;
  constructor() { incarnations++; }
  check(word) {
    this.seen++;
    if (word === 'crashed') throw new pul.PulsingSystemError(`poisoned by "${word}"`, false);
    return this.seen;
  }
}

const RTokenizer = pul.remote(Tokenizer, { className: 'demo/Tokenizer' });
const RShard = pul.remote(Shard, { className: 'demo/Shard' });
const RFlaky = pul.remote(Flaky, { className: 'demo/Flaky', restartPolicy: 'on-failure', maxRestarts: 3, minBackoffMs: 10 });

const system = await pul.init();
console.log(`node ${system.nodeId} up (standalone)`);

const SHARDS = 4;
const tokenizer = await RTokenizer.spawn({ name: 'tokenizer' });
const shards = await Promise.all(Array.from({ length: SHARDS }, (_, i) => RShard.spawn({ name: `shard/${i}` })));
const flaky = await RFlaky.spawn({ name: 'flaky' });
const shardOf = (w) => [...w].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) >>> 0, 7) % SHARDS;

let words = 0;
let crashes = 0;
const t0 = performance.now();
for await (const word of tokenizer.words(TEXT)) {
  words++;
  await shards[shardOf(word)].add(word);
  try { await flaky.check(word); } catch (e) { crashes++; console.log(`  flaky stage crashed (${e.message}); supervisor restarts it`); }
}
const ms = performance.now() - t0;

const tops = (await Promise.all(shards.map((s) => s.top(3)))).flat().sort((a, b) => b[1] - a[1]).slice(0, 5);
console.log(`streamed ${words} words through ${SHARDS} shards in ${ms.toFixed(1)} ms`);
console.log('top words:', tops.map(([w, n]) => `${w}×${n}`).join(', '));
console.log(`flaky stage: ${crashes} crash(es), ${incarnations} incarnation(s), still answering: ${await flaky.check('ok') >= 1}`);

const named = await system.allNamedActors();
console.log(`named actors: ${named.map((n) => n.name).join(', ')}`);

// Throughput of the local hot path, for a feel of the numbers.
const counter = shards[0];
const N = 200_000;
const t1 = performance.now();
for (let i = 0; i < N; i++) await counter.size();
console.log(`${N} sequential local asks: ${(N / ((performance.now() - t1) / 1000) / 1e6).toFixed(2)} M/s`);

await pul.shutdown();
console.log('shut down cleanly');
