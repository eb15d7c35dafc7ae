/**
 * The JS end of the cluster transport. Rust delivers events in batches (one callback per
 * wake-up); this module matches replies to pending calls by request id, feeds remote
 * streams (granting credit as items are consumed, cancelling on `break`), serves local
 * actors to other nodes, and fails everything pending on a node the moment it is down.
 *
 * Bodies are MessagePack: a call is `[method, args]`, a reply or stream item is the value.
 */
import type { CallOptions } from './types';
import { protocol, errorFromJs, type NativeSystem } from './native';
import type { JsWireError } from '../native/binding';
import { encode, decode, decodeParts } from './codec';
import { decodeCall } from './call-codec';
import {
  PulsingError, PulsingRuntimeError, PulsingBusinessError, PulsingTimeoutError, classifyActorError, fromNative, toWire,
} from './errors';
import { tracer } from './tracing';
import { ActorStream, type StreamHost, type StepSource } from './stream';
import { Outbox, ANSWER, type OnFailure } from './outbox';
import { Deadlines } from './deadlines';
import { setLongTimeout, MAX_TIMER_MS } from './deadline';
import type { CallTarget } from './target';
import { ACCEPTED, type ActorCell } from './cell';
import { ProducerCredit, roughBytes, CREDIT_BYTES } from './credit';
import { RemoteQueue } from './remote-queue';

/** Most stream items one frame carries: enough to spread a frame's cost thin. */
const FRAME_ITEMS = 1024;
/** A frame of stream items is cut once its items hold about this much data. */
const FRAME_BYTES = CREDIT_BYTES / 4;
/** Request ids are random below this (the core's own carry the bit above it). */
const REQ_ID_SPACE = protocol.reqIdSpace;

