/**
 * `ActorSystem`: hosts TypeScript actors, keeps their ids and names in step with the native
 * core (which owns node identity and the name registry), resolves refs, and shuts down.
 */
import type { InitOptions, Member, NamedActorInfo, ResolveOptions, SupervisionOptions, SystemSpawnOptions } from './types';
import { ActorCell, type CellHost } from './cell';
import { ActorRef } from './ref';
import { PulsingRuntimeError, PulsingUnsupportedError, native, fromNative } from './errors';
import { createSystem, normalizeName, type NativeSystem } from './native';
import { checkSupervision } from './remote';
import { checkCallOptions } from './deadline';
import type { Actor } from './actor';

/** Mailbox bound of TypeScript actors unless set. */
export const DEFAULT_MAILBOX_CAPACITY = 4096;
/** Call timeout unless set. */
export const DEFAULT_TIMEOUT_MS = 30_000;
const ID_BLOCK = 4096;

const CLUSTER_OPTIONS = ['addr', 'seeds', 'passphrase', 'headAddr', 'isHeadNode', 'advertiseAddr'] as const;

function checkInitOptions(opts: InitOptions): void {
  if (typeof opts !== 'object' || opts === null) throw new PulsingRuntimeError('Config', 'init options must be an object');
  if (opts.isHeadNode && opts.headAddr !== undefined) {
    throw new PulsingRuntimeError('Config', 'isHeadNode and headAddr are exclusive: a head node has no head');
  }
  if (opts.defaultTimeoutMs !== undefined && !(typeof opts.defaultTimeoutMs === 'number' && opts.defaultTimeoutMs > 0)) {
    throw new PulsingRuntimeError('Config', `defaultTimeoutMs must be a positive number, got ${String(opts.defaultTimeoutMs)}`);
  }
  const given = CLUSTER_OPTIONS.filter((k) => opts[k] !== undefined && opts[k] !== false);
  if (given.length > 0) {
    // Honest refusal rather than a silently standalone node.
    throw new PulsingRuntimeError('Config', `cluster options (${given.join(', ')}) need the cluster transport, which this build does not include yet; omit them for a standalone system`);
  }
}

