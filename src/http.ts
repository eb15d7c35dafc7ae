/**
 * The HTTP surface of a node (served on its cluster port): see the README's "HTTP" section.
 */
import { nativeHttpToken } from './native';
import { PulsingRuntimeError } from './errors';

/**
 * The bearer token that opens the HTTP surface of a cluster secured with `passphrase` to a
 * client without the cluster's certificate (`Authorization: Bearer <token>`). Derived from
 * the passphrase: anyone with the passphrase can compute it, nobody can go back from it.
 *
 * @example
 * ```ts
 * const token = pul.httpToken(process.env.PULSING_PASSPHRASE!);
 * await fetch(`http://${addr}/health`, { headers: { authorization: `Bearer ${token}` } });
 * ```
 */
export function httpToken(passphrase: string): string {
  if (typeof passphrase !== 'string' || passphrase === '') throw new PulsingRuntimeError('Config', 'httpToken: passphrase must be a non-empty string');
  return nativeHttpToken(passphrase);
}
