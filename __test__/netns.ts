/**
 * A network namespace for tests that need addresses other than loopback (protected mode,
 * `advertiseAddr`): a veth pair joins it to this namespace, with a private /30 between them.
 * Needs root (CI runs as root); `netnsUnavailable()` says why it cannot be made otherwise.
 * `destroy()` removes it (and the pair with it); it also runs at exit, whatever happened.
 */
import { execFileSync } from 'node:child_process';

export interface Netns {
  /** The namespace's name (for `ip netns exec`). */
  name: string;
  /** This namespace's end of the pair. */
  hostIp: string;
  /** The other namespace's end. */
  nsIp: string;
  /** The command and arguments that run `cmd args` inside the namespace. */
  exec(cmd: string, args: string[]): [string, string[]];
  destroy(): void;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/** Why no namespace can be made here, or `null` when one can. */
export function netnsUnavailable(): string | null {
  if (process.platform !== 'linux') return `network namespaces are Linux only (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'creating a network namespace needs root (CI runs as root)';
  try {
    ip('-V');
  } catch {
    return 'the ip command (iproute2) is missing';
  }
  return null;
}

const made = new Set<Netns>();
process.on('exit', () => { for (const n of made) n.destroy(); });

/** Create a namespace joined to this one; `tag` (a few letters) tells tests' namespaces apart. */
export function createNetns(tag: string): Netns {
  const id = `${tag}${process.pid}`.slice(0, 10);
  const name = `pul-${id}`;
  const host = `ph${id}`;
  const peer = `pn${id}`;
  // A /30 of 10.231.0.0/16 that no interface here uses yet.
  const used = ip('-o', '-4', 'addr', 'show');
  let k = process.pid % 250;
  for (let i = 0; i < 250 && used.includes(`10.231.${k}.`); i++) k = (k + 1) % 250;
  const [hostIp, nsIp] = [`10.231.${k}.1`, `10.231.${k}.2`];
  const n: Netns = {
    name, hostIp, nsIp,
    exec: (cmd, args) => ['ip', ['netns', 'exec', name, cmd, ...args]],
    destroy() {
      made.delete(n);
      try { ip('netns', 'del', name); } catch { /* already gone */ }
      try { ip('link', 'del', host); } catch { /* went with the namespace */ }
    },
  };
  made.add(n);
  try {
    ip('netns', 'add', name);
    ip('link', 'add', host, 'type', 'veth', 'peer', 'name', peer);
    ip('link', 'set', peer, 'netns', name);
    ip('addr', 'add', `${hostIp}/30`, 'dev', host);
    ip('link', 'set', host, 'up');
    ip('netns', 'exec', name, 'ip', 'addr', 'add', `${nsIp}/30`, 'dev', peer);
    ip('netns', 'exec', name, 'ip', 'link', 'set', peer, 'up');
    ip('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up');
  } catch (e) {
    n.destroy();
    throw e;
  }
  return n;
}
