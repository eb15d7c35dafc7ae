/**
 * The consumer's end of a remote stream: items that arrived and are not used yet, and the
 * credit they earn as they are used (every `creditBatch` items, or once the items used since
 * the last credit came to `creditBytes`, so a producer held by its byte window gets credit
 * back however few items that was).
 */
import { CREDIT_BATCH, CREDIT_BYTES } from './credit';

export class RemoteQueue {
  private items: unknown[] = [];
  /** The bytes each item stands for (its share of the frame it came in). */
  private sizes: number[] = [];
  private head = 0;
  private waiter: ((r: IteratorResult<unknown, unknown> | Error) => void) | null = null;
  private end: { value: unknown } | null = null;
  private error: unknown = null;
  private used = 0;
  private usedBytes = 0;
  ended = false;

  /** An item arrived, standing for `bytes` of its frame. */
  push(v: unknown, bytes: number): void {
    this.items.push(v);
    this.sizes.push(bytes);
    this.wake();
  }
  finish(v: unknown): void { this.end = { value: v }; this.wake(); }
  fail(e: unknown): void { this.error = e; this.wake(); }

  /** The next item if one is here (or the end, or the error, thrown); null when none is yet. */
  poll(): IteratorResult<unknown, unknown> | null {
    if (this.head < this.items.length) {
      const i = this.head++;
      const value = this.items[i];
      this.items[i] = undefined;
      this.used++;
      this.usedBytes += this.sizes[i];
      if (this.head === this.items.length) {
        this.items.length = 0;
        this.sizes.length = 0;
        this.head = 0;
      }
      return { done: false, value };
    }
    if (this.error !== null) { this.ended = true; throw this.error; }
    if (this.end) { this.ended = true; return { done: true, value: this.end.value }; }
    return null;
  }

  /** Credit the items used so far earned (0 while they earned none yet); counted as given. */
  creditDue(): number {
    if (this.used < CREDIT_BATCH && this.usedBytes < CREDIT_BYTES) return 0;
    const n = this.used;
    this.used = 0;
    this.usedBytes = 0;
    return n;
  }

  /** The next item, waiting for it. */
  next(): Promise<IteratorResult<unknown, unknown>> {
    const ready = this.take();
    if (ready) return ready;
    return new Promise((resolve, reject) => {
      this.waiter = (r) => (r instanceof Error ? reject(r) : resolve(r));
    });
  }

  private take(): Promise<IteratorResult<unknown, unknown>> | null {
    try {
      const r = this.poll();
      return r && Promise.resolve(r);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private wake(): void {
    const w = this.waiter;
    if (!w) return;
    this.waiter = null;
    const p = this.take()!;
    p.then(w, (e) => w(e instanceof Error ? e : new Error(String(e))));
  }
}
