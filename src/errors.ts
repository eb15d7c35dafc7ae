/**
 * Error classes of the public contract, and how errors thrown inside actors are classified.
 * An error keeps its class and fields wherever the actor runs: locally it is classified once;
 * on the wire (and under `strictLocal`) it travels as a {@link WireError}.
 */

import { protocol } from './binding';

/** Kinds of framework errors ({@link PulsingRuntimeError.kind}). */
export type RuntimeErrorKind =
  | 'ActorNotFound'
  | 'NodeNotFound'
  | 'NodeDown'
  | 'Stopped'
  | 'ConnectionFailed'
  | 'Serialization'
  | 'Config'
  | 'Io'
  | 'Tls'
  | 'Protocol';

/** The kinds, as the core defines them (the type above spells them for the compiler). */
const RUNTIME_KINDS: ReadonlySet<string> = new Set(protocol.errorKinds);

/** Root of every error Pulsing raises. */
export class PulsingError extends Error {}

/** A framework error: the runtime could not deliver or complete the call. */
export class PulsingRuntimeError extends PulsingError {
  /** What went wrong, e.g. `ActorNotFound`, `Stopped`, `Config`. */
  readonly kind: RuntimeErrorKind;
  constructor(kind: RuntimeErrorKind, message: string) {
    super(message);
    this.kind = kind;
  }
}

/** An error raised by actor code. */
export class PulsingActorError extends PulsingError {
  /** The actor that raised it, when known. */
  actorName?: string;
  constructor(message: string, actorName?: string) {
    super(message);
    if (actorName !== undefined) this.actorName = actorName;
  }
}

/** Bad input or a business rule: reaches the caller, the actor keeps running. */
export class PulsingBusinessError extends PulsingActorError {
  readonly code: number;
  readonly details?: unknown;
  constructor(code: number, message: string, details?: unknown) {
    super(message);
    this.code = code;
    if (details !== undefined) this.details = details;
  }
}

/** An internal error; `recoverable: false` crashes the actor (supervision may restart it). */
export class PulsingSystemError extends PulsingActorError {
  readonly error: string;
  readonly recoverable: boolean;
  constructor(error: string, recoverable = true) {
    super(error);
    this.error = error;
    this.recoverable = recoverable;
  }
}

/** An operation took longer than allowed. */
export class PulsingTimeoutError extends PulsingActorError {
  readonly operation: string;
  readonly durationMs: number;
  constructor(operation: string, durationMs = 0) {
    super(`${operation} timed out after ${durationMs} ms`);
    this.operation = operation;
    this.durationMs = durationMs;
  }
}

/** The operation is not supported (unknown or private method, missing feature). */
export class PulsingUnsupportedError extends PulsingActorError {
  readonly operation: string;
  constructor(operation: string) {
    super(`unsupported: ${operation}`);
    this.operation = operation;
  }
}

for (const cls of [
  PulsingError, PulsingRuntimeError, PulsingActorError, PulsingBusinessError,
  PulsingSystemError, PulsingTimeoutError, PulsingUnsupportedError,
]) {
  Object.defineProperty(cls.prototype, 'name', { value: cls.name, writable: true, configurable: true });
}

/**
 * Classify an error thrown inside an actor (docs/semantics.md, "Failure and supervision"): Pulsing errors keep their
 * class; `TypeError`/`RangeError` are business errors (400); an error named `TimeoutError`
 * is a timeout; anything else is a recoverable system error.
 */
export function classifyActorError(err: unknown, actorName?: string): PulsingError {
  let out: PulsingError;
  if (err instanceof PulsingError) {
    out = err;
  } else if (err instanceof TypeError || err instanceof RangeError) {
    out = new PulsingBusinessError(400, err.message);
  } else if (err instanceof Error && err.name === 'TimeoutError') {
    out = new PulsingTimeoutError(err.message || 'operation');
  } else if (err instanceof Error) {
    out = new PulsingSystemError(err.message || err.name, true);
  } else {
    out = new PulsingSystemError(String(err), true);
  }
  if (out instanceof PulsingActorError && out.actorName === undefined && actorName !== undefined) {
    out.actorName = actorName;
  }
  return out;
}