interface Pending {
  node: string;
  /** The connection the request went on (0: not bound to one, e.g. delayed by a fault). */
  conn: number;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  stream: RemoteQueue | null;
  /**
   * Until the call settles (its reply, or a stream's first answer): the timer of its
   * deadline (a slot in the wire's deadline queue, or a timer of its own for another
   * timeout), and its abort listener. Kept here, not in a promise wrapped around the reply:
   * an ask then costs one promise, nothing more.
   */
  timer: Deadlines<Pending> | NodeJS.Timeout | (() => void) | undefined;
  /** Where its deadline queue keeps it. */
  slot: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** What the call was (for its stream, and for a timeout's message). */
  req: number;
  target: string;
  label: string;
  method: string;
  opts: CallOptions | undefined;
}

/** Stop a pending call's deadline and abort listener: it has its answer, or has failed. */
function settle(p: Pending): void {
  const t = p.timer;
  if (t !== undefined) {
    if (t instanceof Deadlines) t.settled(p);
    else {
      p.timer = undefined;
      if (typeof t === 'function') t();
      else clearTimeout(t);
    }
  }
  if (p.onAbort !== undefined) {
    p.signal!.removeEventListener('abort', p.onAbort);
    p.onAbort = undefined;
  }
}

/** Errors from the wire are already classified. */
const remoteHost = (label: string): StreamHost => ({
  label,
  strict: false,
  onError: (e) => (e instanceof PulsingError ? e : classifyActorError(e)),
});

function wireOf(e: unknown): JsWireError {
  const err = e instanceof PulsingError ? e : classifyActorError(e);
  const w = toWire(err);
  let details: Buffer | undefined;
  if (w.details !== undefined) {
    try { details = encode(w.details); } catch { details = undefined; }
  }
  return {
    cls: w.cls, message: w.message, kind: w.kind, code: w.code, details, error: w.error,
    recoverable: w.recoverable, operation: w.operation, durationMs: w.durationMs, actorName: w.actorName,
  };
}

function errorOf(j: JsWireError): PulsingError {
  const e = errorFromJs(j);
  if (j.details && e instanceof PulsingBusinessError) {
    try {
      (e as { details?: unknown }).details = decode(j.details);
    } catch (err) {
      // The error still reaches the caller; say why its details are missing.
      process.emitWarning(`pulsing: undecodable details of a remote error: ${(err as Error).message}`, { code: 'PULSING_WIRE' });
    }
  }
  return e;
}

/** One transport event, as read from a packed batch (see `crates/pulsing-node/src/host.rs`). */
interface Event {
  kind: string;
  conn: number;
  req: number;
  local: number;
  n: number;
  node: string | undefined;
  name: string | undefined;
  error: JsWireError | undefined;
  /** The caller's W3C `traceparent` (asks and tells). */
  trace: string | undefined;
  /** The body is `body[start, end)`: a small one is read in place from the batch. */
  body: Buffer;
  start: number;
  end: number;
  attachments: Buffer[] | undefined;
}

const KINDS = ['ask', 'tell', 'credit', 'cancel', 'reply', 'item', 'end', 'error', 'closed', 'nodeDown', 'items'];

/** The bytes a frame carried: its body and its out-of-band parts (what stream credit counts). */
function frameBytes(ev: Event): number {
  let n = ev.end - ev.start;
  if (ev.attachments) for (const a of ev.attachments) n += a.length;
  return n;
}

/**
 * Read the events of the batch packed in `p[start, end)`, in order (its parts, strings and
 * errors by index).
 */
function unpackEvents(p: Buffer, start: number, end: number, parts: Buffer[] | null, strings: string[], errors: JsWireError[] | null): Event[] {
  // One view for the buffer: its reads compile to loads, where Buffer's readUInt32LE and
  // kin validate their arguments on every call.
  // Kept on the buffer, where msgpackr looks for it too: small batches come one after
  // another in one slab, and share it.
  const v = ((p as Buffer & { dataView?: DataView }).dataView ??= new DataView(p.buffer, p.byteOffset, p.byteLength));
  const out: Event[] = [];
  let at = start;
  while (at < end) {
    const kind = KINDS[p[at]] ?? 'unknown';
    const conn = v.getUint32(at + 1, true);
    const req = v.getFloat64(at + 5, true);
    const local = v.getFloat64(at + 13, true);
    const n = v.getUint32(at + 21, true);
    const node = v.getUint16(at + 25, true);
    const name = v.getUint16(at + 27, true);
    const error = v.getUint32(at + 29, true);
    const trace = v.getUint16(at + 33, true);
    at += 35;
    let body: Buffer;
    let start: number;
    let end: number;
    if (p[at] === 0) {
      // Decoded from the batch itself: no view of it is made per message.
      body = p;
      start = at + 5;
      end = start + v.getUint32(at + 1, true);
      at = end;
    } else {
      body = parts![v.getUint32(at + 1, true)];
      start = 0;
      end = body.length;
      at += 5;
    }
    const count = v.getUint16(at, true);
    at += 2;
    let attachments: Buffer[] | undefined;
    if (count > 0) {
      attachments = [];
      for (let i = 0; i < count; i++, at += 4) attachments.push(parts![v.getUint32(at, true)]);
    }
    out.push({
      kind, conn, req, local, n, body, start, end, attachments,
      node: node ? strings[node - 1] : undefined,
      name: name ? strings[name - 1] : undefined,
      error: error ? errors![error - 1] : undefined,
      trace: trace ? strings[trace - 1] : undefined,
    });
  }
  return out;
}

/** What the wire needs from its system. */
export interface WireHost {
  readonly defaultTimeoutMs: number;
  /** The local cell with this id, if any. */
  cellById(local: number): ActorCell | undefined;
  /** Serve a `system/*` request (remote spawn). */
  serveSystem(name: string, payload: unknown): Promise<unknown>;
}

/** One system's end of the transport. */
export class Wire {
  private readonly pending = new Map<number, Pending>();
  private readonly serving = new Map<string, { credit: ProducerCredit; wake: (() => void) | null; cancel: () => void }>();
  private readonly tellFailures = new Map<string, OnFailure>();
  /** The reporter of the node told last (a burst of tells goes to one node). */
  private lastTellNode: string | null = null;
  private lastTellFailed: OnFailure | null = null;

  /** What this tick sends, in one crossing. */
  private readonly out: Outbox;
  /** The deadlines of calls with the default timeout (made at the first). */
  private deadlines: Deadlines<Pending> | null = null;

