/**
 * Topics: publish a message to every subscriber of a topic, on any node. Routing lives in
 * the core: a node with subscribers announces the topic, a publisher sends to those nodes,
 * and each node hands the message to its subscribers. Each subscriber has a bounded buffer
 * (1024 messages in the core): a slow subscriber loses what does not fit (counted as
 * `failed` by the publisher) and never slows the others or the publisher.
 */
import type { NativeSystem } from './native';
import { errorFromJs } from './native';
import { encode, decode } from './codec';
import { pack } from './packed';
import { PulsingRuntimeError, native } from './errors';

type NativeSubscription = import('../native/binding').NativeSubscription;

/** How `publish` waits, and what it counts. */
export type PublishMode = 'fire-and-forget' | 'best-effort' | 'wait-all-acks' | 'wait-any-ack';
const MODES: readonly PublishMode[] = ['fire-and-forget', 'best-effort', 'wait-all-acks', 'wait-any-ack'];

/** What `publish` counted: subscribers that got the message, and those (or nodes) that did not. */
export interface PublishResult {
  delivered: number;
  failed: number;
}

/** A handler of topic messages; what it returns is awaited before the next message. */
export type TopicHandler = (msg: unknown) => unknown;

function checkTopic(name: unknown): string {
  if (typeof name !== 'string' || name === '' || Buffer.byteLength(name) > 512) {
    throw new PulsingRuntimeError('Config', `a topic name must be a string of 1 to 512 bytes, got ${JSON.stringify(name)}`);
  }
  return name;
}

type Waiting = { topic: string; msg: Buffer; mode: PublishMode; resolve: (r: PublishResult) => void; reject: (e: unknown) => void };

/**
 * The publishes of one tick cross into the core together: one native call for all of them,
 * not one each (a crossing costs thread hand-offs both ways). Per system.
 */
class PublishBatch {
  private waiting: Waiting[] = [];

  constructor(private readonly core: NativeSystem) {}

  add(topic: string, msg: Buffer, mode: PublishMode): Promise<PublishResult> {
    return new Promise((resolve, reject) => {
      if (this.waiting.push({ topic, msg, mode, resolve, reject }) === 1) queueMicrotask(() => this.flush());
    });
  }

  private flush(): void {
    const items = this.waiting;
    this.waiting = [];
    this.core.topicPublishMany(items.map((i) => i.topic), pack(items.map((i) => i.msg)), items.map((i) => i.mode)).then(
      (outcomes) => outcomes.forEach((o, k) => (o.error ? items[k].reject(errorFromJs(o.error)) : items[k].resolve({ delivered: o.delivered, failed: o.failed }))),
      (e) => { for (const i of items) i.reject(e); },
    );
  }
}

const batches = new WeakMap<NativeSystem, PublishBatch>();

/** Publishes to a topic. */
export class TopicWriter {
  private readonly batch: PublishBatch;

  /** @internal */
  constructor(core: NativeSystem, readonly name: string) {
    let b = batches.get(core);
    if (!b) batches.set(core, (b = new PublishBatch(core)));
    this.batch = b;
  }

  /**
   * Publish `msg` to every subscriber of the topic.
   *
   * - `'fire-and-forget'` (default): returns at once; counts this node's subscribers, and
   *   nodes it could not send to as one failure each.
   * - `'best-effort'`: waits up to 1 s for each node's count.
   * - `'wait-all-acks'`: waits for every node's count (the call timeout).
   * - `'wait-any-ack'`: returns as soon as one subscriber somewhere got it.
   *
   * @example
   * ```ts
   * const { delivered, failed } = await tw.publish({ type: 'login' }, { mode: 'wait-all-acks' });
   * ```
   */
  async publish(msg: unknown, opts: { mode?: PublishMode } = {}): Promise<PublishResult> {
    const mode = opts.mode ?? 'fire-and-forget';
    if (!MODES.includes(mode)) throw new PulsingRuntimeError('Config', `mode must be one of ${MODES.join(', ')}, got ${JSON.stringify(mode)}`);
    return this.batch.add(this.name, encode(msg), mode);
  }
}

