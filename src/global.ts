/** The global system: `init`, `getSystem`, `shutdown`, `resolve`, `mount`. */
import type { InitOptions, ResolveOptions } from './types';
import { ActorSystem } from './system';
import { PulsingRuntimeError } from './errors';
import { anyProxy, typedProxy, type ActorProxy, type AnyProxy } from './proxy';
import type { ActorClass, AnyCtor } from './remote';

let current: ActorSystem | null = null;
let starting: Promise<ActorSystem> | null = null;

/** Start the global system (standalone with no options). Calling it again returns the same system. */
export function init(opts: InitOptions = {}): Promise<ActorSystem> {
  if (current) return Promise.resolve(current);
  starting ??= ActorSystem.create(opts).then(
    (sys) => {
      current = sys;
      starting = null;
      sys.onShutdown = () => { if (current === sys) current = null; };
      return sys;
    },
    (e) => { starting = null; throw e; },
  );
  return starting;
}

/** The global system; throws `PulsingRuntimeError` before `init`. */
export function getSystem(): ActorSystem {
  if (!current) throw new PulsingRuntimeError('Config', 'pulsing is not initialized: call `await pul.init()` first');
  return current;
}

/** Whether the global system is running. */
export function isInitialized(): boolean {
  return current !== null;
}

/** Shut the global system down (actors' `onStop` run); a no-op when not initialized. */
export async function shutdown(): Promise<void> {
  const sys = current ?? (starting ? await starting.catch(() => null) : null);
  if (sys) await sys.shutdown();
}

/** An extra, non-global system (`await using sys = await pul.actorSystem()`). */
export function actorSystem(opts: InitOptions = {}): Promise<ActorSystem> {
  return ActorSystem.create(opts);
}

/** Resolve a name on the global system to a typed (with `cls`) or untyped proxy. */
export function resolve<C extends AnyCtor>(name: string, opts: ResolveOptions & { cls: ActorClass<C> }): Promise<ActorProxy<InstanceType<C>>>;
export function resolve(name: string, opts?: ResolveOptions): Promise<AnyProxy>;
export async function resolve(name: string, opts: ResolveOptions & { cls?: ActorClass<AnyCtor> } = {}): Promise<unknown> {
  const { cls, ...rest } = opts;
  const ref = await getSystem().resolve(name, rest);
  return cls ? typedProxy(ref, cls, undefined) : anyProxy(ref, undefined);
}

/** Expose an existing object as a named actor of the global system (its methods become callable). */
export function mount(obj: object, opts: { name: string }): Promise<void> {
  if (typeof obj !== 'object' || obj === null) throw new PulsingRuntimeError('Config', 'mount: expected an object');
  if (!opts || typeof opts.name !== 'string') throw new PulsingRuntimeError('Config', 'mount: opts.name must be a string');
  // Registration happens synchronously, so the name resolves as soon as mount() returns.
  return getSystem().spawnObject(obj, { name: opts.name }).then(() => undefined);
}

/** Remove a mounted object (its `onStop` runs if it has one). */
export function unmount(name: string): Promise<void> {
  return getSystem().stop(name);
}
