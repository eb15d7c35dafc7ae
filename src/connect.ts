/**
 * `pulsing/connect`: call the actors of a cluster from a process that is not one of its
 * nodes (a web backend, a CLI, a notebook, a serverless handler).
 *
 * A connector dials one cluster node, its gateway, and sends every call there; the gateway
 * relays each call to the node hosting the actor, streams (with credit and cancel) and
 * errors included. It joins no gossip, opens no port, hosts no actors and never appears in
 * `members()`. Proxies are the same as inside the cluster: typed from the class, or untyped.
 */
import type { CallOptions } from './types';
import { binding } from './binding';
import { errorFromJs, shutdownSystem, normalizeName, type NativeSystem } from './native';
import { PulsingRuntimeError, PulsingUnsupportedError, native } from './errors';
import { Wire, RemoteTarget, type WireHost } from './wire';
import { ActorRef } from './ref';
import { typedProxy, anyProxy, type ActorProxy, type AnyProxy } from './proxy';
import type { ActorClass, AnyCtor } from './remote';
import { checkCallOptions, checkDuration } from './deadline';
import { DEFAULT_TIMEOUT_MS } from './system';
import { Queues } from './queue';
import { Topics } from './topic';

/** The node id a client addresses its gateway by (no node has it). */
const GATEWAY = '0000000000000000';
const HOST_PORT = /^.+:\d+$/;
/** How long `Connect.to` may take unless set: every gateway tried, together. */
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/** While a resolve waits for a name to appear, it asks again this often (at most). */
const RESOLVE_POLL_MS = 50;

/** Options of `Connect.to`. */
export interface ConnectOptions {
  /**
   * The cluster's passphrase: the connector authenticates like a node (mutual TLS from the
   * same derivation). A wrong one gets no connection at all.
   */
  passphrase?: string;
  /** How long connecting may take, every gateway together (default 5 000 ms). */
  timeoutMs?: number;
  /** Timeout of calls that do not set one (default 30 000 ms). */
  defaultTimeoutMs?: number;
}

/** Options of `conn.resolve`. */
export interface ConnectResolveOptions<C extends AnyCtor = AnyCtor> {
  /** The actor's class (made with `remote()`): the proxy is typed from it. */
  cls?: ActorClass<C>;
  /** Wait up to this long for the name to appear in the cluster (default: do not wait). */
  timeoutMs?: number;
  /** Stop waiting. */
  signal?: AbortSignal;
}

/** Options of `conn.spawn`. */
export interface ConnectSpawnOptions<C extends AnyCtor> {
  /** Constructor arguments (serialisable: they travel to the cluster). */
  args?: ConstructorParameters<C>;
  /** Register the actor under this name. */
  name?: string;
}

interface Resolved {
  name: string;
  actorId: string;
  nodeId: string;
}

/** A connector serves nothing: what a gateway might ask of it is refused. */
function clientHost(defaultTimeoutMs: number): WireHost {
  return {
    defaultTimeoutMs,
    cellById: () => undefined,
    serveSystem: (name) => Promise.reject(new PulsingUnsupportedError(`${name} on a client: a Connect process hosts nothing`)),
  };
}

function checkAddrs(addrs: unknown): string[] {
  const list = typeof addrs === 'string' ? [addrs] : addrs;
  if (!Array.isArray(list) || list.length === 0 || list.some((a) => typeof a !== 'string' || !HOST_PORT.test(a))) {
    throw new PulsingRuntimeError('Config', `Connect.to: expected a "host:port" address or a non-empty array of them, got ${JSON.stringify(addrs)}`);
  }
  return list as string[];
}

function checkConnectOptions(opts: ConnectOptions): void {
  if (typeof opts !== 'object' || opts === null) throw new PulsingRuntimeError('Config', 'Connect.to: options must be an object');
  if (opts.passphrase !== undefined && (typeof opts.passphrase !== 'string' || opts.passphrase === '')) {
    throw new PulsingRuntimeError('Config', 'Connect.to: passphrase must be a non-empty string');
  }
  if (opts.timeoutMs !== undefined) checkDuration(opts.timeoutMs, 'timeoutMs');
  if (opts.defaultTimeoutMs !== undefined) checkDuration(opts.defaultTimeoutMs, 'defaultTimeoutMs');
}

/**
 * A connection to a cluster through its gateways.
 *
 * @example
 * ```ts
 * import { Connect } from 'pulsing/connect';
 * await using conn = await Connect.to(['10.0.1.1:8080', '10.0.1.2:8080'], { passphrase });
 * const calc = await conn.resolve('services/calc', { cls: RCalc });
 * await calc.multiply(6, 7); // 42
 * ```
 */
