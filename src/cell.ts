/**
 * One TypeScript actor: its instance, its bounded mailbox, its lifecycle and supervision.
 *
 * Ordering (docs/semantics.md): messages are dispatched one at a time in
 * arrival order. A sync method runs to completion before the next message starts; an async
 * method runs until its first `await`, then the next message may start. So when the actor is
 * idle a call runs at once on the caller's stack (the hot path: no queue, no encoding, no
 * Rust); a call that arrives while a method is on the stack (re-entrant), while `onStart`
 * is pending, or during a restart backoff waits in the mailbox. A full mailbox makes the
 * caller wait (`tell` resolves once accepted); nothing accepted is dropped.
 *
 * The cell outlives restarts: refs keep working and queued calls reach the next instance.
 */
import type { CallOptions, SupervisionOptions } from './types';
import {
  PulsingError, PulsingRuntimeError, PulsingUnsupportedError,
  classifyActorError, isFatal, toWire, fromWire,
} from './errors';
import { guard } from './deadline';
import { roundTrip } from './codec';
import { ActorStream, type StreamHost } from './stream';
import type { CallTarget } from './target';
import { CellStats, type CountedCell } from './stats';

const enum State { Starting, Ready, Restarting, Stopped }

/** What a cell needs from the system that hosts it. */
export interface CellHost {
  /** The hosting node's id (the first half of every actor id). */
  readonly nodeId: string;
  readonly defaultTimeoutMs: number;
  readonly strictLocal: boolean;
  /** Whether named actors are counted (`metrics`). */
  readonly actorMetrics: boolean;
  /** How long `stop()` waits for calls still running (async methods) to settle. */
  readonly drainTimeoutMs: number;
  /** The cell started (again): publish its metadata under its name. */
  cellStarted(cell: ActorCell, metadata: Record<string, string> | undefined): void;
  /** The cell stopped for good: drop its id and name. */
  cellStopped(cell: ActorCell): void;
  /** A named, counted cell is ready (first start or restart): its figures are reported. */
  statsStarted(cell: ActorCell): void;
}

/** Everything a cell is created with. */
export interface CellConfig {
  local: number;
  /** Normalised name, or undefined for an anonymous actor. */
  name?: string;
  /** Builds a fresh instance; absent for spawn-by-instance (then no restart). */
  factory?: () => object;
  instance?: object;
  supervision: Required<SupervisionOptions>;
  mailboxCapacity: number;
}

interface Pending {
  method: string;
  args: unknown[];
  tell: boolean;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  /** For a waiting sender: called when the mailbox accepts the message. */
  accepted?: () => void;
}

/** Lifecycle hooks are not callable as methods. */
const HOOKS: ReadonlySet<string> = new Set(['onStart', 'onStop', 'constructor']);

/**
 * What {@link ActorCell.tell} returns once the message ran or was queued (and a remote tell
 * once it was handed to the transport), and what a call to a method that returned nothing
 * settles as: one settled promise for all (a burst of tells makes none). A caller may compare
 * against it to skip waiting for a rejection that cannot come.
 */
export const ACCEPTED: Promise<void> = Promise.resolve();

function isGenerator(v: object): v is Generator | AsyncGenerator {
  const tag = (v as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag];
  return (tag === 'Generator' || tag === 'AsyncGenerator') && typeof (v as Generator).next === 'function';
}

/** One actor hosted in this JS environment. */
export class ActorCell implements StreamHost, CallTarget, CountedCell {
  private instance: Record<string, unknown> | null = null;
  private state = State.Starting;
  private running = false;
  private draining = false;
  private queue: Pending[] | null = null;
  private overflow: Pending[] | null = null;
  private restarts = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopCause: string | undefined;
  private startWaiters: { resolve: () => void; reject: (e: unknown) => void } | null = null;
  /** Why the first start failed, for a start() that returns after the failure. */
  private startError: PulsingError | undefined;
  /** Async calls still running (stop waits for them to settle). */
  private inflight = 0;
  private onIdle: (() => void) | null = null;
  /** Settle hooks of async calls: made on the first one, then shared by every call. */
  private hooks: { done: (v: unknown) => unknown; failed: (e: unknown) => never } | null = null;

