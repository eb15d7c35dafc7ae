/**
 * `remote()`: turn a class into an actor class with typed `spawn` and `resolve`.
 * Works as a function (`pul.remote(Counter, opts)`) and as a decorator, both TS 5 standard
 * (`@pul.remote()` / `@pul.remote`) and legacy `experimentalDecorators`.
 */
import type { CallOptions, ResolveOptions, SupervisionOptions, SystemSpawnOptions } from './types';
import type { ActorRef } from './ref';
import type { ActorSystem } from './system';
import { typedProxy, typedProxyOf, methodKinds, type ActorProxy } from './proxy';
import type { CallTarget } from './target';
import { getSystem } from './global';
import { PulsingRuntimeError } from './errors';

/** Any class. */
export type AnyCtor = abstract new (...args: any[]) => any;

/** Options of `remote()`. */
export interface RemoteOptions extends SupervisionOptions {
  /** Registry key used by remote spawn (default: the class name). */
  className?: string;
  /** Mailbox bound (default 4096). */
  mailboxCapacity?: number;
}

/** Options of `ActorClass.spawn`. */
export interface SpawnOptions<C extends AnyCtor> {
  /** Constructor arguments (must be serialisable for remote placement). */
  args?: ConstructorParameters<C>;
  /** Register under this name (resolvable). */
  name?: string;
  /** `'local'` (default), `'remote'`, or a node id. */
  placement?: 'local' | 'remote' | (string & {});
  /** The system to spawn on (default: the global one). */
  system?: ActorSystem;
}

/** An actor class: spawn instances, resolve named ones. */
export interface ActorClass<C extends AnyCtor> {
  /** Registry key of the class. */
  readonly className: string;
  /** @internal Method table: name → value or stream. */
  readonly methods: ReadonlyMap<string, 'value' | 'stream'>;
  /**
   * Spawn an instance as an actor and return a typed proxy to it.
   *
   * @param opts - `args` for the constructor, `name` to make it resolvable, `placement`
   *   (`'local'`, `'remote'` or a node id), `system` (default: the global one).
   * @returns A proxy typed from the class: `await proxy.method(...)`, `for await` on generators.
   * @throws {@link PulsingRuntimeError} kind `Config` for a bad name or option, or when the
   *   name is taken on this node; kind `NodeNotFound` when `placement` names no live member.
   * @example
   * ```ts
   * const c = await RCounter.spawn({ args: [10], name: 'counter' });
   * await c.incr(); // 11
   * ```
   */
  spawn(opts?: SpawnOptions<C>): Promise<ActorProxy<InstanceType<C>>>;
  /**
   * A typed proxy to the actor named `name`, wherever it lives in the cluster.
   *
   * @param name - The actor's name.
   * @param opts - `timeoutMs` to wait for the name to arrive by gossip; `nodeId`; `system`.
   * @returns A proxy typed from this class.
   * @throws {@link PulsingRuntimeError} kind `ActorNotFound` when the name is unknown.
   * @example
   * ```ts
   * const c = await RCounter.resolve('counter', { timeoutMs: 5000 });
   * ```
   */
  resolve(name: string, opts?: ResolveOptions & { system?: ActorSystem }): Promise<ActorProxy<InstanceType<C>>>;
}

const registry = new Map<string, ActorClassImpl<AnyCtor>>();

/** The actor class registered under `className`, if any (used by remote spawn). */
export function lookupClass(className: string): ActorClass<AnyCtor> | undefined {
  return registry.get(className);
}

const POLICIES = new Set(['never', 'on-failure', 'always']);

/** Validate supervision options, naming the bad one. */
export function checkSupervision(o: SupervisionOptions & { mailboxCapacity?: number }, where: string): void {
  if (o.restartPolicy !== undefined && !POLICIES.has(o.restartPolicy)) {
    throw new PulsingRuntimeError('Config', `${where}: restartPolicy must be 'never', 'on-failure' or 'always', got ${JSON.stringify(o.restartPolicy)}`);
  }
  for (const k of ['maxRestarts', 'minBackoffMs', 'maxBackoffMs', 'mailboxCapacity'] as const) {
    const v = o[k];
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= 0)) {
      throw new PulsingRuntimeError('Config', `${where}: ${k} must be a non-negative number, got ${String(v)}`);
    }
  }
  if (o.mailboxCapacity !== undefined && o.mailboxCapacity < 1) {
    throw new PulsingRuntimeError('Config', `${where}: mailboxCapacity must be at least 1`);
  }
}

class ActorClassImpl<C extends AnyCtor> implements ActorClass<C> {
  readonly className: string;
  readonly methods: ReadonlyMap<string, 'value' | 'stream'>;

  constructor(readonly cls: C, readonly options: RemoteOptions) {
    checkSupervision(options, `remote(${cls.name})`);
    this.className = options.className ?? cls.name;
    if (!this.className) throw new PulsingRuntimeError('Config', 'remote(): an anonymous class needs options.className');
    this.methods = methodKinds(cls);
    this.spawnOptions = {
      restartPolicy: options.restartPolicy,
      maxRestarts: options.maxRestarts,
      minBackoffMs: options.minBackoffMs,
      maxBackoffMs: options.maxBackoffMs,
      mailboxCapacity: options.mailboxCapacity,
    };
  }