  /**
   * @param via - For a client: the node every answer comes from (its gateway), whichever
   *   node a call is for. A member takes answers only from the node it called.
   */
  constructor(private readonly core: NativeSystem, private readonly host: WireHost, readonly nodeId: string, private readonly via: string | null = null) {
    this.out = new Outbox(core);
    core.setHost((packed, start, end, parts, strings, errors) => this.onEvents(unpackEvents(packed, start, end, parts, strings, errors)));
  }

  /** Call a method of an actor on `node` (by local id, or by `system/*` name). */
  call(node: string, local: number | null, name: string | null, method: string, args: unknown[], opts: CallOptions | undefined, label: string): Promise<unknown> {
    const t = tracer();
    if (t === null || !t.enabled) return this.callWith(node, local, name, method, args, opts, label, undefined);
    return t.client(label, method, node, (trace) => this.callWith(node, local, name, method, args, opts, label, trace));
  }

  private callWith(node: string, local: number | null, name: string | null, method: string, args: unknown[], opts: CallOptions | undefined, label: string, trace: string | undefined): Promise<unknown> {
    const req = this.requestId();
    let pending!: Pending;
    const reply = new Promise<unknown>((resolve, reject) => {
      pending = {
        node: this.via ?? node, conn: 0, resolve, reject, stream: null,
        timer: undefined, slot: 0, signal: undefined, onAbort: undefined, req, target: node, label, method, opts,
      };
    });
    this.pending.set(req, pending);
    const onFailure = (error: JsWireError) => { if (this.pending.delete(req)) this.fail(pending, errorOf(error)); };
    try {
      this.out.call(node, req, local, name, method, args, pending, onFailure, trace);
    } catch (e) {
      // Not encodable: nothing was sent.
      this.pending.delete(req);
      return Promise.reject(e);
    }
    // Failed as it was sent (no route to the node): nothing left to time out.
    if (this.pending.get(req) !== pending) return reply;
    const timeoutMs = opts?.timeoutMs ?? this.host.defaultTimeoutMs;
    if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
      if (timeoutMs === this.host.defaultTimeoutMs && timeoutMs <= MAX_TIMER_MS) {
        // Most calls: one timer for all of them.
        (this.deadlines ??= new Deadlines<Pending>(timeoutMs, this.expire)).add(pending);
      } else {
        // One timer function for all calls, told which call by its argument.
        pending.timer = timeoutMs <= MAX_TIMER_MS ? setTimeout(this.expire, timeoutMs, pending) : setLongTimeout(() => this.expire(pending), timeoutMs);
      }
    }
    const signal = opts?.signal;
    if (signal !== undefined) {
      pending.signal = signal;
      pending.onAbort = () => this.giveUp(pending, signal.reason);
      signal.addEventListener('abort', pending.onAbort, { once: true });
    }
    return reply;
  }

  /** A call's deadline passed before its answer: it fails, and the callee is told to stop. */
  private readonly expire = (p: Pending): void => {
    p.timer = undefined;
    const timeoutMs = p.opts?.timeoutMs ?? this.host.defaultTimeoutMs;
    this.giveUp(p, new PulsingTimeoutError(`${p.label}.${p.method}`, timeoutMs));
  };

  /** The caller gives up on call `p` (timeout or abort) before its answer. */
  private giveUp(p: Pending, reason: unknown): void {
    // Only while it waits for its answer: its id may since be another call's.
    if (this.pending.get(p.req) !== p || p.stream !== null) return;
    this.pending.delete(p.req);
    settle(p);
    this.out.flow(p.target, p.req, 0);
    p.reject(reason);
  }

  /** A random request id, unused here: a peer cannot guess the ids of calls to others. */
  private requestId(): number {
    for (;;) {
      const id = 1 + Math.floor(Math.random() * (REQ_ID_SPACE - 1));
      if (!this.pending.has(id)) return id;
    }
  }

  /** Send a method call to an actor on `node` without waiting for its result. */
  tell(node: string, local: number, method: string, args: unknown[], label = `actor ${node}:${local}`): Promise<void> {
    const t = tracer();
    if (t === null || !t.enabled) return this.tellWith(node, local, method, args, undefined);
    return t.client(label, method, node, (trace) => this.tellWith(node, local, method, args, trace));
  }

