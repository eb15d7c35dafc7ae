/**
 * `ActorSystem`: hosts TypeScript actors, keeps their ids and names in step with the native
 * core (which owns node identity and the name registry), resolves refs, and shuts down.
 */
import type { InitOptions, Member, NamedActorInfo, NodeMetrics, QueueBucketMetrics, ResolveOptions, SupervisionOptions, SystemSpawnOptions } from './types';
import { ActorCell, type CellHost } from './cell';
import { ActorRef } from './ref';
import { PulsingRuntimeError, PulsingUnsupportedError, native, fromNative } from './errors';
import { createSystem, normalizeName, shutdownSystem, type NativeSystem } from './native';
import { checkSupervision, lookupClass } from './remote';
import { Wire, RemoteTarget, type WireHost } from './wire';
import { Faults } from './faults';
import { Queues } from './queue';
import { Topics } from './topic';
import { LATENCY_BUCKETS_MS, StatsReporter } from './stats';
import { transportSettings } from './codec';
import { checkCallOptions, checkDuration, setLongTimeout } from './deadline';
import type { Actor } from './actor';
import type { CallTarget } from './target';

/** Mailbox bound of TypeScript actors unless set. */
export const DEFAULT_MAILBOX_CAPACITY = 4096;
/** Call timeout unless set. */
export const DEFAULT_TIMEOUT_MS = 30_000;
/** How long shutdown waits for running calls unless set. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 2_000;
const ID_BLOCK = 4096;

/** Cluster timers the core arms (a u32 of milliseconds, capped like a JS timer). */
const MAX_CORE_MS = 0x7fffffff;
const MEMBERSHIP_KEYS = ['probeIntervalMs', 'probeTimeoutMs', 'suspicionTimeoutMs', 'syncIntervalMs'] as const;
const HOST_PORT = /^.+:\d+$/;

