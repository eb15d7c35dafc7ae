/**
 * The frames one JS tick sends, handed to the core in one crossing: calls, tells, credit,
 * cancels and answers are packed as records into one buffer, small bodies inside it; large
 * bodies and attachments travel as a list of Buffers, never copied. The batch is flushed
 * in a microtask (or sooner, in pieces of 64 KiB, or of 128 frames and then twice as many each time), in the order the frames were made. The layout is documented with its parser (`crates/pulsing-node/src/batch.rs`).
 */
import type { NativeSystem } from './native';
import type { JsWireError } from '../native/binding';
import { encodeFlat, encodeParts, type InPlace } from './codec';
import { emptyCallBody } from './call-codec';

/** Bodies up to this size are copied into the batch (one buffer crosses, not one per body). */
const INLINE_BODY = 4096;
/**
 * A batch this large leaves without waiting for the end of the tick: a burst (a loop of
 * tells) then overlaps with its sending and with the receiver's work, and the batch stays
 * bounded in memory.
 */
const FLUSH_BYTES = 64 * 1024;
/**
 * Nor does a tick's first batch of this many frames (and each next piece may be twice as
 * long as the last). With many calls in flight, a tick answers a batch of replies with as
 * many new calls: sent whole at the end of the tick, every call of the connection travels
 * as one clump that each thread on the way handles in turn while the others idle. Cut in
 * pieces, the peer starts on the first while this tick makes the next (asks/s with 256 in
 * flight: +20-30% on 2 cores); the doubling keeps a long burst of tells in few crossings.
 */
const FLUSH_FRAMES = 128;

const OP_ASK = 0;
const OP_TELL = 1;
const OP_FLOW = 2;
const OP_ASK_TRACED = 7;
const OP_TELL_TRACED = 8;
/** Answers: reply, stream item, stream end, several stream items. */
export const ANSWER = { reply: 3, item: 4, end: 5, items: 6 } as const;

/** What an ask's sender keeps of where it went: the connection, once the core chose it. */
export interface ConnSink { conn: number }

/** What the sender of one frame is told when the core could not send it. */
export type OnFailure = (error: JsWireError) => void;

/** A batch being filled. */
export class Outbox {
  private buf = Buffer.allocUnsafe(16 * 1024);
  /** Writes through a view: Buffer's writeUInt32LE and kin check their arguments each time. */
  private view = viewOf(this.buf);
  private pos = 0;
  private parts: Buffer[] = [];
  private nodes: string[] = [];
  private nodeIndex = new Map<string, number>();
  private lastNode: string | null = null;
  private lastIndex = 0;
  private names: string[] = [];
  /** Per frame, who hears of its failure (null: nobody waits for it). */
  private failures: (OnFailure | null)[] = [];
  /** Per ask, what learns the connection it went on. */
  private asks: ConnSink[] = [];
  /** Where the core writes the connection each ask of a batch went on. */
  private conns = new Uint32Array(256);
  private connBytes = Buffer.from(this.conns.buffer);
  private scheduled = false;
  /** Frames at which this tick's batch leaves: FLUSH_FRAMES, doubled at each piece. */
  private frameLimit = FLUSH_FRAMES;
  private readonly flushNow = () => this.flush();

  constructor(private readonly core: NativeSystem) {}

  /**
   * A call `[method, args]`: an ask (with `req`) or a tell (`req` null) to `node`, by local
   * id or by name; `sink` (an ask's) learns the connection it went on, `onFailure` that it
   * could not be sent; `trace` is the caller's W3C `traceparent`, for the frame header. Encoded
   * here, before anything is written (an encoding error throws and leaves the batch as it
   * was): in place when every argument is a primitive, so no Buffer is made for it.
   */
  call(node: string, req: number | null, local: number | null, name: string | null, method: string, args: unknown[], sink: ConnSink | null, onFailure: OnFailure | null, trace?: string): void {
    // A call without arguments: the same bytes every time, from a cache.
    const inPlace = (args.length === 0 ? emptyCallBody(method) : null) ?? encodeFlat([method, args]);
    if (inPlace === null) {
      const { body, attachments } = encodeParts([method, args]);
      this.head(node, req, local, name, trace);
      this.payload(body, attachments);
    } else {
      this.head(node, req, local, name, trace);
      this.inPlace(inPlace);
    }
    this.tail(req, sink, onFailure);
  }

  /**
   * A body without attachments in the encoder's own buffer (or a cache's): copied now,
   * before anything else is encoded.
   */
  private inPlace(body: InPlace): void {
    const { start, end } = body;
    if (end - start <= INLINE_BODY) {
      this.room(7 + end - start);
      this.inline(body, start, end);
    } else {
      this.room(7);
      this.u8(1);
      this.u32(this.parts.push(Buffer.from(body.subarray(start, end))) - 1);
    }
    this.u16(0);
  }

  private head(node: string, req: number | null, local: number | null, name: string | null, trace: string | undefined): void {
    this.room(32);
    if (trace === undefined) this.u8(req === null ? OP_TELL : OP_ASK);
    else this.u8(req === null ? OP_TELL_TRACED : OP_ASK_TRACED);
    this.u16(this.node(node));
    this.f64(req ?? 0);
    if (local !== null) {
      this.u8(0);
      this.f64(local);
    } else {
      this.u8(1);
      this.u16(this.names.push(name!) - 1);
    }
    if (trace !== undefined) this.u16(this.names.push(trace) - 1);
  }

  private tail(req: number | null, sink: ConnSink | null, onFailure: OnFailure | null): void {
    if (req !== null) this.asks.push(sink ?? { conn: 0 });
    this.done(onFailure);
  }

