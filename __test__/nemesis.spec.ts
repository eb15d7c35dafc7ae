// The randomized fault test of queues (scripts/nemesis.mjs), short: node processes killed -9,
// stopped gracefully and restarted at random while a writer and a consumer group run, then a
// checker over the history. `npm run test:nemesis` runs it longer. The seed is printed: a
// failing run is replayed with `node scripts/nemesis.mjs --seed <seed>`.
import { describe, it, expect } from 'vitest';
import { runNode } from './helpers';

describe('queues under random faults', () => {
  it('lose no acknowledged record, invent none, and keep the order within each bucket', async () => {
    // With retention (trimAcked): buckets move, merge and come back from disk trimmed.
    // `npm run test:nemesis` runs without it, longer.
    const run = runNode(['scripts/nemesis.mjs', '--seconds', '15', '--trim', '--json']);
    const { code, stdout, stderr } = await run.done;
    const seedLine = stdout.split('\n').find((l) => l.startsWith('nemesis: seed')) ?? '(no seed printed)';
    console.log(seedLine);
    const summary = stdout.split('\n').find((l) => l.startsWith('{'));
    expect(summary, `${stdout}\n${stderr}`).toBeDefined();
    const s = JSON.parse(summary!) as Record<string, number>;
    console.log(summary);
    expect(s.acknowledged, seedLine).toBeGreaterThan(0);
    expect(s.trimmed, `${seedLine}: records trimmed`).toBeGreaterThan(0);
    expect({ lost: s.lost, phantom: s.phantom, outOfOrder: s.outOfOrder, wrongBucket: s.wrongBucket }, seedLine).toEqual({ lost: 0, phantom: 0, outOfOrder: 0, wrongBucket: 0 });
    expect(code, `${seedLine}\n${stdout}\n${stderr}`).toBe(0);
  }, 240_000);
});