  /** A named actor's figures (anonymous actors are not counted). */
  readonly stats: CellStats | null;

  /** The local id. */
  readonly local: number;
  /** Normalised name, undefined for an anonymous actor. */
  readonly name: string | undefined;
  private readonly factory: (() => object) | undefined;
  private readonly supervision: Required<SupervisionOptions>;
  private readonly mailboxCapacity: number;
  /** The instance to start with (spawn by instance); dropped once started. */
  private first: object | undefined;

  // The config's fields are copied and the config dropped: what stays alive per actor is one
  // object fewer for the garbage collector to copy (spawn time is mostly GC).
  constructor(private readonly host: CellHost, config: CellConfig) {
    this.local = config.local;
    this.name = config.name;
    this.factory = config.factory;
    this.supervision = config.supervision;
    this.mailboxCapacity = config.mailboxCapacity;
    this.first = config.instance;
    this.stats = config.name !== undefined && host.actorMetrics ? new CellStats() : null;
  }

  /** `"<nodeId>:<localId>"`. */
  get actorId(): string { return `${this.host.nodeId}:${this.local}`; }
  /** Whether calls go through the codec (`strictLocal`). */
  get strict(): boolean { return this.host.strictLocal; }

  /** How this actor is named in messages. */
  get label(): string {
    return this.name ?? `actor ${this.actorId}`;
  }

  /** Messages waiting in the mailbox. */
  get mailboxDepth(): number {
    return (this.queue?.length ?? 0) + (this.overflow?.length ?? 0);
  }

  /** Times supervision restarted the actor. */
  get restartCount(): number {
    return this.restarts;
  }

  /** Whether the actor has stopped for good. */
  get stopped(): boolean {
    return this.state === State.Stopped;
  }

  /**
   * Start the first instance. Returns `undefined` when it is ready at once (no async
   * `onStart`: the common case, kept free of promises), otherwise a promise that resolves
   * when it is ready (or will be, after a restart) and rejects if it cannot start.
   */
  start(): Promise<void> | undefined {
    const first = this.first ?? null;
    this.first = undefined;
    this.boot(first);
    if (this.state === State.Ready) return undefined;
    if (this.state === State.Stopped) return Promise.reject(this.startError ?? this.stoppedError());
    return new Promise<void>((resolve, reject) => {
      this.startWaiters = { resolve, reject };
    });
  }

  /** Call `method` with `args`; resolves with its result (an {@link ActorStream} for generators). */
  call(method: string, args: unknown[], opts?: CallOptions): Promise<unknown> {
    if (opts?.signal?.aborted) return Promise.reject(opts.signal.reason);
    if (this.strict) return this.callStrict(method, args, opts);
    if (this.state === State.Ready && !this.running && this.queue === null) {
      return this.run(method, args, opts);
    }
    return this.enqueue(method, args, false, opts);
  }

