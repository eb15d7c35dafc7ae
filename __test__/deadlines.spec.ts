// The deadlines of pending remote calls with the default timeout share one Node timer.
import { describe, it, expect, vi } from 'vitest';
import { Deadlines } from '../dist/deadlines.js';
import * as pul from '../dist/index.js';
import { startNode, waitFor } from './helpers';

interface Item { id: number; timer: unknown; slot: number }
const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('deadlines', () => {
  it('expires the calls still waiting, in order, and only those', async () => {
    const expired: number[] = [];
    const d = new Deadlines<Item>(40, (it) => expired.push(it.id));
    const items = Array.from({ length: 300 }, (_, id) => ({ id, timer: undefined as unknown, slot: 0 }));
    for (const it of items) d.add(it);
    // Most are answered, out of order too: the queue drops them without waiting for them.
    for (const it of items) if (it.id !== 7 && it.id !== 150 && it.id !== 299) d.settled(it);
    expect(d.waiting).toBe(3);
    // Answered calls are not kept: the queue compacted to little more than what waits.
    expect(d.slots).toBeLessThan(64);
    await waitFor(() => expired.length === 3, 2000, 'three expired');
    expect(expired).toEqual([7, 150, 299]);
    expect(items.every((it) => it.timer === undefined)).toBe(true);
    expect(d.waiting).toBe(0);
  });

  it('keeps no more slots than twice what waits, with many calls in flight answered in order', () => {
    const d = new Deadlines<Item>(30_000, () => {});
    const inFlight: Item[] = [];
    let most = 0;
    for (let id = 0; id < 20_000; id++) {
      const it = { id, timer: undefined as unknown, slot: 0 };
      d.add(it);
      inFlight.push(it);
      if (inFlight.length > 256) d.settled(inFlight.shift()!);
      most = Math.max(most, d.slots);
    }
    expect(d.waiting).toBe(256);
    expect(most).toBeLessThanOrEqual(2 * 256 + 1);
    for (const it of inFlight) d.settled(it);
    expect(d.waiting).toBe(0);
    d.close();
  });

  it('keeps the process alive only while a call waits', () => {
    const before = timeouts();
    const d = new Deadlines<Item>(30_000, () => {});
    const a = { id: 1, timer: undefined as unknown, slot: 0 };
    d.add(a);
    expect(timeouts()).toBe(before + 1);
    d.settled(a);
    // Answered: the armed timer no longer holds the process.
    expect(timeouts()).toBe(before);
    d.settled(a); // twice is harmless
    expect(d.waiting).toBe(0);
    const b = { id: 2, timer: undefined as unknown, slot: 0 };
    d.add(b);
    expect(timeouts()).toBe(before + 1);
    d.close();
    expect(timeouts()).toBe(before);
  });

  it('a call added later keeps its own, later deadline', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    try {
      const expired: number[] = [];
      const d = new Deadlines<Item>(30, (it) => expired.push(it.id));
      d.add({ id: 1, timer: undefined, slot: 0 });
      vi.advanceTimersByTime(15);
      d.add({ id: 2, timer: undefined, slot: 0 });
      vi.advanceTimersByTime(16);
      expect(expired).toEqual([1]);
      expect(d.waiting).toBe(1);
      vi.advanceTimersByTime(13);
      expect(expired).toEqual([1]);
      vi.advanceTimersByTime(2);
      expect(expired).toEqual([1, 2]);
      expect(d.waiting).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a remote call with the default timeout fails with PulsingTimeoutError; the others are answered', async () => {
    const child = await startNode(['--name', 'dl']);
    await pul.init({ addr: '127.0.0.1:0', seeds: [child.addr], defaultTimeoutMs: 300 });
    try {
      class Worker { hang(): Promise<never> { return new Promise(() => {}); } echo<T>(x: T): T { return x; } }
      const w = await pul.remote(Worker, { className: 'fixtures/Worker' }).resolve('dl', { timeoutMs: 10_000 });
      const t0 = performance.now();
      const hung = w.hang().catch((e: unknown) => e);
      for (let i = 0; i < 50; i++) expect(await w.echo(i)).toBe(i);
      const e = await hung;
      expect(e).toBeInstanceOf(pul.PulsingTimeoutError);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
      expect(await w.echo('after')).toBe('after');
    } finally {
      await pul.shutdown();
    }
  });
});
