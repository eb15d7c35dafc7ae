/**
 * What each named TypeScript actor did: messages handled, errors, restarts, mailbox depth and
 * a latency histogram. A cell counts into its {@link CellStats} on the hot path (an increment
 * and a branch); one call in {@link SAMPLE_EVERY} is timed, because reading the clock twice per
 * call would cost more than the 5% the metrics may take of a local call.
 *
 * The core serves `/metrics`, so the figures must reach it: {@link StatsReporter} sends the
 * cells that changed, once a second on a listening node and before every `system.metrics()`,
 * in one packed call.
 */
import type { NativeSystem } from './native';

/** Upper bounds of the latency buckets, in ms (`+Inf` follows); the core's, in seconds. */
export const LATENCY_BUCKETS_MS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 50, 100, 500, 1000, 5000, 10000] as const;
/** One call in this many is timed (a power of two). */
export const SAMPLE_EVERY = 16;
/** Numbers per actor in a report: depth, handled, errors, restarts, sum, count, buckets. */
const ROW = 6 + LATENCY_BUCKETS_MS.length + 1;
/** How often a listening node sends its cells' figures to the core. */
const REPORT_INTERVAL_MS = 1000;

/** One named cell's counters. */
export class CellStats {
  handled = 0;
  errors = 0;
  /** Changed since the last report (the cell is in the reporter's list). */
  dirty = false;
  /** Sent to the core at least once (its stop must then be reported). */
  reported = false;
  sumMs = 0;
  readonly buckets = new Float64Array(LATENCY_BUCKETS_MS.length + 1);

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
  private changed: CountedCell[] = [];
  private removed: string[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly core: NativeSystem, listening: boolean) {
    if (listening) {
      // Unref'd: the figures never keep the process alive.
      this.timer = setInterval(() => this.flush(), REPORT_INTERVAL_MS);
      this.timer.unref();
    }
  }

  /** `cell`'s figures changed (its stats were clean). */
  markChanged(cell: CountedCell): void {
    cell.stats!.dirty = true;
    this.changed.push(cell);
  }

  /** The named cell stopped for good. */
  cellGone(cell: CountedCell): void {
    if (cell.stats?.reported) this.removed.push(cell.name!);
  }

  /** Send what changed since the last report. */
  flush(): void {
    if (this.changed.length === 0 && this.removed.length === 0) return;
    const cells = this.changed.filter((c) => !c.stopped);
    const names: string[] = [];
    const locals: number[] = [];
    const values = new Float64Array(cells.length * ROW);
    cells.forEach((c, i) => {
      const s = c.stats!;
      s.dirty = false;
      s.reported = true;
      names.push(c.name!);
      locals.push(c.local);
      const o = i * ROW;
      values[o] = c.mailboxDepth;
      values[o + 1] = s.handled;
      values[o + 2] = s.errors;
      values[o + 3] = c.restartCount;
      values[o + 4] = s.sumMs;
      let count = 0;
      for (const b of s.buckets) count += b;
      values[o + 5] = count;
      values.set(s.buckets, o + 6);
    });
    for (const c of this.changed) c.stats!.dirty = false;
    const removed = this.removed;
    this.changed = [];
    this.removed = [];
    this.core.reportActorStats(names, locals, values, removed);
  }

  /** Stop reporting (shutdown). */
  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