  private tellWith(node: string, local: number, method: string, args: unknown[], trace: string | undefined): Promise<void> {
    try {
      this.out.call(node, null, local, null, method, args, null, this.tellFailed(node), trace);
      // Handed to the transport: nothing to wait for, the same settled promise a local tell gives.
      return ACCEPTED;
    } catch (e) {
      return Promise.reject(fromNative(e));
    }
  }

  /**
   * Fire and forget: a tell that cannot be sent is reported, it has nobody to answer. One
   * reporter per node, not a closure per tell (a burst of tells allocates nothing for it).
   */
  private tellFailed(node: string): OnFailure {
    if (node === this.lastTellNode) return this.lastTellFailed!;
    let f = this.tellFailures.get(node);
    if (f === undefined) {
      f = (error) => process.emitWarning(`pulsing: a tell to node ${node} was not sent: ${error.message}`, { code: 'PULSING_TELL_ERROR' });
      this.tellFailures.set(node, f);
    }
    this.lastTellNode = node;
    this.lastTellFailed = f;
    return f;
  }

  /** Fail everything still pending (the system is shutting down). */
  close(): void {
    this.out.flush();
    const err = new PulsingRuntimeError('Stopped', 'the actor system is shut down');
    for (const p of this.pending.values()) this.fail(p, err);
    this.pending.clear();
    this.deadlines?.close();
    for (const s of this.serving.values()) s.cancel();
    this.serving.clear();
  }

  private streamOf(node: string, req: number, q: RemoteQueue, opts: CallOptions | undefined, label: string): ActorStream {
    const out = this.out;
    const pending = this.pending;
    let finished = false;
    const step = (r: IteratorResult<unknown, unknown>) => {
      if (r.done) finished = true;
      else {
        // Credit goes back in batches (of items, or of bytes).
        const n = q.creditDue();
        if (n > 0) out.flow(node, req, n);
      }
      return r;
    };
    const failed = (e: unknown): never => { finished = true; throw e; };
    // Not an async generator: an item already here is handed over synchronously, so the
    // consumer arms no per-item timer and makes no promise for it.
    const items: StepSource = {
      next() {
        if (finished) return { done: true, value: undefined };
        let r: IteratorResult<unknown, unknown> | null;
        try { r = q.poll(); } catch (e) { return failed(e); }
        return r ? step(r) : q.next().then(step, failed);
      },
      return() {
        // `break`, abort or timeout before the end: tell the producer to stop.
        if (!finished) {
          finished = true;
          if (!q.ended && pending.delete(req)) out.flow(node, req, 0);
        }
        return Promise.resolve({ done: true, value: undefined });
      },
    };
    return new ActorStream(items, remoteHost(label), opts?.timeoutMs ?? this.host.defaultTimeoutMs, opts?.signal);
  }

  private fail(p: Pending, err: unknown): void {
    settle(p);
    if (p.stream) p.stream.fail(err);
    else p.reject(err);
  }

  private onEvents(events: Event[]): void {
    for (const ev of events) {
      try {
        this.onEvent(ev);
      } catch (e) {
        process.emitWarning(`pulsing: failed to handle a ${ev.kind} event: ${(e as Error).message}`, { code: 'PULSING_WIRE' });
      }
    }
  }

  /** The pending call `ev` answers, if it comes from the node that call went to. */
  private answered(ev: Event): Pending | undefined {
    const p = this.pending.get(ev.req);
    if (!p) return undefined;
    // A reply from elsewhere answers nothing. One on the connection the call went on is from
    // its node (connection ids are not reused), and needs no comparison of node id strings.
    if (ev.conn !== p.conn && ev.node !== p.node) return undefined;
    return p;
  }

