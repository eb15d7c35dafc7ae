/**
 * The native addon itself, loaded once (built by `napi build` into `native/`, or the
 * per-platform package when installed from the registry). Imports nothing, so every module
 * can depend on it.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const binding = require('../native/binding.cjs') as typeof import('../native/binding');

/** Protocol constants, defined once in the core (stream window, request-id space, limits, error kinds). */
export const protocol = binding.protocol();
