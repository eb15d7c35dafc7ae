/** Shared option types of the public API. */

/** An actor id: `"<nodeId>:<localId>"`. */
export type ActorId = string;

/** Options every call that can wait accepts. */
export interface CallOptions {
  /** Give up after this many milliseconds with `PulsingTimeoutError`. */
  timeoutMs?: number;
  /** Abort the call; it rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** When a crashed actor is restarted. */
export type RestartPolicy = 'never' | 'on-failure' | 'always';

/** Supervision of a named actor. */
export interface SupervisionOptions {
  restartPolicy?: RestartPolicy;
  /** Restarts allowed before the actor stays stopped (default 3). */
  maxRestarts?: number;
  /** First backoff, doubled each restart (default 100 ms). */
  minBackoffMs?: number;
  /** Backoff cap (default 30 000 ms). */
  maxBackoffMs?: number;
}

/** Options of `pul.init` / `pul.actorSystem`. */
export interface InitOptions {
  /** Address to listen on (`host:port`, port 0 picks one); absent = standalone. */
  addr?: string;
  /**
   * Nodes to join (`host:port`): any live member will do; the rest are found by gossip.
   * @defaultValue `[]` (a cluster of one until others join it)
   * @example `seeds: ['10.0.0.1:8000', '10.0.0.2:8000']`
   */
  seeds?: string[];
  /**
   * Turns on mutual TLS for the whole cluster: every node derives the same certificate
   * authority from it, and a node without it gets no handshake at all.
   * @defaultValue none (plaintext; protected mode on non-loopback addresses)
   * @example `passphrase: process.env.PULSING_PASSPHRASE`
   */
  passphrase?: string;
  /**
   * Head-node mode: this worker reports to the head at this address and takes its view of
   * members and names from it (no SWIM probes).
   * @defaultValue none (gossip among peers)
   * @example `headAddr: '10.0.0.1:8000'`
   */
  headAddr?: string;
  /** Run as the head of a head-node cluster (workers set `headAddr` to its address). @defaultValue false */
  isHeadNode?: boolean;
  /** The address other nodes should dial, when it differs from `addr` (NAT, containers). */
  advertiseAddr?: string;
  /** Timeout of calls that do not set one (default 30 000 ms). */
  defaultTimeoutMs?: number;
  /**
   * Where this node keeps the queue buckets it owns with `backend: 'disk'`. Buckets found
   * there when the node starts are served again (or handed to their new owner). One node per
   * directory: the node locks it at `init`, and a second node pointed at it fails there with
   * a `Config` error naming the directory and the node holding it.
   * @defaultValue a directory of this node's own under `.pulsing/queues` in the working
   * directory: `node-0`, `node-1`, ..., the lowest one no other node holds
   * @example `storagePath: '/var/lib/myapp/queues'`
   */
  storagePath?: string;
  /**
   * Count what each named actor does (messages, errors, restarts, mailbox depth, latency),
   * for `/metrics`, `/actors` and `system.metrics()`. The node's own figures (members,
   * connections, frames) are counted either way.
   * @defaultValue `true`
   */
  metrics?: boolean;
  /**
   * Serve HTTP on this node's port too: `/health`, `/cluster/members`, `/actors`,
   * `/metrics` (Prometheus), a live dashboard at `/`, and `POST /v1/actors/<name>/<method>`
   * (a JSON gateway). With a passphrase, a request needs the cluster's TLS certificate or
   * `Authorization: Bearer <httpToken(passphrase)>`.
   * @defaultValue true
   * @example `http: false` (the port speaks only the cluster protocol)
   */
  http?: boolean;
  /** Encode local messages too, so tests prove values survive the wire. */
  strictLocal?: boolean;
  /**
   * SWIM timings: how fast a dead node is detected, against how much probing that costs.
   * @defaultValue `{ probeIntervalMs: 300, probeTimeoutMs: 150, suspicionTimeoutMs: 900, syncIntervalMs: 500 }`
   * @example `membership: { probeIntervalMs: 100, suspicionTimeoutMs: 500 }` (faster detection)
   */
  membership?: MembershipOptions;
  /** Connection limits (advanced; the defaults suit a LAN). */
  transport?: TransportOptions;
  /**
   * Without a passphrase, a node bound to a non-loopback address accepts peers from
   * loopback only (protected mode); `true` accepts anyone who can reach it.
   * @defaultValue false
   */
  insecure?: boolean;
  /**
   * Which classes other nodes may spawn on this one (`system/spawner`): all (`true`), none
   * (`false`), or those class names.
   * @defaultValue true
   */
  allowRemoteSpawn?: boolean | string[];
  /**
   * How long `shutdown()` (and `stop()`) waits for calls still running before `onStop`; and
   * how long `shutdown()` gives this node to hand the queue buckets it keeps to the members
   * that keep them next (what it could not hand over in time is logged).
   * @defaultValue 2000
   */
  shutdownTimeoutMs?: number;
}

/** Limits on connections: what a peer, or anyone who can reach the port, may hold open. */
export interface TransportOptions {
  /** Connections open at once at most; more are refused and logged (default 512). */
  maxConnections?: number;
  /** A connection must complete its handshake within this (default 5000 ms). */
  handshakeTimeoutMs?: number;
  /** A connection that receives nothing for this long is closed (default 60000 ms). */
  idleTimeoutMs?: number;
}

/** SWIM timings: how fast failures are detected, and how much gossip that costs. */
export interface MembershipOptions {
  /** Probe one member this often (default 300 ms). */
  probeIntervalMs?: number;
  /** Wait this long for a direct probe's answer before asking others (default 150 ms). */
  probeTimeoutMs?: number;
  /** A suspect not refuting within this is dead (default 900 ms). */
  suspicionTimeoutMs?: number;
  /** Full state exchange with one member this often (default 500 ms). */
  syncIntervalMs?: number;
}

/** Options of `system.resolve`. */
export interface ResolveOptions extends CallOptions {
  /** Only this node's instance. */
  nodeId?: string;
}

/** Options of `system.spawn`. */
export interface SystemSpawnOptions extends SupervisionOptions {
  /** Register under this name (resolvable); anonymous when absent. */
  name?: string;
  /** Mailbox bound; callers wait when it is full (default 4096). */
  mailboxCapacity?: number;
}

/** A member of the cluster. */
export interface Member {
  nodeId: string;
  addr: string | null;
  status: 'alive' | 'suspect' | 'dead' | 'leaving';
}

/** A name and its instances across the cluster. */
export interface NamedActorInfo {
  name: string;
  instances: { nodeId: string; actorId: string; metadata: Record<string, string> }[];
}

/** What one lane of a node's connections carried (frames, and their bodies' bytes). */
export interface LaneMetrics {
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
}

/** A node's numbers (`system.metrics()`), the same as its `/metrics` endpoint. */
export interface NodeMetrics {
  nodeId: string;
  /** Members this node knows of, by status. */
  members: { alive: number; suspect: number; dead: number; left: number };
  /** Connections open (peers, clients, HTTP, handshakes in progress). */
  connections: number;
  /** Calls this node sent and waits for. */
  pendingCalls: number;
  /** Named actors hosted here, and names in the cluster. */
  namedActors: { node: number; cluster: number };
  /** The control lane (calls, gossip) and the bulk lane (large transfers). */
  lanes: { control: LaneMetrics; bulk: LaneMetrics };
  /** Bytes of gossip this node sent. */
  gossipBytes: number;
  /** The named actors hosted here, by name. */
  actors: ActorMetrics[];
  /** The queue buckets this node keeps (as owner, replica, or read back from disk). */
  queues: QueueBucketMetrics[];
  /** The topics with subscribers on this node. */
  topics: TopicMetrics[];
}

/** A queue bucket a node keeps (`system.metrics().queues`). */
export interface QueueBucketMetrics {
  queue: string;
  bucket: number;
  /** `'owner'`, `'replica'`, or `'recovered'` (read back from disk, not taken over yet). */
  role: 'owner' | 'replica' | 'recovered';
  /** Records it holds. */
  records: number;
  /** The offset of the first (those before were trimmed by the queue's retention: `retainMs`, `trimAcked`). */
  first: number;
  /** Bytes of those records. */
  bytes: number;
  /** Kept on disk too. */
  disk: boolean;
  /** Nodes keeping the bucket (the queue's setting). */
  replicas: number;
  /** Each consumer group's place: `committed` (every record before it acknowledged), `lag` (records past it), `inFlight` (handed out, not acknowledged). */
  groups: { group: string; committed: number; lag: number; inFlight: number }[];
}

/** A topic's subscribers on a node (`system.metrics().topics`). */
export interface TopicMetrics {
  topic: string;
  subscribers: number;
  /** Messages given to them and not read yet. */
  waiting: number;
}

/** One named actor's figures (`system.metrics().actors`). */
export interface ActorMetrics {
  /** Full name (`actors/counter`). */
  name: string;
  /** Messages waiting in its mailbox. */
  mailboxDepth: number;
  /** Messages it was given to handle. */
  handled: number;
  /** Messages that ended in an error. */
  errors: number;
  /** Times supervision restarted it. */
  restarts: number;
  /**
   * How long its calls took. A TypeScript actor times one call in 128 (reading the clock on
   * every call would cost more than the metrics may); a Rust actor times every message.
   */
  latency: {
    /** Upper bounds of the buckets, in seconds; a last bucket (`+Inf`) follows. */
    boundsSeconds: number[];
    /** Calls per bucket, not cumulative: `boundsSeconds.length + 1` numbers. */
    counts: number[];
    sumSeconds: number;
    /** Calls timed. */
    count: number;
  };
}
