/** Timeouts and abort signals around a pending promise. */
import type { CallOptions } from './types';
import { PulsingRuntimeError, PulsingTimeoutError } from './errors';

/** Largest duration accepted anywhere: 2^53-1 ms (timers chain past Node's 2^31-1 limit). */
export const MAX_DURATION_MS = Number.MAX_SAFE_INTEGER;

/**
 * Check a duration option: a positive number of milliseconds (Infinity means never),
 * an integer where `integer` is set; the error names the field and the range.
 */
export function checkDuration(v: unknown, field: string, integer = false, max = MAX_DURATION_MS): void {
  const ok = typeof v === 'number' && v > 0 && (v === Infinity ? !integer : v <= max && (!integer || Number.isInteger(v)));
  if (!ok) {
    const range = integer ? `a whole number of milliseconds from 1 to ${max}` : 'a positive number of milliseconds';
    throw new PulsingRuntimeError('Config', `${field} must be ${range}, got ${typeof v === 'number' ? v : JSON.stringify(v) ?? String(v)}`);
  }
}

/** Longest delay one Node timer can arm; longer ones would fire after about 1 ms. */
export const MAX_TIMER_MS = 0x7fffffff;

/** A timer that may be longer than Node's limit (chained timers); returns its canceller. */
export function setLongTimeout(fn: () => void, ms: number): () => void {
  let timer: NodeJS.Timeout | undefined;
  const deadline = Date.now() + ms;
  const arm = (left: number) => {
    timer = setTimeout(() => {
      const rest = deadline - Date.now();
      if (rest > 0) arm(rest);
      else fn();
    }, Math.min(left, MAX_TIMER_MS));
  };
  arm(ms);
  return () => { if (timer) clearTimeout(timer); };
}

/**
 * Settle with `p`, or reject with `PulsingTimeoutError` after `timeoutMs`, or with the
 * signal's reason when it aborts. `onCancel` runs when the caller gives up.
 */
export function guard<T>(p: Promise<T>, timeoutMs: number, signal: AbortSignal | undefined, operation: string, onCancel?: () => void): Promise<T> {
  if (!(timeoutMs > 0) && !signal) return p;
  return new Promise<T>((resolve, reject) => {
    let cancelTimer: (() => void) | undefined;
    const done = () => {
      cancelTimer?.();
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = () => {
      done();
      onCancel?.();
      reject(signal!.reason);
    };
    if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
      cancelTimer = setLongTimeout(() => {
        done();
        onCancel?.();
        reject(new PulsingTimeoutError(operation, timeoutMs));
      }, timeoutMs);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    p.then((v) => { done(); resolve(v); }, (e) => { done(); reject(e); });
  });
}

/** Check call options up front, so bad input fails with a clear error before anything runs. */
export function checkCallOptions(opts: CallOptions | undefined, what: string): void {
  if (opts === undefined) return;
  if (typeof opts !== 'object' || opts === null) {
    throw new PulsingRuntimeError('Config', `${what}: options must be an object, got ${opts === null ? 'null' : typeof opts}`);
  }
  if (opts.timeoutMs !== undefined) checkDuration(opts.timeoutMs, `${what}: timeoutMs`);
  if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) {
    throw new PulsingRuntimeError('Config', `${what}: signal must be an AbortSignal`);
  }
}
