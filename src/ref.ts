/** `ActorRef`: the handle to one actor. Proxies are built over it. */
import type { CallTarget } from './target';
import type { CallOptions } from './types';
import { checkCallOptions } from './deadline';
import { anyProxy, typedProxy, type ActorProxy, type AnyProxy } from './proxy';
import type { ActorClass, AnyCtor } from './remote';

/** A reference to an actor: `ask`, `tell`, and proxies over it. */
export class ActorRef {
  /** @internal A local actor cell, or an actor on another node. */
  readonly target: CallTarget;

  /** @internal */
  constructor(target: CallTarget) {
    this.target = target;
  }

  /** `"<nodeId>:<localId>"`: the hosting node is visible in the id. */
  get actorId(): string {
    return this.target.actorId;
  }

  /** Send `msg` to the actor's `receive` and wait for the reply (an AsyncIterable if it streams). */
  ask(msg: unknown, opts?: CallOptions): Promise<unknown> {
    checkCallOptions(opts, 'ask');
    return this.target.call('receive', [msg], opts);
  }

  /** Send `msg` without waiting for a reply; resolves once the mailbox accepted it. */
  tell(msg: unknown, opts?: CallOptions): Promise<void> {
    checkCallOptions(opts, 'tell');
    return this.target.tell('receive', [msg], opts);
  }

  /** An untyped proxy: any method name is sent. */
  asAny(): AnyProxy {
    return anyProxy(this, undefined);
  }

  /** A typed proxy for an actor class made with `remote()`. */
  asType<C extends AnyCtor>(cls: ActorClass<C>): ActorProxy<InstanceType<C>> {
    return typedProxy(this, cls, undefined);
  }

  toString(): string {
    return `ActorRef(${this.actorId})`;
  }
}
