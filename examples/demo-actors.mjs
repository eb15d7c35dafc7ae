// Actor classes of the demo. Every node imports this module, so any node can host them
// (remote spawn finds a class by its className on the target node).
import * as pul from '../dist/index.mjs';

class Tokenizer {
  async *words(text) {
    const words = text.toLowerCase().match(/[a-z]+/g) ?? [];
    for (const w of words) yield w;
    return words.length;
  }
}

class Shard {
  counts = new Map();
  add(word) { this.counts.set(word, (this.counts.get(word) ?? 0) + 1); return this.counts.get(word); }
  total() { let n = 0; for (const c of this.counts.values()) n += c; return n; }
  top(n) { return [...this.counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, n); }
  host() { return { pid: process.pid, nodeId: pul.getSystem().nodeId }; }
  stall() { return new Promise(() => {}); }
}

export const RTokenizer = pul.remote(Tokenizer, { className: 'demo/Tokenizer' });
export const RShard = pul.remote(Shard, { className: 'demo/Shard' });
