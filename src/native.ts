/**
 * Loads the native addon (built by `napi build` into `native/`, or the per-platform
 * package when installed from the registry). Everything else goes through this module.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const binding = require('../native/binding.cjs') as typeof import('../native/binding');

export type NativeSystem = import('../native/binding').NativeSystem;
export const createSystem = binding.createSystem;
export const normalizeName = binding.normalizeName;
