/**
 * The native core as the TypeScript layer uses it: creating and shutting down systems,
 * with failures turned into typed errors. Everything else goes through this module.
 */
import type { JsSystemConfig, JsWireError } from '../native/binding';
import { fromWire, type PulsingError } from './errors';
import { binding, protocol } from './binding';

export type NativeSystem = import('../native/binding').NativeSystem;
export const normalizeName = binding.normalizeName;
export const nativeHttpToken = binding.httpToken;

export { protocol };

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
