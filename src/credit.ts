/**
 * Stream credit, both ends: how far a producer may run ahead of its consumer, and when the
 * consumer gives credit back. The same rules as the core's (`cluster/node/credit.rs` and
 * `calls.rs`): a window of items and a window of bytes, credit back every `creditBatch`
 * items or once the items used since the last credit came to `creditBytes`.
 */
import { protocol } from './native';

/** Items a producer may send ahead of its consumer. */
export const STREAM_WINDOW = protocol.streamWindow;
/** Credit is returned this many items at a time (half the window keeps the producer busy). */
export const CREDIT_BATCH = protocol.creditBatch;
/** Bytes (bodies and out-of-band parts) a producer may have ahead of its consumer. */
export const STREAM_WINDOW_BYTES = protocol.streamWindowBytes;
/** Credit also goes back once the items used since the last credit came to this many bytes. */
export const CREDIT_BYTES = protocol.creditBytes;

/**
 * A producer's side: item credit left, and the frames sent and not yet credited back (their
 * items and bytes, oldest first). An item may go while credit is left and less than the byte
 * window is ahead, so an item larger than the window still travels, alone.
 */
export class ProducerCredit {
  /** Item credit left. */
  items = STREAM_WINDOW;
  /** Bytes sent and not yet credited back. */
  bytes = 0;
  /** Per frame sent: items not yet credited, and the bytes they stand for. */
  private readonly frames: { n: number; bytes: number }[] = [];
  private head = 0;
  private uncredited = 0;

  /** Whether another item may be produced. */
  get open(): boolean {
    return this.items > 0 && this.bytes < STREAM_WINDOW_BYTES;
  }

  /** A frame of `n` items (already taken from `items`) went out, `bytes` long in all. */
  sent(n: number, bytes: number): void {
    this.frames.push({ n, bytes });
    this.uncredited += n;
    this.bytes += bytes;
  }

  /**
   * The consumer used `n` more items. More than were sent counts as what was sent: a peer
   * cannot grow the window.
   */
  grant(n: number): void {
    let left = Math.min(n, this.uncredited);
    this.uncredited -= left;
    this.items = Math.min(STREAM_WINDOW, this.items + left);
    while (left > 0) {
      const f = this.frames[this.head];
      if (left >= f.n) {
        left -= f.n;
        this.bytes -= f.bytes;
        this.head++;
      } else {
        // Part of a frame: its bytes go back in proportion.
        const back = (f.bytes * left) / f.n;
        f.bytes -= back;
        f.n -= left;
        this.bytes -= back;
        left = 0;
      }
    }
    if (this.head === this.frames.length) {
      this.frames.length = 0;
      this.head = 0;
      this.bytes = 0; // no rounding left over once nothing is ahead
    } else if (this.head > 1024) {
      this.frames.splice(0, this.head);
      this.head = 0;
    }
  }
}

/**
 * A rough size of a value about to join a batch of items: binary and string data at the top
 * and one level down. It only decides when to cut a frame; the frame's bytes are counted
 * exactly once it is encoded.
 */
export function roughBytes(v: unknown): number {
  if (typeof v !== 'object' || v === null || ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return shallowBytes(v);
  let n = 0;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length && i < 64; i++) n += shallowBytes(v[i]);
  } else {
    let keys = 0;
    for (const k in v) {
      n += shallowBytes((v as Record<string, unknown>)[k]);
      if (++keys === 64) break;
    }
  }
  return n;
}

function shallowBytes(v: unknown): number {
  if (typeof v === 'string') return v.length;
  if (typeof v !== 'object' || v === null) return 0;
  if (ArrayBuffer.isView(v)) return v.byteLength;
  return v instanceof ArrayBuffer ? v.byteLength : 0;
}