/** Whether an error raised by actor code must crash the actor. */
export function isFatal(err: PulsingError): boolean {
  return err instanceof PulsingSystemError && !err.recoverable;
}

/** An error as it travels: class name and fields, never text to be parsed. */
export interface WireError {
  cls: string;
  message: string;
  kind?: string;
  code?: number;
  details?: unknown;
  error?: string;
  recoverable?: boolean;
  operation?: string;
  durationMs?: number;
  actorName?: string;
}

/** Encode an error for the wire (or for `strictLocal`). */
export function toWire(err: PulsingError): WireError {
  const w: WireError = { cls: err.constructor.name, message: err.message };
  if (err instanceof PulsingRuntimeError) w.kind = err.kind;
  if (err instanceof PulsingActorError && err.actorName !== undefined) w.actorName = err.actorName;
  if (err instanceof PulsingBusinessError) { w.code = err.code; w.details = err.details; }
  if (err instanceof PulsingSystemError) { w.error = err.error; w.recoverable = err.recoverable; }
  if (err instanceof PulsingTimeoutError) { w.operation = err.operation; w.durationMs = err.durationMs; }
  if (err instanceof PulsingUnsupportedError) w.operation = err.operation;
  return w;
}

/** Rebuild an error from its wire form, with the same class and fields. */
export function fromWire(w: WireError): PulsingError {
  let e: PulsingError;
  switch (w.cls) {
    case 'PulsingRuntimeError':
      e = new PulsingRuntimeError(RUNTIME_KINDS.has(w.kind ?? '') ? (w.kind as RuntimeErrorKind) : 'Protocol', w.message);
      break;
    case 'PulsingBusinessError':
      e = new PulsingBusinessError(w.code ?? 0, w.message, w.details);
      break;
    case 'PulsingSystemError':
      e = new PulsingSystemError(w.error ?? w.message, w.recoverable ?? true);
      break;
    case 'PulsingTimeoutError':
      e = new PulsingTimeoutError(w.operation ?? 'operation', w.durationMs ?? 0);
      break;
    case 'PulsingUnsupportedError':
      e = new PulsingUnsupportedError(w.operation ?? w.message);
      break;
    case 'PulsingActorError':
      e = new PulsingActorError(w.message);
      break;
    default:
      e = new PulsingError(w.message);
  }
  e.message = w.message;
  if (e instanceof PulsingActorError && w.actorName !== undefined) e.actorName = w.actorName;
  return e;
}

/**
 * Convert an error thrown by the native binding into its typed class. The binding puts the
 * kind in the error's `code` (a field, never text to parse); napi's own argument errors
 * (`InvalidArg`, `NumberExpected`, ...) mean the binding was called with bad input: `Config`.
 * The original error is kept as `cause`.
 */
export function fromNative(err: unknown): PulsingError {
  if (err instanceof PulsingError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const text = err instanceof Error ? err.message : String(err);
  let out: PulsingError;
  if (typeof code === 'string' && RUNTIME_KINDS.has(code)) out = new PulsingRuntimeError(code as RuntimeErrorKind, text);
  else if (code === 'Unsupported') out = new PulsingUnsupportedError(text);
  else if (code === 'Timeout') out = new PulsingTimeoutError(text);
  else if (code === 'Business') out = new PulsingBusinessError(400, text);
  else if (code === 'System') out = new PulsingSystemError(text, true);
  else out = new PulsingRuntimeError('Config', `invalid input to the native binding: ${text}`);
  Object.defineProperty(out, 'cause', { value: err, writable: true, configurable: true, enumerable: false });
  return out;
}

/** Call into the binding, turning its errors into typed ones. */
export function native<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw fromNative(e);
  }
}
