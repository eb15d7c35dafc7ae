// Events reach JS in batches the runtime fills as frames are read. A backlog read at once
// (the JS thread was busy while a peer sent) must still reach JS in bounded pieces, whole
// and in order, so that one batch never holds the event loop for the whole backlog.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import * as pul from '../dist/index.js';
import { startNode, waitFor, type Child } from './helpers';

/** Events in a packed batch (the record layout of `crates/pulsing-node/src/host.rs`). */
function records(p: Buffer, start: number, end: number): number {
  let n = 0;
  for (let at = start; at < end; n++) {
    at += 35;
    at += p[at] === 0 ? 5 + p.readUInt32LE(at + 1) : 5;
    at += 2 + 4 * p.readUInt16LE(at);
  }
  return n;
}

class Sink {
  n = 0;
  /** Tells that came before one sent earlier. */
  late = 0;
  receive(m: { incr: number; i: number }): void {
    if (m.i !== this.n) this.late++;
    this.n += m.incr;
  }
  count(): { n: number; late: number } { return { n: this.n, late: this.late }; }
}
class Worker {
  tellMany(_name: string, _n: number): number { return 0; }
  echo(x: unknown): unknown { return x; }
}
const RWorker = pul.remote(Worker, { className: 'fixtures/Worker' });

let child: Child;
/** Frames this node's control lane read so far, from its /metrics (served by the runtime, not JS). */
function framesIn(): number {
  const script = `fetch('http://${pul.getSystem().addr}/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))`;
  const text = execFileSync(process.execPath, ['-e', script]).toString();
  const m = /^pulsing_frames_total\{[^}]*lane="control",direction="in"\} (\d+)$/m.exec(text);
  if (!m) throw new Error(`no control-lane frames in /metrics:\n${text}`);
  return Number(m[1]);
}
const batches: number[] = [];
/** The buffer each batch came in, with its size. */
const buffers: { p: Buffer; bytes: number }[] = [];

describe('event batches', () => {
  beforeAll(async () => {
    // Count what each batch carries, from the first one on.
    const { NativeSystem } = createRequire(import.meta.url)('../native/binding.cjs');
    const setHost = NativeSystem.prototype.setHost;
    NativeSystem.prototype.setHost = function (cb: (p: Buffer, start: number, end: number, ...rest: unknown[]) => unknown) {
      return setHost.call(this, (p: Buffer, start: number, end: number, ...rest: unknown[]) => {
        batches.push(records(p, start, end));
        buffers.push({ p, bytes: end - start });
        return cb(p, start, end, ...rest);
      });
    };
    child = await startNode(['--name', 'eb']);
    await pul.init({ addr: '127.0.0.1:0', seeds: [child.addr] });
    NativeSystem.prototype.setHost = setHost;
  });
  afterAll(async () => { await pul.shutdown(); });

  it('a backlog read while JS was busy arrives whole and in order, in batches of 4096 events at most', async () => {
    const sink = await pul.remote(Sink, { className: 'eb/Sink' }).spawn({ name: 'eb-sink' });
    const w = await RWorker.resolve('eb', { timeoutMs: 10_000 });
    const n = 30_000;
    const before = framesIn();
    const sent = w.tellMany('eb-sink', n);
    // Busy until the runtime has read them all (its own /metrics, asked from a child process
    // while this thread spins): a backlog JS could not take, however slow the machine.
    const deadline = Date.now() + 60_000;
    while (framesIn() < before + n) {
      if (Date.now() > deadline) throw new Error(`the runtime read ${framesIn() - before} of ${n} tells in 60 s`);
    }
    batches.length = 0;
    expect(await sent).toBe(n);
    await waitFor(async () => (await sink.count()).n === n, 10_000, 'every tell counted');
    expect((await sink.count()).late).toBe(0);
    expect(batches.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(n);
    // A backlog, not a trickle: it came in batches of many events, none over the bound.
    expect(Math.max(...batches)).toBeGreaterThan(500);
    expect(Math.max(...batches)).toBeLessThanOrEqual(4096);
  });

  it('small batches share a buffer, and what a value keeps of one stays as it was', async () => {
    const w = await RWorker.resolve('eb', { timeoutMs: 10_000 });
    buffers.length = 0;
    // Each reply carries a binary value decoded as a view of the batch it came in; 600 of
    // them fill several 32 KiB slabs.
    const kept: Buffer[] = [];
    for (let i = 0; i < 600; i++) {
      const r = (await w.echo({ i, bin: Buffer.alloc(200, i % 251) })) as { i: number; bin: Buffer };
      expect(r.i).toBe(i);
      kept.push(r.bin);
    }
    // A reply too large for the slab comes in a buffer of its own, and is read whole.
    const large = 'y'.repeat(6000);
    expect(await w.echo(large)).toBe(large);
    const small = buffers.filter((b) => b.bytes <= 4096);
    expect(small.length).toBeGreaterThanOrEqual(600);
    expect(new Set(small.map((b) => b.p)).size).toBeLessThan(small.length / 20);
    expect(buffers.some((b) => b.bytes > 4096 && !small.some((s) => s.p === b.p))).toBe(true);
    // No slab is written twice: every kept value still holds its own bytes.
    kept.forEach((bin, i) => {
      expect(Buffer.isBuffer(bin)).toBe(true);
      expect(bin.length).toBe(200);
      expect(bin.every((x) => x === i % 251)).toBe(true);
    });
  });
});
