/**
 * What each named TypeScript actor did: messages handled, errors, restarts, mailbox depth and
 * a latency histogram. A cell counts into its {@link CellStats} on the hot path (one increment
 * and one test); one call in {@link SAMPLE_EVERY} is timed, because reading the clock costs
 * more than a local call itself (`performance.now()` twice is ~20× the 5% the metrics may take).
 *
 * The core serves `/metrics`, so the figures must reach it: {@link StatsReporter} sends the
 * cells whose figures changed, once a second on a listening node and before every
 * `system.metrics()`, in one packed call. It finds them by comparing with what it sent last,
 * so the hot path never has to say that something changed.
 */
import type { NativeSystem } from './native';

/** Upper bounds of the latency buckets, in ms (`+Inf` follows); the core's, in seconds. */
export const LATENCY_BUCKETS_MS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 50, 100, 500, 1000, 5000, 10000] as const;
/** One call in this many is timed (a power of two). */
export const SAMPLE_EVERY = 128;
/** Numbers per actor in a report: depth, handled, errors, restarts, sum, count, buckets. */
const ROW = 6 + LATENCY_BUCKETS_MS.length + 1;
/** How often a listening node sends its cells' figures to the core. */
const REPORT_INTERVAL_MS = 1000;

/** One named cell's counters. */
export class CellStats {
  handled = 0;
  errors = 0;
  sumMs = 0;
  readonly buckets = new Float64Array(LATENCY_BUCKETS_MS.length + 1);
  /**
   * What the last report sent: handled, errors, restarts, depth. Zeros at first: an actor
   * that did nothing is not sent (with many idle named actors, nothing to carry).
   */
  readonly sent = [0, 0, 0, 0];
  /** Sent at least once (its stop must then be reported). */
  reported = false;

  /** Whether this call (the `handled`-th) is one of those timed. */
  static sampled(handled: number): boolean {
    return (handled & (SAMPLE_EVERY - 1)) === 0;
  }

  /** A timed call took `ms`. */
  observe(ms: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS_MS.length && ms > LATENCY_BUCKETS_MS[i]) i++;
    this.buckets[i]++;
    this.sumMs += ms;
  }
}

/** What the reporter reads of a cell. */
export interface CountedCell {
  readonly name: string | undefined;
  readonly local: number;
  readonly stopped: boolean;
  readonly stats: CellStats | null;
  readonly mailboxDepth: number;
  readonly restartCount: number;
}

/** Sends changed cells' figures to the core. */
export class StatsReporter {
  private readonly cells = new Set<CountedCell>();
  private removed: string[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly core: NativeSystem, listening: boolean) {
    if (listening) {
      // Unref'd: the figures never keep the process alive.
      this.timer = setInterval(() => this.flush(), REPORT_INTERVAL_MS);
      this.timer.unref();
    }
  }

  /** A named, counted cell started: report it from now on (once it has done something). */
  add(cell: CountedCell): void {
    this.cells.add(cell);
  }

  /** The named cell stopped for good. */
  cellGone(cell: CountedCell): void {
    if (!this.cells.delete(cell)) return;
    if (cell.stats!.reported) this.removed.push(cell.name!);
  }

  /** Send what changed since the last report. */
  flush(): void {
    const changed: CountedCell[] = [];
    for (const c of this.cells) {
      const s = c.stats!;
      const t = s.sent;
      if (t[0] !== s.handled || t[1] !== s.errors || t[2] !== c.restartCount || t[3] !== c.mailboxDepth) changed.push(c);
    }
    if (changed.length === 0 && this.removed.length === 0) return;
    const names: string[] = [];
    const locals: number[] = [];
    const values = new Float64Array(changed.length * ROW);
    changed.forEach((c, i) => {
      const s = c.stats!;
      s.reported = true;
      names.push(c.name!);
      locals.push(c.local);
      const o = i * ROW;
      values[o] = s.sent[3] = c.mailboxDepth;
      values[o + 1] = s.sent[0] = s.handled;
      values[o + 2] = s.sent[1] = s.errors;
      values[o + 3] = s.sent[2] = c.restartCount;
      values[o + 4] = s.sumMs;
      let count = 0;
      for (const b of s.buckets) count += b;
      values[o + 5] = count;
      values.set(s.buckets, o + 6);
    });
    const removed = this.removed;
    this.removed = [];
    this.core.reportActorStats(names, locals, values, removed);
  }

  /** Stop reporting (shutdown). */
  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
