/**
 * Traces: when the application has `@opentelemetry/api`, every call that leaves this process
 * makes a client span, and every call that arrives makes a server span, with the actor, the
 * method and the node as attributes; the W3C `traceparent` of the caller's span travels in
 * the frame header, so spans on different nodes join one trace (through `Connect` too).
 *
 * Without the package nothing here runs: {@link tracer} is `null` and the call paths test
 * that once. The package is looked up at run time from where Pulsing is installed (the
 * application's `node_modules`), never bundled and never a dependency of ours.
 */
import { createRequire } from 'node:module';

/** The part of `@opentelemetry/api` used here (its types are not a dependency of ours). */
interface SpanContext { traceId: string; spanId: string; traceFlags: number; isRemote?: boolean }
interface Span {
  spanContext(): SpanContext;
  setStatus(s: { code: number; message?: string }): void;
  recordException(e: unknown): void;
  end(): void;
}
type Context = object;
interface OtelApi {
  trace: {
    getTracer(name: string, version?: string): { startSpan(name: string, opts: object, ctx?: Context): Span };
    getTracerProvider(): { getDelegateTracer?(name: string): unknown };
    setSpan(ctx: Context, span: Span): Context;
    setSpanContext(ctx: Context, sc: SpanContext): Context;
  };
  context: { active(): Context; with<T>(ctx: Context, fn: () => T): T };
  ROOT_CONTEXT: Context;
  SpanKind: { CLIENT: number; SERVER: number };
  SpanStatusCode: { ERROR: number };
}

const PACKAGE = '@opentelemetry/api';
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const INVALID_TRACE = '00000000000000000000000000000000';
const INVALID_SPAN = '0000000000000000';

/** What the call paths see: spans around a call, or nothing. */
export class Tracer {
  private readonly tracer;
  private sdk = false;

  constructor(private readonly api: OtelApi) {
    this.tracer = api.trace.getTracer('pulsing');
  }

  /**
   * Whether an SDK is registered (spans are recorded). The API alone makes only no-op spans
   * and keeps no context across `await`: then calls are not wrapped at all.
   */
  get enabled(): boolean {
    if (this.sdk) return true;
    const p = this.api.trace.getTracerProvider();
    // The API's proxy provider has no delegate until an SDK registers (it stays once it has).
    this.sdk = typeof p.getDelegateTracer !== 'function' || p.getDelegateTracer('pulsing') !== undefined;
    return this.sdk;
  }

  /**
   * Run `send` (a call to `actor.method` on `node`) in a client span, a child of the active
   * one; `send` gets the span's `traceparent` to carry.
   */
  client<T>(actor: string, method: string, node: string, send: (traceparent: string | undefined) => Promise<T>): Promise<T> {
    const span = this.tracer.startSpan(`${actor}/${method}`, {
      kind: this.api.SpanKind.CLIENT,
      attributes: attributes(actor, method, node),
    }, this.api.context.active());
    return this.settle(span, send(traceparentOf(span.spanContext())));
  }

  /**
   * Run `serve` (a call to `actor.method` on this node, `node`) in a server span whose parent
   * is the caller's `traceparent` (when it sent a valid one); calls `serve` makes are its
   * children.
   */
  server<T>(actor: string, method: string, node: string, traceparent: string | undefined, serve: () => Promise<T>): Promise<T> {
    const parent = parse(traceparent);
    const base = parent === undefined ? this.api.ROOT_CONTEXT : this.api.trace.setSpanContext(this.api.ROOT_CONTEXT, parent);
    const span = this.tracer.startSpan(`${actor}/${method}`, {
      kind: this.api.SpanKind.SERVER,
      attributes: attributes(actor, method, node),
    }, base);
    const ctx = this.api.trace.setSpan(base, span);
    let p: Promise<T>;
    try {
      p = this.api.context.with(ctx, serve);
    } catch (e) {
      p = Promise.reject(e);
    }
    return this.settle(span, p);
  }

  private settle<T>(span: Span, p: Promise<T>): Promise<T> {
    return p.then(
      (v) => { span.end(); return v; },
      (e) => {
        span.recordException(e as Error);
        span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: (e as Error)?.message });
        span.end();
        throw e;
      },
    );
  }
}

function attributes(actor: string, method: string, node: string): Record<string, string> {
  return { 'rpc.system': 'pulsing', 'pulsing.actor': actor, 'pulsing.method': method, 'pulsing.node': node };
}

/** `sc` as a W3C `traceparent`; undefined for the invalid context (no SDK, nothing to join). */
function traceparentOf(sc: SpanContext): string | undefined {
  if (sc.traceId === INVALID_TRACE || sc.spanId === INVALID_SPAN) return undefined;
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** A remote caller's span context, from a `traceparent` it sent (checked: it came from the network). */
function parse(t: string | undefined): SpanContext | undefined {
  if (t === undefined) return undefined;
  const m = TRACEPARENT.exec(t);
  if (m === null || m[1] === INVALID_TRACE || m[2] === INVALID_SPAN) return undefined;
  return { traceId: m[1], spanId: m[2], traceFlags: parseInt(m[3], 16), isRemote: true };
}

let cached: Tracer | null | undefined;

/** The tracer when the application has `@opentelemetry/api`, otherwise null (looked up once). */
export function tracer(): Tracer | null {
  if (cached !== undefined) return cached;
  try {
    // A name in a variable: bundlers leave the lookup to run time.
    cached = new Tracer(createRequire(__filename)(PACKAGE) as OtelApi);
  } catch (e) {
    cached = null;
    // Absent is the common case; present but broken is worth saying.
    if ((e as { code?: string }).code !== 'MODULE_NOT_FOUND') {
      process.emitWarning(`pulsing: ${PACKAGE} could not be loaded, calls are not traced: ${(e as Error).message}`, { code: 'PULSING_TRACING' });
    }
  }
  return cached;
}