  /** Send without waiting for the result; resolves once the mailbox accepted the message. */
  tell(method: string, args: unknown[], opts?: CallOptions): Promise<void> {
    if (opts?.signal?.aborted) return Promise.reject(opts.signal.reason);
    if (this.strict) {
      try {
        args = roundTrip(args);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    if (this.state === State.Ready && !this.running && this.queue === null) {
      const ran = this.run(method, args, undefined);
      if (ran !== ACCEPTED) ran.then(undefined, (e) => this.reportTellError(method, e));
      return ACCEPTED;
    }
    return this.enqueue(method, args, true, opts) as Promise<void>;
  }

  /** Classify an error thrown by actor code; a fatal one crashes the actor. */
  onError(e: unknown): PulsingError {
    const err = classifyActorError(e, this.name);
    if (isFatal(err)) this.crash(err);
    return err;
  }

  /**
   * Stop for good: queued callers get `Stopped`, calls already running (async methods)
   * settle first (up to the host's drain timeout), then `onStop` runs; the name is freed.
   */
  async stop(): Promise<void> {
    if (this.state === State.Stopped) return;
    const inst = this.instance;
    this.finish('stopped');
    await this.settleInflight();
    await this.callOnStop(inst);
  }

  private settled(): void {
    if (--this.inflight === 0 && this.onIdle !== null) this.onIdle();
  }

  private async settleInflight(): Promise<void> {
    if (this.inflight === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.onIdle = resolve;
      timer = setTimeout(resolve, Math.min(this.host.drainTimeoutMs, 0x7fffffff));
    });
    this.onIdle = null;
    clearTimeout(timer);
  }

  // --- dispatch -----------------------------------------------------------------------

  private callStrict(method: string, args: unknown[], opts?: CallOptions): Promise<unknown> {
    let sent: unknown[];
    try {
      sent = roundTrip(args);
    } catch (e) {
      return Promise.reject(e);
    }
    const p = this.state === State.Ready && !this.running && this.queue === null
      ? this.run(method, sent, opts)
      : this.enqueue(method, sent, false, opts);
    return p.then(
      (v) => (v instanceof ActorStream ? v : roundTrip(v)),
      (e) => { throw e instanceof PulsingError ? fromWire(roundTrip(toWire(e))) : e; },
    );
  }

  /** Run one call on the current instance, now. */
  private run(method: string, args: unknown[], opts: CallOptions | undefined): Promise<unknown> {
    const inst = this.instance!;
    const fn = inst[method];
    // Only the actor's own methods: not Object.prototype's (valueOf would leak its state),
    // not hooks or the constructor, not `_`/`$`-prefixed ones.
    if (typeof fn !== 'function' || HOOKS.has(method) || method.charCodeAt(0) === 95 /* _ */ || method.charCodeAt(0) === 36 /* $ */
      || (Object.prototype as unknown as Record<string, unknown>)[method] === fn) {
      if (this.stats !== null) this.stats.handled++;
      this.countError();
      return Promise.reject(this.noSuchMethod(method, fn));
    }
    const s = this.stats;
    let t0 = -1;
    if (s !== null && CellStats.sampled(++s.handled)) t0 = performance.now();
    let r: unknown;
    this.running = true;
    try {
      r = (fn as (...a: unknown[]) => unknown).apply(inst, args);
    } catch (e) {
      this.running = false;
      if (s !== null) {
        s.errors++;
        if (t0 >= 0) s.observe(performance.now() - t0);
      }
      const err = this.onError(e);
      this.drain();
      return Promise.reject(err);
    }
    this.running = false;
    if (this.queue !== null) this.drain();
    if (r !== null && typeof r === 'object') {
      if (r instanceof Promise || typeof (r as PromiseLike<unknown>).then === 'function') {
        this.inflight++;
        const h = (this.hooks ??= {
          done: (v) => { this.settled(); return v; },
          failed: (e) => { this.settled(); this.countError(); throw this.onError(e); },
        });
        let p = Promise.resolve(r as PromiseLike<unknown>).then(h.done, h.failed);
        if (t0 >= 0) p = this.timed(p, t0);
        return guard(p, opts?.timeoutMs ?? this.host.defaultTimeoutMs, opts?.signal, `${this.label}.${method}`);
      }
      if (isGenerator(r)) {
        if (t0 >= 0) s!.observe(performance.now() - t0);
        return Promise.resolve(new ActorStream(r, this, opts?.timeoutMs ?? this.host.defaultTimeoutMs, opts?.signal));
      }
    }
    if (t0 >= 0) s!.observe(performance.now() - t0);
    // A method that returns nothing (most tells): the one settled promise, none made.
    return r === undefined ? ACCEPTED : Promise.resolve(r);
  }

  /** A sampled async call: its latency is taken when it settles. */
  private timed(p: Promise<unknown>, t0: number): Promise<unknown> {
    const s = this.stats!;
    return p.then(
      (v) => { s.observe(performance.now() - t0); return v; },
      (e) => { s.observe(performance.now() - t0); throw e; },
    );
  }

  private countError(): void {
    const s = this.stats;
    if (s === null) return;
    s.errors++;
  }

  private noSuchMethod(method: string, fn: unknown): PulsingError {
    if (method === 'receive' && typeof fn !== 'function') {
      return new PulsingUnsupportedError(`${this.label} has no receive() method: call its methods through a proxy (ref.asAny())`);
    }
    if (typeof fn === 'function' && (Object.prototype as unknown as Record<string, unknown>)[method] === fn) {
      return new PulsingUnsupportedError(`${this.label} has no method ${method}(): Object.prototype methods are not callable`);
    }
    if (typeof fn === 'function') return new PulsingUnsupportedError(`${this.label}.${method} is private and cannot be called`);
    return new PulsingUnsupportedError(`${this.label} has no method ${method}()`);
  }

  private enqueue(method: string, args: unknown[], tell: boolean, opts: CallOptions | undefined): Promise<unknown> {
    if (this.state === State.Stopped) return Promise.reject(this.stoppedError());
    let p!: Pending;
    const reply = new Promise<unknown>((resolve, reject) => {
      p = { method, args, tell, resolve, reject };
    });
    const queue = (this.queue ??= []);
    let accepted: Promise<void> | undefined;
    if (queue.length < this.mailboxCapacity) {
      queue.push(p);
    } else {
      // Full: the sender waits until the actor makes room.
      accepted = new Promise<void>((resolve) => { p.accepted = resolve; });
      (this.overflow ??= []).push(p);
    }
    if (tell) return accepted ?? Promise.resolve();
    const timeoutMs = opts?.timeoutMs ?? this.host.defaultTimeoutMs;
    return guard(reply, timeoutMs, opts?.signal, `${this.label}.${method}`, () => this.withdraw(p));
  }

  /** A caller gave up (timeout or abort) before its call ran: take it out of the mailbox. */
  private withdraw(p: Pending): void {
    for (const q of [this.queue, this.overflow]) {
      const i = q?.indexOf(p) ?? -1;
      if (i >= 0) q!.splice(i, 1);
    }
  }

  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.state === State.Ready && !this.running && this.queue !== null && this.queue.length > 0) {
        const p = this.queue.shift()!;
        this.admitOverflow();
        const reply = this.run(p.method, p.args, undefined);
        if (p.tell) { if (reply !== ACCEPTED) reply.then(undefined, (e) => this.reportTellError(p.method, e)); }
        else reply.then(p.resolve, p.reject);
      }
      if (this.queue !== null && this.queue.length === 0 && this.overflow === null) this.queue = null;
    } finally {
      this.draining = false;
    }
  }

  private admitOverflow(): void {
    const next = this.overflow?.shift();
    if (next === undefined) return;
    if (this.overflow!.length === 0) this.overflow = null;
    this.queue!.push(next);
    next.accepted?.();
  }

  private reportTellError(method: string, e: unknown): void {
    // A tell has nobody to answer; the error must still be seen.
    const err = e instanceof PulsingError ? e : classifyActorError(e, this.name);
    process.emitWarning(`${this.label}.${method} failed on a tell: ${err.message}`, { code: 'PULSING_TELL_ERROR' });
  }

  // --- lifecycle ----------------------------------------------------------------------

  private boot(instance: object | null): void {
    this.state = State.Starting;
    let inst: object;
    try {
      inst = instance ?? this.factory!();
    } catch (e) {
      this.crash(classifyActorError(e, this.name));
      return;
    }
    this.instance = inst as Record<string, unknown>;
    const onStart = this.instance.onStart;
    let started: unknown;
    try {
      started = typeof onStart === 'function' ? onStart.call(inst, this.actorId) : undefined;
    } catch (e) {
      this.crash(classifyActorError(e, this.name));
      return;
    }
    if (started instanceof Promise) {
      started.then(() => this.ready(inst), (e) => this.crash(classifyActorError(e, this.name)));
    } else {
      this.ready(inst);
    }
  }

  private ready(inst: object): void {
    if (this.state !== State.Starting || this.instance !== inst) return;
    this.state = State.Ready;
    let metadata: Record<string, string> | undefined;
    const md = (inst as Record<string, unknown>).metadata;
    if (typeof md === 'function') {
      try {
        metadata = md.call(inst) as Record<string, string>;
      } catch (e) {
        process.emitWarning(`${this.label}.metadata() failed: ${(e as Error).message}`, { code: 'PULSING_METADATA' });
      }
    }
    try {
      this.host.cellStarted(this, metadata);
    } catch (e) {
      // Metadata the registry refuses (over its limit): the first start fails the spawn
      // with that error; a restart keeps the actor and says why its metadata is stale.
      const err = e instanceof PulsingError ? e : classifyActorError(e, this.name);
      if (this.restarts === 0) {
        this.startError = err;
        this.startWaiters?.reject(err);
        this.startWaiters = null;
        this.finish(`its metadata was refused: ${err.message}`);
        return;
      }
      process.emitWarning(`${this.label}: metadata not published: ${err.message}`, { code: 'PULSING_METADATA' });
    }
    // Reported from its start (again after a restart: adding twice is nothing).
    if (this.stats !== null) this.host.statsStarted(this);
    this.startWaiters?.resolve();
    this.startWaiters = null;
    this.drain();
  }

  private crash(err: PulsingError): void {
    if (this.state === State.Stopped || this.state === State.Restarting) return;
    const inst = this.instance;
    this.instance = null;
    const sup = this.supervision;
    const canRestart = this.factory !== undefined && sup.restartPolicy !== 'never' && this.restarts < sup.maxRestarts;
    if (inst !== null && this.state === State.Ready) void this.callOnStop(inst);
    if (!canRestart) {
      const why = this.restarts > 0 ? `after ${this.restarts} restart(s): ${err.message}` : `it crashed: ${err.message}`;
      if (this.startWaiters) {
        this.startWaiters.reject(err);
        this.startWaiters = null;
      } else if (this.restarts === 0) {
        this.startError = err;
      }
      this.finish(why);
      return;
    }
    this.state = State.Restarting;
    this.startWaiters?.resolve();
    this.startWaiters = null;
    const backoff = Math.min(sup.minBackoffMs * 2 ** this.restarts, sup.maxBackoffMs);
    this.restarts++;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.state === State.Restarting) this.boot(null);
    }, backoff);
  }

  private finish(cause: string): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.state = State.Stopped;
    this.stopCause = cause;
    this.instance = null;
    const { queue, overflow } = this;
    this.queue = this.overflow = null;
    // The error is built only for calls that wait: an Error (with its stack) per actor made
    // shutting down many idle actors slow.
    if (queue?.length || overflow?.length) {
      const err = this.stoppedError();
      for (const p of [...(queue ?? []), ...(overflow ?? [])]) {
        p.accepted?.();
        if (!p.tell) p.reject(err);
      }
    }
    this.host.cellStopped(this);
  }

  private async callOnStop(inst: object | null): Promise<void> {
    const onStop = (inst as Record<string, unknown> | null)?.onStop;
    if (typeof onStop !== 'function') return;
    try {
      await onStop.call(inst);
    } catch (e) {
      process.emitWarning(`${this.label}.onStop() failed: ${(e as Error).message}`, { code: 'PULSING_ON_STOP' });
    }
  }

  private stoppedError(): PulsingRuntimeError {
    return new PulsingRuntimeError('Stopped', `${this.label} is stopped${this.stopCause && this.stopCause !== 'stopped' ? ` (${this.stopCause})` : ''}`);
  }
}
