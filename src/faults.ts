/**
 * Fault injection for your own tests: cut, slow down or thin out traffic between this node
 * and others. Each node applies its own plan to what it sends and receives, so to partition
 * two groups, call `partition` on the nodes of both sides (in this process or through an
 * actor in another). Membership reacts as it would to a real network fault: the sides mark
 * each other suspect, then dead, and pending calls fail with `NodeDown`. After `heal` the
 * cluster converges again.
 */
import type { NativeSystem } from './native';
import { native, PulsingRuntimeError } from './errors';

/** The fault plan of one node. */
export class Faults {
  /** @internal */
  constructor(private readonly core: NativeSystem | null) {}

  /** Drop all traffic with these nodes, both ways. */
  partition(nodeIds: string[]): void {
    this.check();
    native(() => this.core!.faultPartition(nodeIds));
  }

  /** Delay every frame this node sends to `nodeId` by `ms` milliseconds. */
  delay(nodeId: string, ms: number): void {
    this.check();
    if (!(ms >= 0)) throw new PulsingRuntimeError('Config', 'faults.delay: ms must be a non-negative number');
    native(() => this.core!.faultDelay(nodeId, Math.round(ms)));
  }

  /** Drop each frame this node sends to `nodeId` with probability `rate` (0 to 1). */
  dropRate(nodeId: string, rate: number): void {
    this.check();
    if (!(rate >= 0 && rate <= 1)) throw new PulsingRuntimeError('Config', 'faults.dropRate: rate must be between 0 and 1');
    native(() => this.core!.faultDrop(nodeId, rate));
  }

  /** Remove every fault. */
  heal(): void {
    this.check();
    native(() => this.core!.faultHeal());
  }

  private check(): void {
    if (!this.core) throw new PulsingRuntimeError('Config', 'fault injection needs a cluster node: init with addr');
  }
}
