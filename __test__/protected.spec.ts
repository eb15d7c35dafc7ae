// Addresses other than loopback, in a network namespace this test creates (root only; CI runs
// as root and must run it): protected mode (no passphrase, a non-loopback address: peers
// from loopback only), `insecure: true` (anyone), and `advertiseAddr` (the address peers
// dial when the bound one is not it). Nodes in both namespaces are real processes.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import net from 'node:net';
import * as pul from '../dist/index.js';
import { startNode, waitFor, type Child } from './helpers';
import { createNetns, netnsUnavailable, type Netns } from './netns';

class Worker { where(): { label: string; pid: number; nodeId: string } { throw new Error('remote only'); } }
const RWorker = pul.remote(Worker, { className: 'fixtures/Worker' });

const why = netnsUnavailable();
if (why !== null) {
  // Said once, plainly, in the run's output; under CI a missing namespace is a failure.
  console.warn(`protected.spec: skipped: ${why}`);
}
const suite = why === null ? describe : process.env.CI ? describe : describe.skip;

type Member = { nodeId: string; addr: string; status: string };
const members = async (addr: string) => (await (await fetch(`http://${addr}/cluster/members`)).json()) as Member[];
const port = (addr: string) => Number(addr.slice(addr.lastIndexOf(':') + 1));

/** A port free on this host now (for a node that must know its port before it binds). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '0.0.0.0', r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

suite('non-loopback addresses (a network namespace)', () => {
  let ns: Netns;
  /** Start a node inside the namespace. */
  const inside = (args: string[]) => startNode(args, 15_000, 'node.mjs', { wrap: (cmd, a) => ns.exec(cmd, a) });

  beforeAll(() => {
    if (why !== null) throw new Error(`CI must run this suite: ${why}`);
    ns = createNetns('pr');
  });
  afterAll(async () => {
    await pul.shutdown();
    ns?.destroy();
  });

  it('protected mode: without a passphrase, a node on a non-loopback address takes loopback peers only, and says so', async () => {
    const a: Child = await startNode(['--addr', '0.0.0.0:0', '--name', 'guarded']);
    await waitFor(() => /protected mode, peers are accepted from loopback only/.test(a.proc.stderr()), 5000, 'the warning at start');
    // A peer on loopback joins and calls.
    const sys = await pul.init({ addr: '127.0.0.1:0', seeds: [`127.0.0.1:${port(a.addr)}`] });
    await waitFor(async () => (await sys.members()).length === 2, 10_000, 'the loopback peer joined');
    expect((await (await RWorker.resolve('guarded', { timeoutMs: 5000 })).where()).pid).toBe(a.pid);
    // A peer from the other namespace is refused, and the refusal is logged, naming it.
    const b = await inside(['--addr', `${ns.nsIp}:0`, '--insecure', '--seeds', `${ns.hostIp}:${port(a.addr)}`, '--name', 'outsider']);
    await waitFor(() => a.proc.stderr().includes(`refused a connection from ${ns.nsIp}:`), 10_000, 'the refusal');
    expect(a.proc.stderr()).toMatch(new RegExp(`refused a connection from ${ns.nsIp.replace(/\./g, '\\.')}:\\d+: protected mode`));
    expect((await sys.members()).map((m) => m.nodeId).sort()).toEqual([a.nodeId, sys.nodeId].sort());
    // The outsider's own view: alone (its seed never let it in).
    expect((await members(b.addr)).map((m) => m.nodeId)).toEqual([b.nodeId]);
  }, 60_000);

  it('insecure: true takes peers from anywhere, and warns at start', async () => {
    const a = await startNode(['--addr', `${ns.hostIp}:0`, '--insecure', '--name', 'open']);
    await waitFor(() => /without a passphrase and with insecure: true: anyone who can reach it/.test(a.proc.stderr()), 5000, 'the warning at start');
    const b = await inside(['--addr', `${ns.nsIp}:0`, '--insecure', '--seeds', a.addr, '--name', 'visitor']);
    await waitFor(async () => (await members(a.addr)).length === 2, 10_000, 'the peer from the other namespace joined');
    // a calls an actor on b across the namespaces (its JSON gateway relays the call), once
    // b's name reached it.
    const where = () => fetch(`http://${a.addr}/v1/actors/visitor/where`, { method: 'POST', body: '{"args":[]}' });
    await waitFor(async () => (await where()).status === 200, 10_000, "b's name known on a");
    expect(await (await where()).json()).toMatchObject({ result: { label: 'visitor', pid: b.pid, nodeId: b.nodeId } });
  }, 60_000);

  it('advertiseAddr: a node bound to every interface is known, and dialed, at the address it advertises', async () => {
    const p = await freePort();
    const advertised = `${ns.hostIp}:${p}`;
    const a = await startNode(['--addr', `0.0.0.0:${p}`, '--advertise', advertised, '--insecure', '--name', 'announced']);
    expect(a.addr).toBe(advertised); // system.addr is what the node tells its peers
    const b = await inside(['--addr', `${ns.nsIp}:0`, '--insecure', '--seeds', advertised, '--name', 'listener']);
    await waitFor(async () => (await members(b.addr)).length === 2, 10_000, 'b joined');
    // Everyone knows a by the advertised address, a itself included (the bound one, 0.0.0.0,
    // would send b's dials to b's own namespace).
    for (const view of [a.addr, b.addr]) {
      expect((await members(view)).find((m) => m.nodeId === a.nodeId)).toMatchObject({ addr: advertised, status: 'alive' });
    }
    // b calls a's actor: it dials the advertised address.
    const where = () => fetch(`http://${b.addr}/v1/actors/announced/where`, { method: 'POST', body: '{"args":[]}' });
    await waitFor(async () => (await where()).status === 200, 10_000, "a's name known on b");
    expect(await (await where()).json()).toMatchObject({ result: { label: 'announced', pid: a.pid } });
  }, 60_000);
});