  /** Credit (`n > 0`) or cancel (`n == 0`) for call `req` to `node`. */
  flow(node: string, req: number, n: number): void {
    this.room(16);
    this.u8(OP_FLOW);
    this.u16(this.node(node));
    this.f64(req);
    this.u32(n);
    this.done(null);
  }

  /** An answer to request `req` that arrived on `conn`. */
  answer(op: number, conn: number, req: number, body: Buffer, attachments: Buffer[]): void {
    this.answerHead(op, conn, req);
    this.payload(body, attachments);
    this.done(null);
  }

  private answerHead(op: number, conn: number, req: number): void {
    this.room(16);
    this.u8(op);
    this.u32(conn);
    this.f64(req);
  }

  /**
   * An answer carrying `value`, encoded here (an encoding error throws and leaves the batch
   * as it was); a primitive is encoded in place, and no Buffer is made for it. Gives the
   * bytes it carries (what stream credit counts).
   */
  answerValue(op: number, conn: number, req: number, value: unknown): number {
    const inPlace = encodeFlat(value);
    if (inPlace === null) {
      const { body, attachments } = encodeParts(value);
      this.answer(op, conn, req, body, attachments);
      let n = body.length;
      for (const a of attachments) n += a.length;
      return n;
    }
    this.answerHead(op, conn, req);
    this.inPlace(inPlace);
    this.done(null);
    return inPlace.end - inPlace.start;
  }

  /** Send what is queued now (before a direct call that must not overtake it), and end the tick. */
  flush(): void {
    this.scheduled = false;
    this.frameLimit = FLUSH_FRAMES;
    this.send();
  }

  private send(): void {
    if (this.failures.length === 0) return;
    // The core parses `buf[0, pos)` during the call and keeps nothing of it, so the buffer is reused;
    // the parts it keeps (bodies, attachments) are the caller's own Buffers.
    const { buf, pos, parts, nodes, names, failures, asks } = this;
    this.pos = 0;
    this.parts = [];
    this.nodes = [];
    if (this.nodeIndex.size > 0) this.nodeIndex.clear();
    this.lastNode = null;
    this.names = [];
    this.failures = [];
    this.asks = [];
    if (this.conns.length < asks.length) {
      this.conns = new Uint32Array(Math.max(asks.length, 2 * this.conns.length));
      this.connBytes = Buffer.from(this.conns.buffer);
    }
    const conns = this.conns;
    let failed;
    try {
      failed = this.core.sendBatch(buf, pos, parts, nodes, names, this.connBytes);
    } catch (e) {
      // The whole batch was refused (the system is shutting down): tell everyone waiting.
      const err = e as { code?: string; message?: string };
      const wire: JsWireError = { cls: 'PulsingRuntimeError', message: err.message ?? String(e), kind: err.code ?? 'Stopped' };
      for (const f of failures) f?.(wire);
      return;
    }
    for (let i = 0; i < asks.length; i++) asks[i].conn = conns[i];
    if (failed !== null) for (const f of failed) failures[f.index]?.(f.error);
  }

  /**
   * The first frame of a tick leaves at once (a lone call waits for nothing); the frames
   * that follow it in the same tick are batched and leave together when the tick's
   * microtasks are done.
   */
  private done(onFailure: OnFailure | null): void {
    this.failures.push(onFailure);
    if (this.scheduled) {
      if (this.pos >= FLUSH_BYTES || this.failures.length >= this.frameLimit) {
        this.frameLimit *= 2;
        this.send();
      }
      return;
    }
    this.scheduled = true;
    this.send();
    queueMicrotask(this.flushNow);
  }

  private payload(body: Buffer, attachments: Buffer[]): void {
    if (body.length <= INLINE_BODY) {
      this.room(5 + body.length + 2 + 4 * attachments.length);
      this.inline(body, 0, body.length);
    } else {
      this.room(5 + 2 + 4 * attachments.length);
      this.u8(1);
      this.u32(this.parts.push(body) - 1);
    }
    this.u16(attachments.length);
    for (const a of attachments) this.u32(this.parts.push(a) - 1);
  }

  /** A small body, `src[start, end)`, copied into the batch (room already made). */
  private inline(src: Uint8Array, start: number, end: number): void {
    this.u8(0);
    this.u32(end - start);
    if (end - start <= 64) {
      // A loop: most bodies are a few dozen bytes, and copy makes views first.
      const buf = this.buf;
      let at = this.pos;
      for (let i = start; i < end; i++) buf[at++] = src[i];
      this.pos = at;
    } else {
      this.buf.set(src.subarray(start, end), this.pos);
      this.pos += end - start;
    }
  }

  private node(id: string): number {
    // A burst goes to one node: the same string as last time costs no lookup, and a batch
    // for one node never fills (nor clears) the index.
    if (id === this.lastNode) return this.lastIndex;
    if (this.nodes.length > 0 && this.nodeIndex.size === 0) this.nodeIndex.set(this.nodes[0], 0);
    let i = this.nodes.length === 0 ? undefined : this.nodeIndex.get(id);
    if (i === undefined) {
      i = this.nodes.push(id) - 1;
      if (i > 0) this.nodeIndex.set(id, i);
    }
    this.lastNode = id;
    this.lastIndex = i;
    return i;
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
    this.view = viewOf(bigger);
  }

  private u8(v: number): void { this.buf[this.pos++] = v; }
  private u16(v: number): void { this.view.setUint16(this.pos, v, true); this.pos += 2; }
  private u32(v: number): void { this.view.setUint32(this.pos, v, true); this.pos += 4; }
  private f64(v: number): void { this.view.setFloat64(this.pos, v, true); this.pos += 8; }
}

const viewOf = (b: Buffer): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