export class Connect {
  private readonly wire: Wire;
  private closing: Promise<void> | null = null;
  private keepAlive: NodeJS.Timeout | undefined;
  private readonly defaultTimeoutMs: number;
  /**
   * Queues of the cluster, through the gateway (it places the buckets):
   * `conn.queue.write(name, opts)`, `conn.queue.read(name, opts)`.
   */
  readonly queue: Queues;
  /**
   * Topics of the cluster, through the gateway: `conn.topic.write(name)` publishes (the
   * gateway fans out for this client), `conn.topic.read(name)` subscribes (the gateway
   * subscribes for it and streams the messages here, under credit; a client that does not
   * keep up loses what does not fit in the gateway's buffer for it, like any slow subscriber).
   */
  readonly topic: Topics;

  private constructor(private readonly core: NativeSystem, defaultTimeoutMs: number) {
    this.defaultTimeoutMs = defaultTimeoutMs;
    this.queue = new Queues(() => core);
    this.topic = new Topics(() => core);
    // Every answer comes from the gateway link, whichever node the actor is on.
    this.wire = new Wire(core, clientHost(defaultTimeoutMs), core.nodeId, GATEWAY);
    // An open connection keeps the process alive, like a socket; `close()` releases it.
    this.keepAlive = setInterval(() => {}, 0x7fffffff);
  }

  /**
   * Connect to the first of `addrs` that answers, without joining the cluster.
   *
   * @param addrs - Gateway addresses (`host:port` of cluster nodes), tried in order.
   * @param opts - `passphrase` of the cluster; `timeoutMs` to connect (default 5 000);
   *   `defaultTimeoutMs` of calls (default 30 000).
   * @returns The connection. Close it with `close()` (or `await using`).
   * @throws {@link PulsingRuntimeError} kind `ConnectionFailed` when no gateway answers (the
   *   message gives each one's reason), kind `Config` for a bad address or option.
   * @example
   * ```ts
   * const conn = await Connect.to('127.0.0.1:8000');
   * ```
   */
  static async to(addrs: string | string[], opts: ConnectOptions = {}): Promise<Connect> {
    const gateways = checkAddrs(addrs);
    checkConnectOptions(opts);
    const defaultTimeoutMs = opts.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    const r = await binding.connect({
      gateways,
      passphrase: opts.passphrase,
      connectTimeoutMs: Math.min(Math.ceil(opts.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS), 0xffffffff),
      defaultTimeoutMs: Math.min(Math.ceil(defaultTimeoutMs), 0xffffffff),
    });
    if (!(r instanceof binding.NativeSystem)) throw errorFromJs(r);
    return new Connect(r, defaultTimeoutMs);
  }

  /** The address of the gateway in use (`null` between a failure and the next call). */
  get gateway(): string | null {
    return this.core.gateway() ?? null;
  }

  /** The gateway addresses, in the order they are tried. */
  get gateways(): string[] {
    return this.core.gateways();
  }

  /**
   * A proxy to the actor named `name`, wherever it lives in the cluster.
   *
   * @param name - The actor's name.
   * @param opts - `cls` for a typed proxy (a method the class lacks fails locally, without a
   *   round trip); `timeoutMs` to wait for the name to appear; `signal`.
   * @throws {@link PulsingRuntimeError} kind `ActorNotFound` when no node has the name.
   * @example
   * ```ts
   * const calc = await conn.resolve('services/calc', { cls: RCalc }); // typed
   * const llm = await conn.resolve('services/llm');                  // untyped
   * for await (const token of llm.generate('hi')) process.stdout.write(token);
   * ```
   */
  resolve<C extends AnyCtor>(name: string, opts: ConnectResolveOptions<C> & { cls: ActorClass<C> }): Promise<ActorProxy<InstanceType<C>>>;
  resolve(name: string, opts?: ConnectResolveOptions): Promise<AnyProxy>;
  async resolve(name: string, opts: ConnectResolveOptions = {}): Promise<unknown> {
    this.checkOpen();
    if (typeof name !== 'string') throw new PulsingRuntimeError('Config', `resolve: name must be a string, got ${typeof name}`);
    checkCallOptions(opts, 'resolve');
    const full = native(() => normalizeName(name, false));
    const r = await this.find(full, opts);
    const i = r.actorId.indexOf(':');
    const ref = new ActorRef(new RemoteTarget(this.wire, r.actorId.slice(0, i), Number(r.actorId.slice(i + 1)), r.name));
    return opts.cls ? typedProxy(ref, opts.cls, undefined) : anyProxy(ref, undefined);
  }