function checkInitOptions(opts: InitOptions): void {
  if (typeof opts !== 'object' || opts === null) throw new PulsingRuntimeError('Config', 'init options must be an object');
  const config = (msg: string) => new PulsingRuntimeError('Config', msg);
  if (opts.isHeadNode && opts.headAddr !== undefined) {
    throw config('isHeadNode and headAddr are exclusive: a head node has no head');
  }
  if (opts.defaultTimeoutMs !== undefined) checkDuration(opts.defaultTimeoutMs, 'defaultTimeoutMs');
  if (opts.shutdownTimeoutMs !== undefined) checkDuration(opts.shutdownTimeoutMs, 'shutdownTimeoutMs');
  if (opts.addr !== undefined && (typeof opts.addr !== 'string' || !HOST_PORT.test(opts.addr))) {
    throw config(`addr must be "host:port" (port 0 picks one), got ${JSON.stringify(opts.addr)}`);
  }
  if (opts.seeds !== undefined) {
    if (!Array.isArray(opts.seeds) || opts.seeds.some((x) => typeof x !== 'string' || !HOST_PORT.test(x))) {
      throw config('seeds must be an array of "host:port" strings');
    }
    if (opts.addr === undefined && opts.seeds.length > 0) {
      throw config('seeds need addr: a node joins a cluster by listening on an address');
    }
  }
  if (opts.passphrase !== undefined) {
    if (typeof opts.passphrase !== 'string' || opts.passphrase === '') throw config('passphrase must be a non-empty string');
    if (opts.addr === undefined) throw config('passphrase needs addr: it secures the cluster transport');
  }
  if (opts.advertiseAddr !== undefined && opts.addr === undefined) {
    throw config('advertiseAddr needs addr');
  }
  if ((opts.isHeadNode || opts.headAddr !== undefined) && opts.addr === undefined) {
    throw config('head-node mode needs addr: heads and workers listen like any node');
  }
  if (opts.headAddr !== undefined) {
    if (typeof opts.headAddr !== 'string' || !HOST_PORT.test(opts.headAddr)) throw config(`headAddr must be "host:port", got ${JSON.stringify(opts.headAddr)}`);
    if (opts.seeds !== undefined && opts.seeds.length > 0) throw config('headAddr replaces seeds: a worker joins through its head');
  }
  if (opts.insecure !== undefined && typeof opts.insecure !== 'boolean') throw config('insecure must be a boolean');
  const spawn = opts.allowRemoteSpawn;
  if (spawn !== undefined && typeof spawn !== 'boolean' && !(Array.isArray(spawn) && spawn.every((c) => typeof c === 'string'))) {
    throw config('allowRemoteSpawn must be a boolean or an array of class names');
  }
  const m = opts.membership ?? {};
  if (typeof m !== 'object' || m === null) throw config('membership must be an object');
  for (const k of Object.keys(m)) {
    if (!(MEMBERSHIP_KEYS as readonly string[]).includes(k)) throw config(`membership.${k} is not an option: ${MEMBERSHIP_KEYS.join(', ')}`);
    checkDuration((m as Record<string, unknown>)[k], `membership.${k}`, true, MAX_CORE_MS);
  }
  if (m.probeTimeoutMs !== undefined && m.probeIntervalMs !== undefined && m.probeTimeoutMs > m.probeIntervalMs) {
    throw config(`membership.probeTimeoutMs must be at most membership.probeIntervalMs, got ${m.probeTimeoutMs} > ${m.probeIntervalMs}`);
  }
  if (opts.http !== undefined && typeof opts.http !== 'boolean') throw config('http must be a boolean');
  if (opts.metrics !== undefined && typeof opts.metrics !== 'boolean') throw config('metrics must be a boolean');
  if (opts.storagePath !== undefined && (typeof opts.storagePath !== 'string' || opts.storagePath === '')) {
    throw config(`storagePath must be a non-empty directory path, got ${JSON.stringify(opts.storagePath)}`);
  }
  const t = opts.transport ?? {};
  if (typeof t !== 'object' || t === null) throw config('transport must be an object');
  for (const k of ['handshakeTimeoutMs', 'idleTimeoutMs'] as const) {
    if (t[k] !== undefined) checkDuration(t[k], `transport.${k}`, true, MAX_CORE_MS);
  }
  if (t.maxConnections !== undefined && !(Number.isInteger(t.maxConnections) && t.maxConnections >= 8 && t.maxConnections <= 1_000_000)) {
    throw config(`transport.maxConnections must be a whole number from 8 to 1000000, got ${String(t.maxConnections)}`);
  }
}

/** Supervision when none is set: shared by every actor spawned without options. */
const NO_RESTART: Required<SupervisionOptions> = Object.freeze({ restartPolicy: 'never', maxRestarts: 3, minBackoffMs: 100, maxBackoffMs: 30_000 });

function supervisionOf(o: SupervisionOptions): Required<SupervisionOptions> {
  if (o.restartPolicy === undefined && o.maxRestarts === undefined && o.minBackoffMs === undefined && o.maxBackoffMs === undefined) return NO_RESTART;
  return {
    restartPolicy: o.restartPolicy ?? 'never',
    maxRestarts: o.maxRestarts ?? 3,
    minBackoffMs: o.minBackoffMs ?? 100,
    maxBackoffMs: o.maxBackoffMs ?? 30_000,
  };
}

/** Names are strings: anything else is a clear `Config` error before the core sees it. */
function checkName(name: unknown, what: string): void {
  if (typeof name !== 'string') {
    throw new PulsingRuntimeError('Config', `${what}: name must be a string, got ${name === null ? 'null' : typeof name}`);
  }
}