  private onEvent(ev: Event): void {
    switch (ev.kind) {
      case 'reply': {
        const p = this.answered(ev);
        if (!p) return;
        this.pending.delete(ev.req);
        settle(p);
        try { p.resolve(decodeParts(ev.body, ev.attachments, ev.start, ev.end)); } catch (e) { p.reject(e); }
        return;
      }
      case 'item':
      case 'items':
      case 'end': {
        const p = this.answered(ev);
        if (!p) return;
        let value: unknown;
        try { value = decodeParts(ev.body, ev.attachments, ev.start, ev.end); } catch (e) { this.pending.delete(ev.req); this.fail(p, e); return; }
        if (!p.stream) {
          // The call has its answer: from here the stream's own deadlines apply, per item.
          settle(p);
          p.stream = new RemoteQueue();
          p.resolve(this.streamOf(p.target, ev.req, p.stream, p.opts, p.label));
        }
        if (ev.kind === 'item') p.stream.push(value, frameBytes(ev));
        else if (ev.kind === 'items') {
          if (!Array.isArray(value)) { this.pending.delete(ev.req); this.fail(p, new PulsingRuntimeError('Protocol', 'a batch of stream items must be an array')); return; }
          // Each item stands for its share of the frame, as the producer counts it.
          const share = frameBytes(ev) / value.length;
          for (const v of value) p.stream.push(v, share);
        } else { this.pending.delete(ev.req); p.stream.finish(value); }
        return;
      }
      case 'error': {
        const p = this.answered(ev);
        if (!p) return;
        this.pending.delete(ev.req);
        this.fail(p, errorOf(ev.error!));
        return;
      }
      case 'closed': {
        const err = new PulsingRuntimeError('ConnectionFailed', `the connection to the node closed before the reply`);
        for (const [req, p] of this.pending) {
          if (p.conn === ev.conn) { this.pending.delete(req); this.fail(p, err); }
        }
        return;
      }
      case 'nodeDown': {
        const err = new PulsingRuntimeError('NodeDown', `node ${ev.node} is down`);
        for (const [req, p] of this.pending) {
          if (p.node === ev.node) { this.pending.delete(req); this.fail(p, err); }
        }
        return;
      }
      case 'ask':
      case 'tell':
        this.serve(ev);
        return;
      case 'credit': {
        const s = this.serving.get(`${ev.conn}:${ev.req}`);
        if (s) { s.credit.grant(ev.n); s.wake?.(); }
        return;
      }
      case 'cancel':
        this.serving.get(`${ev.conn}:${ev.req}`)?.cancel();
        return;
      default:
        process.emitWarning(`pulsing: unknown transport event ${ev.kind}`, { code: 'PULSING_WIRE' });
    }
  }

  /** Run a request from another node on a local actor and send back the outcome. */
  private serve(ev: Event): void {
    const ask = ev.kind === 'ask';
    let result: Promise<unknown>;
    if (ev.name) {
      let payload: unknown;
      try {
        payload = decodeParts(ev.body, ev.attachments, ev.start, ev.end);
      } catch (e) {
        this.failed(ev, e);
        return;
      }
      result = this.host.serveSystem(ev.name, payload);
    } else {
      let call: [string, unknown[]] | null;
      try {
        call = decodeCall(ev.body, ev.attachments, ev.start, ev.end);
      } catch (e) {
        this.failed(ev, e);
        return;
      }
      const cell = this.host.cellById(ev.local);
      if (!cell || cell.stopped) {
        this.failed(ev, new PulsingRuntimeError('ActorNotFound', `no actor ${this.nodeId}:${ev.local}`));
        return;
      }
      if (call === null) {
        this.failed(ev, new PulsingRuntimeError('Protocol', 'a call body must be [method, args]'));
        return;
      }
      const [method, args] = call;
      // Wrapped only when spans are recorded (an SDK is registered).
      const t = tracer();
      const traced = t !== null && t.enabled;
      if (!ask) {
        const told = !traced ? cell.tell(method, args) : t.server(cell.label, method, this.nodeId, ev.trace, () => cell.tell(method, args));
        // Accepted (the common case): nothing can fail any more, nothing to wait for.
        if (told !== ACCEPTED) told.catch((e) => process.emitWarning(`${cell.label}.${method} failed on a remote tell: ${(e as Error).message}`, { code: 'PULSING_TELL_ERROR' }));
        return;
      }
      result = !traced ? cell.call(method, args) : t.server(cell.label, method, this.nodeId, ev.trace, () => cell.call(method, args));
    }
    // No promise chained to this one: an answer that cannot be sent is caught here.
    result.then(
      (v) => {
        if (v instanceof ActorStream) {
          this.serveStream(ev.conn, ev.req, v).catch((e) => this.failed(ev, e));
          return;
        }
        try {
          this.send(ev.conn, 'reply', ev.req, v);
        } catch (e) {
          this.failed(ev, e);
        }
      },
      (e) => this.failed(ev, e),
    );
  }