  /**
   * Spawn an actor on the cluster: it runs on the gateway node, which must have the class
   * registered (its process imported the module that calls `remote()` for it).
   *
   * @param cls - The actor class (made with `remote()`), known here for the proxy's types.
   * @param opts - `args` for the constructor, `name` to make it resolvable.
   * @returns A typed proxy to the new actor.
   * @throws {@link PulsingRuntimeError} kind `ActorNotFound` when the gateway does not know
   *   the class; {@link PulsingUnsupportedError} when it does not allow remote spawns.
   * @example
   * ```ts
   * const w = await conn.spawn(RWorker, { args: [1], name: 'services/worker' });
   * ```
   */
  async spawn<C extends AnyCtor>(cls: ActorClass<C>, opts: ConnectSpawnOptions<C> = {}): Promise<ActorProxy<InstanceType<C>>> {
    this.checkOpen();
    if (typeof cls?.className !== 'string') throw new PulsingRuntimeError('Config', 'spawn: expected an actor class made with remote()');
    const args = (opts.args ?? []) as unknown[];
    if (!Array.isArray(args)) throw new PulsingRuntimeError('Config', `${cls.className}.spawn: args must be an array of constructor arguments`);
    const name = opts.name === undefined ? null : native(() => normalizeName(opts.name!, true));
    const id = (await this.wire.call(GATEWAY, null, 'system/spawner', 'spawn', [cls.className, args, name], undefined, 'the gateway')) as string;
    const i = id.indexOf(':');
    const ref = new ActorRef(new RemoteTarget(this.wire, id.slice(0, i), Number(id.slice(i + 1)), name ?? `actor ${id}`));
    return typedProxy(ref, cls, undefined);
  }

  /**
   * Replace the gateway list with the cluster's live members, as the gateway in use sees
   * them: a gateway that came back, or a new node, is used from the next failover on.
   *
   * @returns The new list.
   * @example
   * ```ts
   * const gateways = await conn.refreshGateways();
   * ```
   */
  async refreshGateways(): Promise<string[]> {
    this.checkOpen();
    const r = await this.core.refreshGateways(Math.min(Math.ceil(this.defaultTimeoutMs), 0xffffffff));
    if (!Array.isArray(r)) throw errorFromJs(r);
    return r;
  }

  /** Close the connection: calls in flight fail with `Stopped`, and the process may exit. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  /** `await using conn = await Connect.to(...)` closes it at scope exit. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async doClose(): Promise<void> {
    try {
      this.wire.close();
      await shutdownSystem(this.core);
    } finally {
      clearInterval(this.keepAlive);
      this.keepAlive = undefined;
    }
  }

  /** Ask the gateway where `full` lives; with a timeout, ask again until it appears. */
  private async find(full: string, opts: ConnectResolveOptions): Promise<Resolved> {
    const deadline = opts.timeoutMs === undefined ? undefined : Date.now() + opts.timeoutMs;
    for (let wait = 10; ; wait = Math.min(wait * 2, RESOLVE_POLL_MS)) {
      try {
        return (await this.wire.call(GATEWAY, null, 'system/gateway', 'resolve', [full], { signal: opts.signal }, 'the gateway')) as Resolved;
      } catch (e) {
        const missing = e instanceof PulsingRuntimeError && e.kind === 'ActorNotFound';
        if (!missing || deadline === undefined) throw e;
        const left = deadline - Date.now();
        if (left <= 0) throw new PulsingRuntimeError('ActorNotFound', `no actor named ${full} appeared within ${opts.timeoutMs} ms`);
        await delay(Math.min(wait, left), opts.signal);
      }
    }
  }

  private checkOpen(): void {
    if (this.closing) throw new PulsingRuntimeError('Stopped', 'the connection is closed');
  }
}

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(t); reject(signal!.reason); };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

// The same classes as `pulsing`'s: `instanceof` works whichever entry they came from.
export {
  PulsingError, PulsingRuntimeError, PulsingActorError, PulsingBusinessError,
  PulsingSystemError, PulsingTimeoutError, PulsingUnsupportedError,
} from './errors';
export type { RuntimeErrorKind } from './errors';
export type { CallOptions, ActorProxy, AnyProxy };
