/** What a ref calls: a local actor cell or an actor on another node. */
import type { CallOptions } from './types';

/** The calls every actor target supports; proxies and refs only use these. */
export interface CallTarget {
  readonly actorId: string;
  readonly label: string;
  /** Call `method`; resolves with its result (an `ActorStream` when it streams). */
  call(method: string, args: unknown[], opts?: CallOptions): Promise<unknown>;
  /** Send without waiting for the result; resolves once accepted. */
  tell(method: string, args: unknown[], opts?: CallOptions): Promise<void>;
}