  /** Request `ev` failed: an ask is answered with the error, a tell has nobody to tell. */
  private failed(ev: Event, e: unknown): void {
    if (ev.kind === 'ask') this.replyErrorTo(ev, e);
  }

  /** Answer the ask `ev` with an error. */
  private replyErrorTo(ev: Event, e: unknown): void {
    this.replyError(ev.conn, ev.req, e);
  }

  /** Answer a request with a value (its large binary parts out of band); gives its bytes. */
  private send(conn: number, kind: 'reply' | 'item' | 'items' | 'end', req: number, value: unknown): number {
    return this.out.answerValue(ANSWER[kind], conn, req, value);
  }

  /** Answer a request with an error, after what is already queued (errors are rare). */
  private replyError(conn: number, req: number, e: unknown): void {
    this.out.flush();
    this.core.replyError(conn, req, wireOf(e));
  }

  /**
   * Send a stream's items as credit allows; a cancel stops the generator (its finally runs).
   * To a TypeScript caller, the items produced before the event loop turns travel together,
   * many per frame (credit still counts items); a Rust caller gets one frame per item.
   */
  private async serveStream(conn: number, req: number, stream: ActorStream): Promise<void> {
    const key = `${conn}:${req}`;
    const it = stream[Symbol.asyncIterator]();
    let cancelled = false;
    const state = {
      credit: new ProducerCredit(),
      wake: null as (() => void) | null,
      cancel: () => { cancelled = true; state.wake?.(); void it.return?.(undefined); },
    };
    const credit = state.credit;
    const batching = req < REQ_ID_SPACE;
    let batch: unknown[] = [];
    let batchBytes = 0;
    let scheduled = false;
    const flushItems = () => {
      scheduled = false;
      if (batch.length === 0 || cancelled) return;
      const items = batch;
      batch = [];
      batchBytes = 0;
      try {
        credit.sent(items.length, items.length === 1 ? this.send(conn, 'item', req, items[0]) : this.send(conn, 'items', req, items));
      } catch (e) {
        cancelled = true;
        this.replyError(conn, req, e);
        void it.return?.(undefined);
      }
    };
    this.serving.set(key, state);
    try {
      for (;;) {
        if (!credit.open) {
          // What is in hand goes first: its bytes count, and the consumer needs it to give credit.
          flushItems();
          while (!credit.open && !cancelled) await new Promise<void>((r) => { state.wake = r; });
          state.wake = null;
        }
        if (cancelled) return;
        const r = await it.next();
        if (cancelled) return;
        if (r.done) { flushItems(); if (!cancelled) this.send(conn, 'end', req, r.value); return; }
        credit.items--;
        if (!batching) { credit.sent(1, this.send(conn, 'item', req, r.value)); continue; }
        batch.push(r.value);
        batchBytes += roughBytes(r.value);
        // A frame is cut once it holds enough to be worth sending alone, so the byte window
        // is counted (exactly, once encoded) before the producer runs far past it.
        if (batch.length >= FRAME_ITEMS || batchBytes >= FRAME_BYTES) flushItems();
        else if (!scheduled) { scheduled = true; setImmediate(flushItems); }
      }
    } catch (e) {
      if (!cancelled) { flushItems(); this.replyError(conn, req, e); }
    } finally {
      this.serving.delete(key);
    }
  }
}

/** An actor on another node. */
export class RemoteTarget implements CallTarget {
  readonly actorId: string;
  constructor(private readonly wire: Wire, readonly node: string, readonly local: number, readonly label: string) {
    this.actorId = `${node}:${local}`;
  }
  call(method: string, args: unknown[], opts?: CallOptions): Promise<unknown> {
    if (opts?.signal?.aborted) return Promise.reject(opts.signal.reason);
    return this.wire.call(this.node, this.local, null, method, args, opts, this.label);
  }
  tell(method: string, args: unknown[], opts?: CallOptions): Promise<void> {
    if (opts?.signal?.aborted) return Promise.reject(opts.signal.reason);
    return this.wire.tell(this.node, this.local, method, args, this.label);
  }
}