function isClass(f: Function): boolean {
  return /^class[\s{]/.test(Function.prototype.toString.call(f));
}

/**
 * An actor system: one node of a cluster, or a standalone one.
 *
 * It is the `CellHost` of its actors and the `WireHost` of its transport. There is no
 * `implements` clause: those members are internal and stripped from the published types, and
 * the places that pass the system as either host check it structurally.
 */
export class ActorSystem {
  /** This node's id (16 hex digits). */
  readonly nodeId: string;
  /** @internal */
  readonly defaultTimeoutMs: number;
  /** @internal */
  readonly strictLocal: boolean;
  /** @internal Whether named actors are counted (`metrics`). */
  readonly actorMetrics: boolean;
  /** @internal */
  readonly drainTimeoutMs: number;
  /** Which classes other nodes may spawn here. */
  private readonly remoteSpawn: boolean | ReadonlySet<string>;
  private readonly core: NativeSystem;
  /** The cluster transport's JS end; null when standalone. */
  private readonly wire: Wire | null;
  private readonly stats: StatsReporter;
  private readonly byId = new Map<number, ActorCell>();
  private readonly byName = new Map<string, ActorCell>();
  private readonly nameWaiters = new Map<string, Set<() => void>>();
  private nextId = 0;
  private idEnd = 0;
  private closed = false;
  private shuttingDown: Promise<void> | null = null;
  private keepAlive: NodeJS.Timeout | undefined;
  /** Fault injection for tests (partition, delay, drop); see `Faults`. */
  readonly faults: Faults;
  /** Queues on this system: `system.queue.write(name, opts)`, `system.queue.read(name, opts)`. */
  readonly queue: Queues;
  /** Topics on this system: `system.topic.write(name)`, `system.topic.read(name)`. */
  readonly topic: Topics;
  /** @internal Called once the system is shut down (clears the global). */
  onShutdown: (() => void) | undefined;

  /** @internal Use `pul.init()` or `pul.actorSystem()`. */
  constructor(core: NativeSystem, opts: InitOptions) {
    this.core = core;
    this.nodeId = core.nodeId;
    this.defaultTimeoutMs = opts.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.strictLocal = opts.strictLocal === true;
    this.actorMetrics = opts.metrics !== false;
    this.drainTimeoutMs = opts.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
    const spawn = opts.allowRemoteSpawn ?? true;
    this.remoteSpawn = typeof spawn === 'boolean' ? spawn : new Set(spawn);
    this.wire = core.addr ? new Wire(core, this, this.nodeId) : null;
    this.stats = new StatsReporter(core, core.addr !== null && core.addr !== undefined);
    this.faults = new Faults(this.wire ? core : null);
    this.queue = new Queues(() => core);
    this.topic = new Topics(() => core);
    // An open system keeps the process alive, like a listening server; shutdown releases it.
    this.keepAlive = setInterval(() => {}, 0x7fffffff);
  }

  /** @internal */
  static async create(opts: InitOptions = {}): Promise<ActorSystem> {
    checkInitOptions(opts);
    let core: NativeSystem;
    try {
      const m = opts.membership ?? {};
      const t = opts.transport ?? {};
      const dflt = opts.defaultTimeoutMs;
      core = await createSystem({
        // The core's own asks (Rust actors) take a u32; longer means "as long as it can".
        defaultTimeoutMs: dflt === undefined ? undefined : Math.min(Math.ceil(dflt), 0xffffffff),
        shutdownTimeoutMs: opts.shutdownTimeoutMs === undefined ? undefined : Math.min(Math.ceil(opts.shutdownTimeoutMs), 0xffffffff),
        storagePath: opts.storagePath,
        actorMetrics: opts.metrics,
        addr: opts.addr,
        seeds: opts.seeds,
        advertiseAddr: opts.advertiseAddr,
        passphrase: opts.passphrase,
        isHeadNode: opts.isHeadNode,
        headAddr: opts.headAddr,
        bulkThreshold: transportSettings.bulkThreshold,
        chunkBytes: transportSettings.chunkBytes,
        probeIntervalMs: m.probeIntervalMs,
        probeTimeoutMs: m.probeTimeoutMs,
        suspicionTimeoutMs: m.suspicionTimeoutMs,
        syncIntervalMs: m.syncIntervalMs,
        insecure: opts.insecure,
        http: opts.http,
        maxConnections: t.maxConnections,
        handshakeTimeoutMs: t.handshakeTimeoutMs,
        idleTimeoutMs: t.idleTimeoutMs,
      });
    } catch (e) {
      throw fromNative(e);
    }
    return new ActorSystem(core, opts);
  }

  /** The address peers dial; `null` when standalone. */
  get addr(): string | null {
    return this.core.addr ?? null;
  }

  /** Spawn an actor from an instance or a factory (a factory lets supervision restart it). */
  async spawn(actor: Actor | object | (() => Actor | object), opts: SystemSpawnOptions = {}): Promise<ActorRef> {
    checkSupervision(opts, 'spawn');
    if (typeof actor === 'function') {
      if (isClass(actor)) throw new PulsingRuntimeError('Config', `spawn: pass an instance (new ${actor.name}()) or a factory (() => new ${actor.name}()), not the class`);
      return this.spawnObject(actor as () => object, opts);
    }
    if (typeof actor !== 'object' || actor === null) throw new PulsingRuntimeError('Config', `spawn: expected an actor instance or a factory, got ${actor === null ? 'null' : typeof actor}`);
    if ((opts.restartPolicy ?? 'never') !== 'never') {
      throw new PulsingRuntimeError('Config', 'spawn: a restart policy needs a factory to build fresh instances: pass () => new MyActor()');
    }
    return this.spawnObject(actor, opts);
  }

  /**
   * @internal Spawn from a factory or an instance; `opts` were validated by the caller.
   * `name` overrides `opts.name` (so a caller can pass shared, precomputed options). Not an
   * async function: the common case (no async `onStart`) allocates one promise.
   */
  spawnObject(source: object | (() => object), opts: SystemSpawnOptions, name?: string): Promise<ActorRef>;
  spawnObject<T>(source: object | (() => object), opts: SystemSpawnOptions, name: string | undefined, wrap: (target: CallTarget) => T): Promise<T>;
  spawnObject(source: object | (() => object), opts: SystemSpawnOptions, name: string | undefined = opts.name, wrap?: (target: CallTarget) => unknown): Promise<unknown> {
    try {
      const cell = this.makeCell(source, opts, name);
      const starting = cell.start();
      // `wrap` (a proxy) is applied here, not in a `.then`: one promise per spawn, not two.
      // A proxy makes its ref only if asked for it.
      const out = wrap ? wrap(cell) : new ActorRef(cell);
      return starting === undefined ? Promise.resolve(out) : starting.then(() => out);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private makeCell(source: object | (() => object), opts: SystemSpawnOptions, rawName: string | undefined): ActorCell {
    this.checkOpen();
    const factory = typeof source === 'function' ? (source as () => object) : undefined;
    const supervision = supervisionOf(opts);
    if (supervision.restartPolicy !== 'never' && rawName === undefined) {
      throw new PulsingRuntimeError('Config', 'spawn: only named actors can be restarted: give the actor a name');
    }
    const local = this.allocateId();
    let name: string | undefined;
    if (rawName !== undefined) {
      if (typeof rawName !== 'string') throw new PulsingRuntimeError('Config', 'spawn: name must be a string');
      name = native(() => normalizeName(rawName, true));
      if (this.byName.has(name)) throw new PulsingRuntimeError('Config', `actor name "${name}" is already taken on this node`);
      native(() => this.core.registerName(name!, local, {}));
    }
    const cell = new ActorCell(this, {
      local,
      name,
      factory,
      instance: factory ? undefined : source,
      supervision,
      mailboxCapacity: opts.mailboxCapacity ?? DEFAULT_MAILBOX_CAPACITY,
    });
    this.byId.set(local, cell);
    if (name !== undefined) {
      this.byName.set(name, cell);
      this.wakeNameWaiters(name);
    }
    return cell;
  }

  /** A ref to the actor with this id, on any node. */
  async refer(actorId: string): Promise<ActorRef> {
    const m = /^([0-9a-f]{16}):(\d+)$/.exec(String(actorId));
    if (!m) throw new PulsingRuntimeError('Config', `invalid actor id ${JSON.stringify(actorId)}: expected "<nodeId>:<localId>"`);
    if (m[1] !== this.nodeId) {
      await this.checkMember(m[1]);
      return new ActorRef(new RemoteTarget(this.wire!, m[1], Number(m[2]), `actor ${actorId}`));
    }
    const cell = this.byId.get(Number(m[2]));
    if (!cell || cell.stopped) throw new PulsingRuntimeError('ActorNotFound', `no actor ${actorId}`);
    return new ActorRef(cell);
  }

  /** A ref to the actor named `name`, on any node; with `timeoutMs`, waits for it to appear. */
  async resolve(name: string, opts: ResolveOptions = {}): Promise<ActorRef> {
    checkName(name, 'resolve');
    checkCallOptions(opts, 'resolve');
    const full = native(() => normalizeName(name, false));
    if (opts.nodeId !== undefined && opts.nodeId !== this.nodeId) await this.checkMember(opts.nodeId);
    const found = this.findRef(full, opts.nodeId);
    if (found) return found;
    if (opts.timeoutMs === undefined && opts.signal === undefined) {
      throw new PulsingRuntimeError('ActorNotFound', `no actor named ${full}`);
    }
    return this.waitForName(full, opts);
  }

  /** Every instance registered under `name` in the cluster (empty when none). */
  async resolveAll(name: string): Promise<ActorRef[]> {
    checkName(name, 'resolveAll');
    const full = native(() => normalizeName(name, false));
    const out: ActorRef[] = [];
    const cell = this.byName.get(full);
    if (cell) out.push(new ActorRef(cell));
    if (this.wire) {
      for (const i of native(() => this.core.instances(full))) {
        if (i.nodeId !== this.nodeId) out.push(new ActorRef(this.remoteTarget(i.actorId, full)));
      }
    }
    return out;
  }

  /** Members of the cluster, this node included. */
  async members(): Promise<Member[]> {
    const ms = await this.core.members();
    return ms.map((m) => ({ nodeId: m.nodeId, addr: m.addr ?? null, status: m.status as Member['status'] }));
  }

  /**
   * This node's numbers: the same as its `/metrics` endpoint reports.
   *
   * @example
   * ```ts
   * const m = await system.metrics();
   * console.log(m.members.alive, m.lanes.control.framesOut);
   * ```
   */
  async metrics(): Promise<NodeMetrics> {
    this.stats.flush();
    const m = await this.core.metrics();
    const lane = (t: typeof m.control) => ({ framesIn: t.framesIn, framesOut: t.framesOut, bytesIn: t.bytesIn, bytesOut: t.bytesOut });
    return {
      nodeId: m.nodeId,
      members: { ...m.members },
      connections: m.connections,
      pendingCalls: m.pendingCalls,
      namedActors: { node: m.namedHere, cluster: m.namedCluster },
      lanes: { control: lane(m.control), bulk: lane(m.bulk) },
      gossipBytes: m.gossipBytes,
      actors: m.actors.map((a) => ({
        name: a.name,
        mailboxDepth: a.mailboxDepth,
        handled: a.handled,
        errors: a.errors,
        restarts: a.restarts,
        latency: {
          boundsSeconds: LATENCY_BUCKETS_MS.map((b) => b / 1000),
          counts: a.latencyBuckets,
          sumSeconds: a.latencySumSeconds,
          count: a.latencyCount,
        },
      })),
      queues: m.queues.map((b) => ({ ...b, role: b.role as QueueBucketMetrics['role'], groups: b.groups.map((g) => ({ ...g })) })),
      topics: m.topics.map((t) => ({ ...t })),
    };
  }

  /** @internal Bytes of gossip this node has sent (benches; `metrics()` has it too). */
  gossipBytesSent(): number {
    return this.core.gossipBytesSent();
  }

  /** Every named actor with its instances and metadata. */
  async allNamedActors(): Promise<NamedActorInfo[]> {
    const all = await this.core.allNamedActors();
    return all.map((n) => ({ name: n.name, instances: n.instances.map((i) => ({ nodeId: i.nodeId, actorId: i.actorId, metadata: { ...i.metadata } })) }));
  }

  /** Stop the actor named `name` (its `onStop` runs); the name can be spawned again. */
  async stop(name: string): Promise<void> {
    checkName(name, 'stop');
    const full = native(() => normalizeName(name, false));
    const cell = this.byName.get(full);
    if (!cell) throw new PulsingRuntimeError('ActorNotFound', `no actor named ${full}`);
    await cell.stop();
  }

  /** Stop every actor (their `onStop` runs) and release the process. Idempotent. */
  shutdown(): Promise<void> {
    this.shuttingDown ??= this.doShutdown();
    return this.shuttingDown;
  }

  /** `await using sys = await pul.actorSystem()` shuts it down at scope exit. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  /** @internal The node a spawn goes to: null for this one. */
  async placementNode(placement: string | undefined, className: string): Promise<string | null> {
    if (placement === undefined || placement === 'local' || placement === this.nodeId) return null;
    const others = (await this.members()).filter((m) => m.nodeId !== this.nodeId && m.status === 'alive');
    if (placement === 'remote') {
      if (others.length === 0) throw new PulsingRuntimeError('NodeNotFound', `cannot place ${className} on another node: this system has no other live member`);
      return others[Math.floor(Math.random() * others.length)].nodeId;
    }
    if (!others.some((m) => m.nodeId === placement)) {
      throw new PulsingRuntimeError('NodeNotFound', `cannot place ${className} on node ${placement}: not a live member of this cluster`);
    }
    return placement;
  }

  /** @internal Spawn an instance of a registered class on another node. */
  async spawnRemote(node: string, className: string, args: unknown[], name: string | undefined): Promise<ActorRef> {
    const id = (await this.wire!.call(node, null, 'system/spawner', 'spawn', [className, args, name ?? null], undefined, `node ${node}`)) as string;
    return new ActorRef(this.remoteTarget(id, name ?? `actor ${id}`));
  }

  // --- WireHost -----------------------------------------------------------------------

  /** @internal */
  cellById(local: number): ActorCell | undefined {
    return this.byId.get(local);
  }

  /** @internal Serve `system/*` requests from other nodes. */
  async serveSystem(name: string, payload: unknown): Promise<unknown> {
    const [method, args] = Array.isArray(payload) ? (payload as [unknown, unknown[]]) : [undefined, []];
    if (name === 'system/spawner' && method === 'spawn' && Array.isArray(args)) {
      const [className, ctorArgs, actorName] = args as [string, unknown[], string | null];
      const allowed = this.remoteSpawn === true || (this.remoteSpawn !== false && this.remoteSpawn.has(String(className)));
      if (!allowed) {
        throw new PulsingUnsupportedError(`spawning ${String(className)} from another node: node ${this.nodeId} does not allow it (allowRemoteSpawn)`);
      }
      if (!Array.isArray(ctorArgs)) throw new PulsingRuntimeError('Protocol', 'a remote spawn needs an array of constructor arguments');
      const cls = lookupClass(String(className));
      if (!cls) {
        throw new PulsingRuntimeError('ActorNotFound', `no actor class "${className}" is registered on node ${this.nodeId}: that node must import the module that calls remote() for it`);
      }
      const proxy = await cls.spawn({ system: this, args: ctorArgs as never, name: actorName ?? undefined });
      return proxy.$ref.actorId;
    }
    throw new PulsingUnsupportedError(`${name}.${String(method)} on node ${this.nodeId}`);
  }

  // --- CellHost -----------------------------------------------------------------------

  /** @internal */
  cellStarted(cell: ActorCell, metadata: Record<string, string> | undefined): void {
    if (cell.name === undefined || metadata === undefined) return;
    const clean: Record<string, string> = {};
    for (const [k, v] of Object.entries(metadata)) clean[k] = String(v);
    native(() => this.core.updateName(cell.name!, cell.local, clean));
  }

  /** @internal */
  statsStarted(cell: ActorCell): void {
    this.stats.add(cell);
  }

  /** @internal */
  cellStopped(cell: ActorCell): void {
    this.stats.cellGone(cell);
    this.byId.delete(cell.local);
    if (cell.name !== undefined && this.byName.get(cell.name) === cell) {
      this.byName.delete(cell.name);
      native(() => this.core.unregisterName(cell.name!, cell.local));
    }
  }

  // --- internals ----------------------------------------------------------------------

  private async doShutdown(): Promise<void> {
    this.closed = true;
    const cells = [...this.byId.values()];
    await Promise.all(cells.map((c) => c.stop()));
    for (const waiters of this.nameWaiters.values()) for (const w of waiters) w();
    try {
      await shutdownSystem(this.core);
    } finally {
      this.wire?.close();
      this.stats.close();
      clearInterval(this.keepAlive);
      this.keepAlive = undefined;
      this.onShutdown?.();
    }
  }

  /** A ref for `full`: this node's instance first, then another node's. */
  private findRef(full: string, nodeId?: string): ActorRef | undefined {
    if (nodeId === undefined || nodeId === this.nodeId) {
      const cell = this.byName.get(full);
      if (cell) return new ActorRef(cell);
      if (nodeId === this.nodeId) return undefined;
    }
    if (!this.wire) return undefined;
    const inst = native(() => this.core.instances(full)).find((i) => i.nodeId !== this.nodeId && (nodeId === undefined || i.nodeId === nodeId));
    return inst ? new ActorRef(this.remoteTarget(inst.actorId, full)) : undefined;
  }

  private remoteTarget(actorId: string, label: string): RemoteTarget {
    const i = actorId.indexOf(':');
    return new RemoteTarget(this.wire!, actorId.slice(0, i), Number(actorId.slice(i + 1)), label);
  }

  private async checkMember(nodeId: string): Promise<void> {
    if (this.wire && (await this.members()).some((m) => m.nodeId === nodeId)) return;
    throw new PulsingRuntimeError('NodeNotFound', `node ${nodeId} is not a member of this ${this.wire ? 'cluster' : 'standalone system'}`);
  }

  private checkOpen(): void {
    if (this.closed) throw new PulsingRuntimeError('Stopped', 'the actor system is shut down');
  }

  /** Ids come from the core in blocks, so JS and Rust actors never share an id. */
  private allocateId(): number {
    if (this.nextId >= this.idEnd) {
      this.nextId = native(() => this.core.reserveIds(ID_BLOCK));
      this.idEnd = this.nextId + ID_BLOCK;
    }
    return this.nextId++;
  }

  private waitForName(full: string, opts: ResolveOptions): Promise<ActorRef> {
    return new Promise<ActorRef>((resolve, reject) => {
      const set = this.nameWaiters.get(full) ?? new Set();
      this.nameWaiters.set(full, set);
      // Names from other nodes arrive by gossip: look again while waiting.
      const poll = this.wire ? setInterval(() => check(), 20) : undefined;
      const cleanup = () => {
        set.delete(check);
        if (set.size === 0) this.nameWaiters.delete(full);
        cancelTimer?.();
        if (poll) clearInterval(poll);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      const check = () => {
        const ref = this.findRef(full, opts.nodeId);
        if (ref) {
          cleanup();
          resolve(ref);
        } else if (this.closed) {
          cleanup();
          reject(new PulsingRuntimeError('Stopped', 'the actor system is shut down'));
        }
      };
      const onAbort = () => { cleanup(); reject(opts.signal!.reason); };
      const cancelTimer = opts.timeoutMs !== undefined && Number.isFinite(opts.timeoutMs)
        ? setLongTimeout(() => { cleanup(); reject(new PulsingRuntimeError('ActorNotFound', `no actor named ${full} appeared within ${opts.timeoutMs} ms`)); }, opts.timeoutMs)
        : undefined;
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      set.add(check);
    });
  }

  private wakeNameWaiters(name: string): void {
    const set = this.nameWaiters.get(name);
    if (set) for (const w of [...set]) w();
  }
}

export { PulsingUnsupportedError };