  /** Spawn options from the class's `remote()` options, made once. */
  private readonly spawnOptions: SystemSpawnOptions;
  private readonly wrap = (target: CallTarget): ActorProxy<InstanceType<C>> => typedProxyOf(target, this);
  /** Builds an instance without constructor arguments (shared by every such spawn). */
  private readonly noArgs = (): object => new (this.cls as unknown as new () => object)();

  private factoryOf(args: unknown[]): () => object {
    const Ctor = this.cls as unknown as new (...a: unknown[]) => object;
    return () => new Ctor(...args);
  }

  spawn(opts: SpawnOptions<C> = {}): Promise<ActorProxy<InstanceType<C>>> {
    try {
      const system = opts.system ?? getSystem();
      const args = (opts.args ?? []) as unknown[];
      if (!Array.isArray(args)) throw new PulsingRuntimeError('Config', `${this.className}.spawn: args must be an array of constructor arguments`);
      if (opts.placement !== undefined && opts.placement !== 'local' && opts.placement !== system.nodeId) {
        return this.spawnPlaced(system, args, opts);
      }
      // Not async, and the options and (without arguments) the factory are the class's own,
      // made once: spawning is a hot path.
      const factory = args.length === 0 ? this.noArgs : this.factoryOf(args);
      return system.spawnObject(factory, this.spawnOptions, opts.name, this.wrap);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private async spawnPlaced(system: ActorSystem, args: unknown[], opts: SpawnOptions<C>): Promise<ActorProxy<InstanceType<C>>> {
    const node = await system.placementNode(opts.placement, this.className);
    if (node !== null) return typedProxy(await system.spawnRemote(node, this.className, args, opts.name), this, undefined);
    const Ctor = this.cls as unknown as new (...a: unknown[]) => object;
    return system.spawnObject(() => new Ctor(...args), this.spawnOptions, opts.name, this.wrap);
  }

  async resolve(name: string, opts?: ResolveOptions & { system?: ActorSystem }): Promise<ActorProxy<InstanceType<C>>> {
    const system = opts?.system ?? getSystem();
    const ref = await system.resolve(name, opts);
    return typedProxy(ref, this, undefined);
  }
}

function makeActorClass<C extends AnyCtor>(cls: C, opts: RemoteOptions): ActorClassImpl<C> {
  const ac = new ActorClassImpl(cls, opts);
  registry.set(ac.className, ac as unknown as ActorClassImpl<AnyCtor>);
  return ac;
}

/** Decorator form: the class itself gains static `spawn`, `resolve` and `className`. */
function decorate<C extends AnyCtor>(cls: C, opts: RemoteOptions): C & ActorClass<C> {
  const ac = makeActorClass(cls, opts);
  for (const key of ['className', 'methods'] as const) {
    Object.defineProperty(cls, key, { value: ac[key], configurable: true });
  }
  Object.defineProperty(cls, 'spawn', { value: ac.spawn.bind(ac), configurable: true, writable: true });
  Object.defineProperty(cls, 'resolve', { value: ac.resolve.bind(ac), configurable: true, writable: true });
  return cls as C & ActorClass<C>;
}

function isDecoratorContext(x: unknown): x is ClassDecoratorContext {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'class';
}

/** Bare decorator form: `@remote class Counter {}` (TS 5 standard decorators). */
export function remote<C extends AnyCtor>(cls: C, ctx: ClassDecoratorContext<C>): C & ActorClass<C>;
/**
 * Make an actor class from a plain class: instances run one message at a time, and callers
 * get proxies typed from the class, whether the actor is in this process or on another node.
 *
 * @param cls - The class. Its own methods become the actor's methods (names starting with `_`
 *   stay private); sync, async and generator methods are all callable.
 * @param opts - `className`, the key other nodes spawn it by (default: the class name);
 *   supervision (`restartPolicy`, `maxRestarts`, `minBackoffMs`, `maxBackoffMs`); `mailboxCapacity`.
 * @returns An {@link ActorClass} with typed `spawn` and `resolve`.
 * @throws {@link PulsingRuntimeError} kind `Config` for an invalid option.
 * @example
 * ```ts
 * class Counter {
 *   n = 0;
 *   incr() { return ++this.n; }
 *   *count(k: number) { for (let i = 0; i < k; i++) yield i; }
 * }
 * const RCounter = pul.remote(Counter, { restartPolicy: 'on-failure' });
 * const c = await RCounter.spawn({ name: 'counter' });
 * await c.incr();                        // 1
 * for await (const i of c.count(3)) {}   // 0, 1, 2
 * ```
 */
export function remote<C extends AnyCtor>(cls: C, opts?: RemoteOptions): ActorClass<C>;
/** Decorator form: `@remote()` or `@remote({ restartPolicy: 'on-failure' })`. */
export function remote(opts?: RemoteOptions): <C extends AnyCtor>(cls: C, ctx?: ClassDecoratorContext) => C & ActorClass<C>;
export function remote(a?: unknown, b?: unknown): unknown {
  if (typeof a === 'function') {
    // `@remote` without parentheses: called by the decorator machinery with its context.
    if (isDecoratorContext(b)) return decorate(a as AnyCtor, {});
    return makeActorClass(a as AnyCtor, (b as RemoteOptions | undefined) ?? {});
  }
  if (a !== undefined && (typeof a !== 'object' || a === null)) {
    throw new PulsingRuntimeError('Config', `remote(): expected a class or an options object, got ${a === null ? 'null' : typeof a}`);
  }
  const opts = (a as RemoteOptions | undefined) ?? {};
  return (cls: AnyCtor) => decorate(cls, opts);
}

export type { CallOptions };