function isClass(f: Function): boolean {
  return /^class[\s{]/.test(Function.prototype.toString.call(f));
}

/** An actor system: one node of a cluster, or a standalone one. */
export class ActorSystem implements CellHost {
  /** This node's id (16 hex digits). */
  readonly nodeId: string;
  /** @internal */
  readonly defaultTimeoutMs: number;
  /** @internal */
  readonly strictLocal: boolean;
  private readonly core: NativeSystem;
  private readonly byId = new Map<number, ActorCell>();
  private readonly byName = new Map<string, ActorCell>();
  private readonly nameWaiters = new Map<string, Set<() => void>>();
  private nextId = 0;
  private idEnd = 0;
  private closed = false;
  private shuttingDown: Promise<void> | null = null;
  private keepAlive: NodeJS.Timeout | undefined;
  /** @internal Called once the system is shut down (clears the global). */
  onShutdown: (() => void) | undefined;

  /** @internal Use `pul.init()` or `pul.actorSystem()`. */
  constructor(core: NativeSystem, opts: InitOptions) {
    this.core = core;
    this.nodeId = core.nodeId;
    this.defaultTimeoutMs = opts.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.strictLocal = opts.strictLocal === true;
    // An open system keeps the process alive, like a listening server; shutdown releases it.
    this.keepAlive = setInterval(() => {}, 0x7fffffff);
  }

  /** @internal */
  static async create(opts: InitOptions = {}): Promise<ActorSystem> {
    checkInitOptions(opts);
    let core: NativeSystem;
    try {
      core = await createSystem({ defaultTimeoutMs: opts.defaultTimeoutMs });
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
      if (isClass(actor)) throw new TypeError(`spawn: pass an instance (new ${actor.name}()) or a factory (() => new ${actor.name}()), not the class`);
      return this.spawnObject(actor as () => object, opts);
    }
    if (typeof actor !== 'object' || actor === null) throw new TypeError(`spawn: expected an actor instance or a factory, got ${actor === null ? 'null' : typeof actor}`);
    if ((opts.restartPolicy ?? 'never') !== 'never') {
      throw new PulsingRuntimeError('Config', 'spawn: a restart policy needs a factory to build fresh instances: pass () => new MyActor()');
    }
    return this.spawnObject(actor, opts);
  }

  /** @internal Spawn from a factory or an instance; `opts` were validated by the caller. */
  async spawnObject(source: object | (() => object), opts: SystemSpawnOptions): Promise<ActorRef> {
    this.checkOpen();
    const factory = typeof source === 'function' ? (source as () => object) : undefined;
    const supervision: Required<SupervisionOptions> = {
      restartPolicy: opts.restartPolicy ?? 'never',
      maxRestarts: opts.maxRestarts ?? 3,
      minBackoffMs: opts.minBackoffMs ?? 100,
      maxBackoffMs: opts.maxBackoffMs ?? 30_000,
    };
    if (supervision.restartPolicy !== 'never' && opts.name === undefined) {
      throw new PulsingRuntimeError('Config', 'spawn: only named actors can be restarted: give the actor a name');
    }
    const local = this.allocateId();
    const actorId = `${this.nodeId}:${local}`;
    let name: string | undefined;
    if (opts.name !== undefined) {
      if (typeof opts.name !== 'string') throw new TypeError('spawn: name must be a string');
      name = native(() => normalizeName(opts.name!, true));
      if (this.byName.has(name)) throw new PulsingRuntimeError('Config', `actor name "${name}" is already taken on this node`);
      native(() => this.core.registerName(name!, local, {}));
    }
    const cell = new ActorCell(this, {
      local,
      actorId,
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
    const starting = cell.start();
    if (starting !== undefined) await starting;
    return new ActorRef(cell);
  }

  /** A ref to the actor with this id. */
  async refer(actorId: string): Promise<ActorRef> {
    const m = /^([0-9a-f]{16}):(\d+)$/.exec(String(actorId));
    if (!m) throw new PulsingRuntimeError('Config', `invalid actor id ${JSON.stringify(actorId)}: expected "<nodeId>:<localId>"`);
    if (m[1] !== this.nodeId) throw new PulsingRuntimeError('NodeNotFound', `node ${m[1]} is not a member of this system`);
    const cell = this.byId.get(Number(m[2]));
    if (!cell || cell.stopped) throw new PulsingRuntimeError('ActorNotFound', `no actor ${actorId}`);
    return new ActorRef(cell);
  }

  /** A ref to the actor named `name`; with `timeoutMs`, waits for the name to appear. */
  async resolve(name: string, opts: ResolveOptions = {}): Promise<ActorRef> {
    checkCallOptions(opts, 'resolve');
    const full = native(() => normalizeName(name, false));
    if (opts.nodeId !== undefined && opts.nodeId !== this.nodeId) {
      throw new PulsingRuntimeError('NodeNotFound', `node ${opts.nodeId} is not a member of this system`);
    }
    const found = this.byName.get(full);
    if (found) return new ActorRef(found);
    if (opts.timeoutMs === undefined && opts.signal === undefined) {
      throw new PulsingRuntimeError('ActorNotFound', `no actor named ${full}`);
    }
    return this.waitForName(full, opts);
  }

  /** Every instance registered under `name` (empty when none). */
  async resolveAll(name: string): Promise<ActorRef[]> {
    const full = native(() => normalizeName(name, false));
    const cell = this.byName.get(full);
    return cell ? [new ActorRef(cell)] : [];
  }

  /** Members of the cluster, this node included. */
  async members(): Promise<Member[]> {
    const ms = await this.core.members();
    return ms.map((m) => ({ nodeId: m.nodeId, addr: m.addr ?? null, status: m.status as Member['status'] }));
  }

  /** Every named actor with its instances and metadata. */
  async allNamedActors(): Promise<NamedActorInfo[]> {
    const all = await this.core.allNamedActors();
    return all.map((n) => ({ name: n.name, instances: n.instances.map((i) => ({ nodeId: i.nodeId, actorId: i.actorId, metadata: { ...i.metadata } })) }));
  }

  /** Stop the actor named `name` (its `onStop` runs); the name can be spawned again. */
  async stop(name: string): Promise<void> {
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

  /** @internal Placement of a spawn: only this node until the cluster transport lands. */
  checkPlacement(placement: string | undefined, className: string): void {
    if (placement === undefined || placement === 'local' || placement === this.nodeId) return;
    if (placement === 'remote') throw new PulsingRuntimeError('NodeNotFound', `cannot place ${className} on another node: this system has no other member`);
    throw new PulsingRuntimeError('NodeNotFound', `cannot place ${className} on node ${placement}: not a member of this system`);
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
  cellStopped(cell: ActorCell): void {
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
      await this.core.shutdown();
    } finally {
      clearInterval(this.keepAlive);
      this.keepAlive = undefined;
      this.onShutdown?.();
    }
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
      const cleanup = () => {
        set.delete(check);
        if (set.size === 0) this.nameWaiters.delete(full);
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      const check = () => {
        const cell = this.byName.get(full);
        if (cell) {
          cleanup();
          resolve(new ActorRef(cell));
        } else if (this.closed) {
          cleanup();
          reject(new PulsingRuntimeError('Stopped', 'the actor system is shut down'));
        }
      };
      const onAbort = () => { cleanup(); reject(opts.signal!.reason); };
      const timer = opts.timeoutMs !== undefined
        ? setTimeout(() => { cleanup(); reject(new PulsingRuntimeError('ActorNotFound', `no actor named ${full} appeared within ${opts.timeoutMs} ms`)); }, opts.timeoutMs)
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
