/**
 * The deadlines of many pending calls with the same timeout, kept by one Node timer.
 *
 * A Node timer per call made its own timer list each time one call was pending at a time
 * (a sequential caller): the list was created in a dictionary, put in the priority queue,
 * then deleted again as the answer came, about 2.5 us per remote ask on the 2-core bench
 * machine. Calls with the same timeout expire in the order they were made, so their
 * deadlines are a queue: one timer fires for its head, and an answered call leaves an
 * empty slot (dropped when it reaches the head, or when empty slots are most of the
 * queue). The timer keeps the process alive only while a call waits.
 */

/**
 * What a queue holds: its `timer` is the queue until the call is answered or expires, and
 * `slot` is where the queue keeps it.
 */
export interface Deadlined {
  timer: unknown;
  slot: number;
}

/** Compact the queue once it is this long and answered calls are most of it. */
const COMPACT_FROM = 64;
/** An empty queue keeps its arrays until they are this long. */
const CLEAR_FROM = 1024;

/** Pending calls with a timeout of `ms` milliseconds (at most Node's longest timer). */
export class Deadlines<T extends Deadlined> {
  /**
   * The calls in the order they were added; an answered one is cleared at once, so the
   * queue never keeps a call alive (a long-lived array holding young objects would make
   * the collector promote them).
   */
  private items: (T | null)[] = [];
  private ats: number[] = [];
  /** The first slot that may still wait. */
  private head = 0;
  /** Calls still waiting. */
  private live = 0;
  private timer: NodeJS.Timeout | null = null;

  /** @param expire - Told of each call whose deadline passed first (its `timer` is cleared). */
  constructor(readonly ms: number, private readonly expire: (item: T) => void) {}

  /** `item` waits from now, `ms` at most. */
  add(item: T): void {
    item.timer = this;
    item.slot = this.items.length;
    this.items.push(item);
    this.ats.push(performance.now() + this.ms);
    if (this.live++ === 0) {
      if (this.timer === null) this.arm(this.ms);
      else this.timer.ref();
    }
  }

  /** `item` (added here) was answered before its deadline. */
  settled(item: T): void {
    if (item.timer !== this) return;
    item.timer = undefined;
    this.items[item.slot] = null;
    if (--this.live === 0) {
      // Nothing waits: nothing to keep, and the armed timer no longer holds the process.
      this.clear();
      this.timer?.unref();
      return;
    }
    while (this.items[this.head] === null) this.head++;
    // Empty slots are dropped once they are most of the queue: behind its head (calls
    // answered in order, many in flight), or after it (one call waits long).
    const length = this.items.length;
    if (length >= COMPACT_FROM && this.live * 2 < length) this.compact();
  }

  /** Stop the timer (what waited was failed by the caller): nothing is kept alive by it. */
  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.items = [];
    this.ats = [];
    this.head = 0;
    this.live = 0;
  }

  /** How many calls wait (for tests). */
  get waiting(): number {
    return this.live;
  }

  /** How many slots the queue holds, empty ones included (for tests). */
  get slots(): number {
    return this.items.length;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(this.fire, ms);
  }

  private readonly fire = (): void => {
    this.timer = null;
    const now = performance.now();
    const { items, ats } = this;
    while (this.head < items.length) {
      const item = items[this.head];
      if (item === null) {
        this.head++;
        continue;
      }
      if (ats[this.head] > now) break;
      items[this.head++] = null;
      this.live--;
      item.timer = undefined;
      this.expire(item);
    }
    if (this.live === 0) {
      this.clear();
      return;
    }
    if (this.items.length >= COMPACT_FROM && this.live * 2 < this.items.length) this.compact();
    // Armed already if a call was added while expiring these (none is, today).
    if (this.timer === null) this.arm(Math.max(1, Math.ceil(this.ats[this.head] - now)));
  };

  /**
   * Nothing waits: every slot is empty. New arrays only once they are long: setting an
   * array's length is a call into the runtime, too slow for every answer.
   */
  private clear(): void {
    if (this.items.length < CLEAR_FROM) {
      this.head = this.items.length;
      return;
    }
    this.items = [];
    this.ats = [];
    this.head = 0;
  }

  /** Drop the empty slots, keeping the order of the calls that wait. */
  private compact(): void {
    const items: T[] = [];
    const ats: number[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i];
      if (item !== null) {
        item.slot = items.length;
        items.push(item);
        ats.push(this.ats[i]);
      }
    }
    this.items = items;
    this.ats = ats;
    this.head = 0;
  }
}
