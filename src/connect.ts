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

  /** Connect to the first reachable gateway of `addrs`. */
  static async to(addrs: string[], _opts: ConnectOptions = {}): Promise<Connect> {
    throw new PulsingUnsupportedError(`Connect.to(${JSON.stringify(addrs)}): the cluster gateway is not part of this build yet`);
  }
}
