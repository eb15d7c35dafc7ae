/**
 * Pulsing for Node: a distributed actor runtime with a Rust core.
 *
 * ```ts
 * import * as pul from 'pulsing';
 * class Counter { value = 0; incr() { return ++this.value; } }
 * const RCounter = pul.remote(Counter);
 * await pul.init();
 * const c = await RCounter.spawn({ name: 'counter' });
 * await c.incr(); // 1
 * await pul.shutdown();
 * ```
 * @packageDocumentation
 */
export { init, getSystem, isInitialized, shutdown, actorSystem, resolve, mount, unmount, queue, topic } from './global';
export { QueueWriter, QueueReader, Queues, bucketOf } from './queue';
export type { QueueWriteOptions, QueueReadOptions, QueueGroupReadOptions, QueueGetOptions, QueuePutOptions } from './queue';
export { QueueGroupReader } from './groups';
export type { GroupRecord, NackOptions } from './groups';
export { TopicWriter, TopicReader, Topics } from './topic';
export type { PublishMode, PublishResult, TopicHandler } from './topic';
export { remote } from './remote';
export type { ActorClass, AnyCtor, RemoteOptions, SpawnOptions } from './remote';
export { ActorSystem } from './system';
export { httpToken } from './http';
export { Faults } from './faults';
export { ActorRef } from './ref';
export { Actor } from './actor';
export type { ActorProxy, AnyProxy } from './proxy';
export { ActorStream, CallResult } from './stream';
export {
  PulsingError, PulsingRuntimeError, PulsingActorError, PulsingBusinessError,
  PulsingSystemError, PulsingTimeoutError, PulsingUnsupportedError,
} from './errors';
export type { RuntimeErrorKind } from './errors';
export type {
  ActorId, CallOptions, InitOptions, MembershipOptions, TransportOptions, Member, NamedActorInfo, ResolveOptions, RestartPolicy,
  SupervisionOptions, SystemSpawnOptions, NodeMetrics, LaneMetrics, ActorMetrics, QueueBucketMetrics, TopicMetrics,
} from './types';
export { encode, decode } from './codec';
export { zerocopy } from './zerocopy';
