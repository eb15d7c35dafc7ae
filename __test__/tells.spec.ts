// A tell has nobody to answer, so its failure must still be seen: as a process warning
// (PULSING_TELL_ERROR), on the node that ran it. A tell whose method returns nothing takes
// a shortcut (no promise per message): these tests hold that it still runs every message,
// in order, and that failures, sync or async, local or remote, are not lost on it.
import { describe, it, expect, afterEach } from 'vitest';
import * as pul from '../dist/index.js';
import { waitFor } from './helpers';

class Box extends pul.Actor {
  seen: unknown[] = [];
  receive(msg: unknown): unknown {
    const m = msg as { op: string; v?: unknown };
    if (m.op === 'put') { this.seen.push(m.v); return undefined; }
    if (m.op === 'value') { this.seen.push(m.v); return m.v; }
    if (m.op === 'throw') throw new Error(`sync failure ${String(m.v)}`);
    if (m.op === 'reject') return Promise.reject(new Error(`async failure ${String(m.v)}`));
    return this.seen;
  }
}

const warnings: string[] = [];
const onWarning = (w: Error & { code?: string }) => { if (w.code === 'PULSING_TELL_ERROR') warnings.push(w.message); };
const systems: pul.ActorSystem[] = [];

afterEach(async () => {
  process.off('warning', onWarning);
  warnings.length = 0;
  await Promise.all(systems.splice(0).map((s) => s.shutdown()));
});

async function tellAll(ref: pul.ActorRef): Promise<void> {
  // void results, a value, both kinds of failure, in one burst: every one is told.
  for (let i = 0; i < 50; i++) await ref.tell({ op: 'put', v: i });
  await ref.tell({ op: 'value', v: 'x' });
  await ref.tell({ op: 'throw', v: 1 });
  await ref.tell({ op: 'reject', v: 2 });
  await ref.tell({ op: 'put', v: 'last' });
}

function expectAll(seen: unknown): void {
  expect(seen).toEqual([...Array.from({ length: 50 }, (_, i) => i), 'x', 'last']);
}

describe('tells', () => {
  it('local: every tell runs in order; a sync throw and an async rejection each warn once', async () => {
    process.on('warning', onWarning);
    const sys = await pul.actorSystem();
    systems.push(sys);
    const ref = await sys.spawn(new Box(), { name: 'box' });
    await tellAll(ref);
    expectAll(await ref.ask({ op: 'seen' }));
    await waitFor(() => warnings.length >= 2, 5000, 'two tell warnings');
    expect(warnings.some((w) => w.includes('sync failure 1'))).toBe(true);
    expect(warnings.some((w) => w.includes('async failure 2'))).toBe(true);
    expect(warnings).toHaveLength(2);
  });

  it('remote: the node that ran the tells warns of their failures; the rest all ran, in order', async () => {
    process.on('warning', onWarning);
    const callee = await pul.actorSystem({ addr: '127.0.0.1:0' });
    systems.push(callee);
    const caller = await pul.actorSystem({ addr: '127.0.0.1:0', seeds: [callee.addr!] });
    systems.push(caller);
    await callee.spawn(new Box(), { name: 'rbox' });
    await waitFor(async () => (await caller.members()).length === 2, 10_000, 'two members');
    const ref = await caller.resolve('rbox', { timeoutMs: 10_000 });
    await tellAll(ref);
    expectAll(await ref.ask({ op: 'seen' }));
    await waitFor(() => warnings.length >= 2, 5000, 'two tell warnings');
    expect(warnings.filter((w) => w.includes('sync failure 1'))).toHaveLength(1);
    expect(warnings.filter((w) => w.includes('async failure 2'))).toHaveLength(1);
    expect(warnings.every((w) => w.includes('rbox'))).toBe(true);
  });
});
