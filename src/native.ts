/**
 * Loads the native addon (built by `napi build` into `native/`, or the per-platform
 * package when installed from the registry). Everything else goes through this module.
 */
import type { JsSystemConfig, JsWireError } from '../native/binding';
import { fromWire, type PulsingError } from './errors';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const binding = require('../native/binding.cjs') as typeof import('../native/binding');

export type NativeSystem = import('../native/binding').NativeSystem;
export const normalizeName = binding.normalizeName;

/** Protocol constants, defined once in the core (stream window, request-id space, limits). */
export const protocol = binding.protocol();

/** A typed error from its wire form as the binding returns it. */
export function errorFromJs(j: JsWireError): PulsingError {
  return fromWire({
    cls: j.cls, message: j.message, kind: j.kind ?? undefined, code: j.code ?? undefined,
    error: j.error ?? undefined, recoverable: j.recoverable ?? undefined, operation: j.operation ?? undefined,
    durationMs: j.durationMs ?? undefined, actorName: j.actorName ?? undefined,
  });
}

/** Create the core system; its failure comes back as a typed value, thrown here as its class. */
export async function createSystem(config: JsSystemConfig): Promise<NativeSystem> {
  const r = await binding.createSystem(config);
  if (r instanceof binding.NativeSystem) return r;
  throw errorFromJs(r as JsWireError);
}

/** Shut the core system down; a failure is thrown as its class. */
export async function shutdownSystem(core: NativeSystem): Promise<void> {
  const err = await core.shutdown();
  if (err) throw errorFromJs(err);
}
