/**
 * Streams: what a caller gets from a generator method (or a `receive` that yields).
 *
 * Locally the caller pulls straight from the actor's generator: one item in flight, so a
 * slow consumer slows the producer. Breaking out of `for await` calls `return()` on the
 * generator, so its `finally` runs. Each item waits at most the call's timeout.
 */
import type { CallOptions } from './types';
import { guard } from './deadline';
import { roundTrip } from './codec';
import { PulsingRuntimeError, type PulsingError } from './errors';

/**
 * Where a stream's items come from, as a generator offers them: `next()` gives an item at
 * once when it has one, or a promise of it (a remote stream's queue does both).
 */
export interface StepSource {
  next(): IteratorResult<unknown, unknown> | Promise<IteratorResult<unknown, unknown>>;
  return(value?: unknown): unknown;
}

type AnyGen = Generator<unknown, unknown, unknown> | AsyncGenerator<unknown, unknown, unknown> | StepSource;

/** Hooks a stream needs from the actor that produces it. */
export interface StreamHost {
  /** Classify (and act on) an error thrown by actor code. */
  onError(e: unknown): PulsingError;
  readonly label: string;
  readonly strict: boolean;
}

/** An actor's stream: async-iterable; `drain()` consumes it and gives the return value. */
export class ActorStream<Y = unknown, R = unknown> implements AsyncIterable<Y> {
  #used = false;
  constructor(
    private readonly gen: AnyGen,
    private readonly host: StreamHost,
    private readonly timeoutMs: number,
    private readonly signal: AbortSignal | undefined,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<Y, R> {
    if (this.#used) throw new PulsingRuntimeError('Config', `the stream of ${this.host.label} can be iterated only once`);
    this.#used = true;
    return new StreamIterator<Y, R>(this.gen, this.host, this.timeoutMs, this.signal);
  }

  /** Consume every item; resolves to the generator's return value. */
  async drain(): Promise<R> {
    const it = this[Symbol.asyncIterator]();
    for (;;) {
      const r = await it.next();
      if (r.done) return r.value;
    }
  }
}

class StreamIterator<Y, R> implements AsyncIterator<Y, R> {
  private done = false;
  constructor(
    private readonly gen: AnyGen,
    private readonly host: StreamHost,
    private readonly timeoutMs: number,
    private readonly signal: AbortSignal | undefined,
  ) {}

  async next(): Promise<IteratorResult<Y, R>> {
    if (this.done) return { done: true, value: undefined as R };
    if (this.signal?.aborted) {
      await this.cancel();
      throw this.signal.reason;
    }
    let r: IteratorResult<unknown, unknown>;
    try {
      const step = this.gen.next();
      r = step instanceof Promise
        ? await guard(step, this.timeoutMs, this.signal, `${this.host.label} stream item`, () => void this.cancel())
        : step;
    } catch (e) {
      this.done = true;
      // Timeouts and aborts come from the caller's side: pass them through unclassified.
      if (e === this.signal?.reason || (e as Error)?.name === 'PulsingTimeoutError') throw e;
      throw this.host.onError(e);
    }
    if (r.done) this.done = true;
    const value = this.host.strict ? roundTrip(r.value) : r.value;
    return { done: r.done ?? false, value } as IteratorResult<Y, R>;
  }

  async return(value?: R): Promise<IteratorResult<Y, R>> {
    await this.cancel();
    return { done: true, value: value as R };
  }

  private async cancel(): Promise<void> {
    if (this.done) return;
    this.done = true;
    try {
      await this.gen.return(undefined);
    } catch (e) {
      throw this.host.onError(e);
    }
  }
}

/**
 * The result of calling a method through a proxy when it may stream: awaitable (a stream
 * is drained and gives its return value) and `for await`-able (a plain value is one item).
 */
export class CallResult<Y = unknown, R = unknown> implements AsyncIterable<Y>, PromiseLike<R> {
  constructor(private readonly reply: Promise<unknown>) {}

  then<A = R, B = never>(onfulfilled?: ((value: R) => A | PromiseLike<A>) | null, onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    return this.reply
      .then((v) => (v instanceof ActorStream ? (v.drain() as Promise<R>) : (v as R)))
      .then(onfulfilled, onrejected);
  }

  /** As `Promise.prototype.catch`: the result, or what `onrejected` makes of its error. */
  catch<B = never>(onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<R | B> {
    return this.then(undefined, onrejected);
  }

  /** As `Promise.prototype.finally`. */
  finally(onfinally?: (() => void) | null): Promise<R> {
    return this.then().finally(onfinally);
  }

  get [Symbol.toStringTag](): string {
    return 'CallResult';
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Y, R | undefined, undefined> {
    const v = await this.reply;
    if (v instanceof ActorStream) {
      // yield* forwards return() from a `break`, so the actor's generator is cancelled.
      return (yield* v as AsyncIterable<Y>) as R | undefined;
    }
    yield v as Y;
    return undefined;
  }
}

/** Options used when a stream is created. */
export function streamOptions(opts: CallOptions | undefined, defaultTimeoutMs: number): [number, AbortSignal | undefined] {
  return [opts?.timeoutMs ?? defaultTimeoutMs, opts?.signal];
}
