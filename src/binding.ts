/**
 * The native addon itself, loaded once (built by `napi build` into `native/`, or the
 * per-platform package when installed from the registry). Imports nothing, so every module
 * can depend on it.
 */
export const binding = load();

/** Protocol constants, defined once in the core (stream window, request-id space, limits, error kinds). */
export const protocol = binding.protocol();

function load(): typeof import('../native/binding') {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('../native/binding.cjs') as typeof import('../native/binding');
  } catch (e) {
    throw new Error(explainLoadFailure(e), { cause: e });
  }
}

/**
 * What to tell a user whose addon did not load. The generated loader tries the file beside it
 * and then the platform package, and says only "Cannot find native binding"; the reason that
 * matters (a glibc too old, a file of another architecture, a package not installed) is in its
 * chain of causes, which is printed here instead.
 */
export function explainLoadFailure(e: unknown): string {
  const reasons: string[] = [];
  for (let c: unknown = e; c instanceof Error && reasons.length < 16; c = c.cause) reasons.push(c.message);
  const tried = reasons.slice(1);
  // "Cannot find module" is every candidate that is simply not there; anything else is a
  // candidate that is there and failed to load: that is the real cause.
  const real = tried.filter((m) => !/^Cannot find module/.test(m));
  const target = platformName();
  const pkg = `pulsing-${target}`;
  const head = `pulsing: the native addon for ${target} did not load`;
  if (real.length > 0) return `${head}: ${real.join('; ')}`;
  if (tried.length > 0) {
    return `${head}: the package ${pkg} is not installed (an optional dependency: install with optional dependencies, and on a platform it is published for; see the README's platform table). Tried: ${tried.join('; ')}`;
  }
  return `${head}: ${reasons[0] ?? String(e)}`;
}

/** This platform as the platform packages name it: `linux-x64-gnu`, `darwin-arm64`, `win32-x64-msvc`, ... */
function platformName(): string {
  const base = `${process.platform}-${process.arch}`;
  if (process.platform === 'linux') {
    const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
    return `${base}-${header?.glibcVersionRuntime ? 'gnu' : 'musl'}`;
  }
  if (process.platform === 'win32') return `${base}-msvc`;
  return base;
}
