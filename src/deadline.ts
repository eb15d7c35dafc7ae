/** Timeouts and abort signals around a pending promise. */
import type { CallOptions } from './types';
import { PulsingTimeoutError } from './errors';

/**
 * Settle with `p`, or reject with `PulsingTimeoutError` after `timeoutMs`, or with the
 * signal's reason when it aborts. `onCancel` runs when the caller gives up.
 */
export function guard<T>(p: Promise<T>, timeoutMs: number, signal: AbortSignal | undefined, operation: string, onCancel?: () => void): Promise<T> {
  if (!(timeoutMs > 0) && !signal) return p;
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = () => {
      done();
      onCancel?.();
      reject(signal!.reason);
    };
    if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
      timer = setTimeout(() => {
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
  if (opts.timeoutMs !== undefined && !(typeof opts.timeoutMs === 'number' && opts.timeoutMs > 0)) {
    throw new TypeError(`${what}: timeoutMs must be a positive number of milliseconds, got ${String(opts.timeoutMs)}`);
  }
  if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) {
    throw new TypeError(`${what}: signal must be an AbortSignal`);
  }
}
