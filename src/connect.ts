/**
 * `pulsing/connect`: the out-of-cluster client (see the README). It needs the cluster
 * transport and gateway, which this build does not include yet: `Connect.to` rejects with a
 * clear `PulsingUnsupportedError` rather than pretending to connect.
 */
import { PulsingUnsupportedError } from './errors';
import type { CallOptions } from './types';

/** Options of `Connect.to`. */
export interface ConnectOptions extends CallOptions {
  passphrase?: string;
}

/** A client connection to a cluster through its gateways. */
export class Connect {
  private constructor() {}

  /**
   * Connect to the first reachable gateway of `addrs`, without joining the cluster.
   *
   * @param addrs - Gateway addresses (`host:port`) of cluster nodes.
   * @param _opts - `passphrase` of the cluster, `timeoutMs` to connect.
   * @returns A connection to resolve and call actors through.
   * @throws {@link PulsingUnsupportedError} in this build: the gateway is not part of it yet.
   * @example
   * ```ts
   * import { Connect } from 'pulsing/connect';
   * const conn = await Connect.to(['10.0.0.1:8000']);
   * ```
   */
  static async to(addrs: string[], _opts: ConnectOptions = {}): Promise<Connect> {
    throw new PulsingUnsupportedError(`Connect.to(${JSON.stringify(addrs)}): the cluster gateway is not part of this build yet`);
  }
}
