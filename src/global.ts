/** The global system: `init`, `getSystem`, `shutdown`, `resolve`, `mount`. */
import type { QueueGroupReadOptions, QueueReadOptions, QueueWriteOptions, QueueWriter, Queues } from './queue';
import type { TopicReader, TopicWriter } from './topic';
import type { InitOptions, ResolveOptions } from './types';
import { ActorSystem } from './system';
import { PulsingRuntimeError } from './errors';
import { anyProxy, typedProxy, type ActorProxy, type AnyProxy } from './proxy';
import type { ActorClass, AnyCtor } from './remote';

let current: ActorSystem | null = null;
let starting: Promise<ActorSystem> | null = null;

/**
 * Start the global system. Without `addr` it is standalone (no port, no cluster); with
 * `addr` it listens there and joins the cluster of `seeds` (or of `headAddr`). Calling it
 * again returns the same system; after `shutdown()` it starts a new one.
 *
 * @param opts - Where to listen, whom to join, security and tuning; every field is optional.
 * @returns The global system, once it listens and (with seeds) has started joining.
 * @throws {@link PulsingRuntimeError} kind `Config` for an invalid option (the message names
 *   it), kind `Io` when the address cannot be bound.
 * @example
 * ```ts
 * import * as pul from 'pulsing';
 * // A standalone system, for actors in this process:
 * await pul.init();
 * // Or a cluster node: listen on a free port and join a seed.
 * // await pul.init({ addr: '127.0.0.1:0', seeds: ['127.0.0.1:8000'] });
 * ```
 */
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

/**
 * Find a named actor anywhere in the cluster and return a proxy to it: typed when `cls`
 * (an actor class from {@link remote}) is given, untyped otherwise.
 *
 * @param name - The actor's name (`counter` is stored as `actors/counter`).
 * @param opts - `cls` for a typed proxy; `timeoutMs` to wait for the name to arrive by gossip
 *   (default: fail at once if it is unknown); `nodeId` for one node's instance.
 * @returns A proxy whose methods are the actor's methods.
 * @throws {@link PulsingRuntimeError} kind `ActorNotFound` when no instance is known within
 *   `timeoutMs`; kind `Config` before `init()`.
 * @example
 * ```ts
 * const counter = await pul.resolve('counter', { cls: RCounter, timeoutMs: 5000 });
 * await counter.incr();
 * ```
 */
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

/**
 * Queues of the global system: `pul.queue.write(name, opts)` and `pul.queue.read(name, opts)`
 * (the same as `pul.getSystem().queue`).
 *
 * @example
 * ```ts
 * const w = await pul.queue.write('jobs', { bucketColumn: 'id', numBuckets: 4 });
 * await w.put({ id: 'u1', data: 'hello' });
 * await w.flush();
 * const r = await pul.queue.read('jobs', { rank: 0, worldSize: 1 });
 * await r.get({ limit: 10 }); // [{ id: 'u1', data: 'hello' }]
 * ```
 */
export const queue: Pick<Queues, 'write' | 'read'> = {
  write: (name: string, opts?: QueueWriteOptions): Promise<QueueWriter> => getSystem().queue.write(name, opts),
  read: ((name: string, opts?: QueueReadOptions | QueueGroupReadOptions) => getSystem().queue.read(name, opts as QueueReadOptions)) as Queues['read'],
};

/**
 * Topics of the global system: `pul.topic.write(name)` and `pul.topic.read(name)` (the same
 * as `pul.getSystem().topic`).
 *
 * @example
 * ```ts
 * const tr = await pul.topic.read('events');
 * tr.onMessage((m) => console.log(m));
 * await tr.start();
 * const tw = await pul.topic.write('events');
 * await tw.publish({ type: 'login' }, { mode: 'wait-all-acks' }); // { delivered: 1, failed: 0 }
 * await tr.stop();
 * ```
 */
export const topic = {
  write: (name: string): Promise<TopicWriter> => getSystem().topic.write(name),
  read: (name: string): Promise<TopicReader> => getSystem().topic.read(name),
};
