/** The low-level actor base class: `receive` handles raw messages from `ref.ask` and `ref.tell`. */
import type { ActorId } from './types';

/**
 * Extend this to write an actor that handles raw messages. `receive` may return a value, a
 * Promise, or a (async) generator to stream the reply. Hooks are optional.
 */
export abstract class Actor {
  /** Runs before the first message (sync or async). */
  onStart?(id: ActorId): void | Promise<void>;
  /** Runs when the actor stops, and at system shutdown. */
  onStop?(): void | Promise<void>;
  /** Diagnostic key/values published with the actor's name. */
  metadata?(): Record<string, string>;
  /** Handle one message. */
  abstract receive(msg: unknown): unknown;
}