/** Subscribes to a topic on this node: `onMessage(fn)` and `start()`, or `for await`. */
export class TopicReader implements AsyncIterable<unknown> {
  private readonly handlers: TopicHandler[] = [];
  private sub: NativeSubscription | null = null;
  private running: Promise<void> | null = null;
  private keepAlive: NodeJS.Timeout | undefined;

  /** @internal */
  constructor(private readonly core: NativeSystem, readonly name: string) {}

  /** Call `fn` for each message (after `start()`); handlers run in turn, one message at a time. */
  onMessage(fn: TopicHandler): this {
    if (typeof fn !== 'function') throw new PulsingRuntimeError('Config', 'onMessage: expected a function');
    this.handlers.push(fn);
    return this;
  }

  /**
   * Start receiving: messages published from now on reach the handlers. A started reader
   * keeps the process alive until `stop()` (or its system's shutdown, which ends it).
   */
  async start(): Promise<void> {
    if (this.sub) return;
    const sub = this.subscribe();
    this.running = (async () => {
      try {
        await this.pump(sub);
      } finally {
        // Ended by stop(), or by the system's shutdown: the process is free to exit.
        if (this.sub === sub) this.release();
      }
    })();
  }

  /** Hand each message to the handlers, in turn, until the subscription ends. */
  private async pump(sub: NativeSubscription): Promise<void> {
    for (let batch = await sub.next(256); batch; batch = await sub.next(256)) {
      for (const b of batch) {
        const msg = decode(b);
        for (const h of this.handlers) {
          try {
            await h(msg);
          } catch (e) {
            process.emitWarning(`pulsing: a handler of topic ${this.name} failed: ${(e as Error)?.message ?? e}`, { code: 'PULSING_TOPIC_HANDLER' });
          }
        }
      }
    }
  }

  private release(): void {
    this.sub = null;
    clearInterval(this.keepAlive);
    this.keepAlive = undefined;
  }

  /** Stop receiving (unsubscribe); resolves once the handlers are done. Idempotent. */
  async stop(): Promise<void> {
    const sub = this.sub;
    if (sub) {
      this.release();
      sub.close();
    }
    await this.running;
    this.running = null;
  }

  /** Every message from now on, until `stop()` (or `break`, which stops it). */
  async *[Symbol.asyncIterator](): AsyncIterator<unknown> {
    const sub = this.sub ?? this.subscribe();
    try {
      for (let batch = await sub.next(256); batch; batch = await sub.next(256)) {
        for (const b of batch) yield decode(b);
      }
    } finally {
      if (this.sub === sub) await this.stop();
    }
  }

  private subscribe(): NativeSubscription {
    const sub = native(() => this.core.topicSubscribe(this.name));
    this.sub = sub;
    // Like a listening socket: a subscriber keeps the process alive until it stops.
    this.keepAlive = setInterval(() => {}, 0x7fffffff);
    return sub;
  }
}

/** The topics of one system: `system.topic`, or `pul.topic` for the global one. */
export class Topics {
  /** @internal */
  constructor(private readonly core: () => NativeSystem) {}

  /**
   * A publisher of topic `name`.
   *
   * @example
   * ```ts
   * const tw = await pul.topic.write('events');
   * ```
   */
  async write(name: string): Promise<TopicWriter> {
    return new TopicWriter(this.core(), checkTopic(name));
  }

  /**
   * A subscriber of topic `name` on this node (it receives once started, or iterated).
   *
   * @example
   * ```ts
   * const tr = await pul.topic.read('events');
   * tr.onMessage((m) => console.log(m));
   * await tr.start();
   * ```
   */
  async read(name: string): Promise<TopicReader> {
    return new TopicReader(this.core(), checkTopic(name));
  }
}
