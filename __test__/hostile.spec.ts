// Peers that lie, flood and over-announce: the node refuses what breaks the rules, bounds
// what it allocates, and keeps serving everyone else. Real child processes on 127.0.0.1 and
// raw sockets that speak the wire by hand (./peer.ts).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as pul from '../dist/index.js';
import { startNode, waitFor, type Child } from './helpers';
import { connect, frame, frames, gossip, handshake, header, member, nameEntry, rssOf } from './peer';

class Worker {
  incr(_n?: number): number { return 0; }
  hang(): Promise<never> { return new Promise(() => {}); }
  members(): Promise<number> { return Promise.resolve(0); }
  where(): { label: string; pid: number; nodeId: string } { throw new Error('remote only'); }
}
const RWorker = pul.remote(Worker, { className: 'fixtures/Worker' });

const fast = { probeIntervalMs: 100, probeTimeoutMs: 60, suspicionTimeoutMs: 500, syncIntervalMs: 100 };
const FAKE = '0000000000000001'; // lower than any real node id, as a hijacker would pick
let a: Child;
let b: Child;
let sys: pul.ActorSystem;

/** Wait for a reply frame to come back on a raw socket. */
async function replyFrames(conn: Awaited<ReturnType<typeof connect>>, variant: number, ms = 10_000) {
  await waitFor(() => frames(conn.received()).some((f) => f.variant === variant), ms, `a frame of kind ${variant}`);
  return frames(conn.received()).filter((f) => f.variant === variant);
}

describe('hostile peers', () => {
  beforeAll(async () => {
    a = await startNode(['--name', 'alpha', '--name', 'payments', '--max-conns', '64', '--handshake-ms', '1000']);
    b = await startNode(['--seeds', a.addr, '--name', 'beta']);
    sys = await pul.init({ addr: '127.0.0.1:0', seeds: [a.addr], membership: fast });
    await waitFor(async () => (await sys.members()).length === 3, 10_000, '3 members');
  });

  afterAll(async () => {
    await pul.shutdown();
  });

  it('a 100 MiB body of empty maps is answered with Serialization, and the node serves on', async () => {
    const n = 100 * 1024 * 1024;
    // [method, args]: "incr", then an array of n empty maps.
    const body = Buffer.alloc(1 + 5 + 5 + n, 0x80);
    body[0] = 0x92;
    Buffer.from([0xa4, ...Buffer.from('incr')]).copy(body, 1);
    body[6] = 0xdd;
    body.writeUInt32BE(n, 7);
    const peer = await connect(a.addr);
    peer.sock.write(handshake('00000000000000aa'));
    peer.sock.write(frame(header.askName(7, 'actors/alpha'), body));
    const [err] = await replyFrames(peer, 4, 30_000); // Header::Error
    expect(err.head.toString('latin1')).toContain('Serialization');
    // Refused by the decoding budget (which stops at the first excess, before anything is
    // built), not after decoding it all: the reason names the budget.
    expect(err.head.toString('latin1')).toContain('more than 1000000 maps and arrays');
    peer.sock.destroy();
    const alpha = await RWorker.resolve('alpha');
    expect(await alpha.incr(1)).toBeGreaterThan(0);
    expect(rssOf(a.pid)).toBeLessThan(1.5 * 1024 ** 3);
  });

  it('attachments announced but never sent cost what arrived, not what was announced', async () => {
    const before = rssOf(a.pid);
    const peers: Awaited<ReturnType<typeof connect>>[] = [];
    for (let i = 0; i < 12; i++) {
      const p = await connect(a.addr);
      p.sock.write(handshake(`00000000000001${(16 + i).toString(16)}`));
      // One 256 MiB attachment announced; only a few bytes of it follow.
      p.sock.write(Buffer.concat([frame(header.askName(1, 'actors/alpha'), Buffer.from([0x92, 0xa4, 0x69, 0x6e, 0x63, 0x72, 0x90]), [256 * 1024 * 1024]), Buffer.alloc(1024)]));
      peers.push(p);
    }
    const alpha = await RWorker.resolve('alpha');
    expect(await alpha.incr(1)).toBeGreaterThan(0); // the node is responsive meanwhile
    expect(rssOf(a.pid) - before).toBeLessThan(200 * 1024 * 1024); // not 12 × 256 MiB
    for (const p of peers) p.sock.destroy();
  });

  it('idle sockets past the connection cap are refused (logged once), dropped at the handshake deadline, and a real node still joins', async () => {
    const idle: Awaited<ReturnType<typeof connect>>[] = [];
    for (let i = 0; i < 300; i++) idle.push(await connect(a.addr));
    await waitFor(() => idle.every((c) => c.sock.destroyed || c.sock.readableEnded), 10_000, 'idle sockets dropped');
    const refusals = a.proc.stderr().split('\n').filter((l) => l.includes('max_connections')).length;
    expect(refusals).toBeGreaterThanOrEqual(1);
    expect(refusals).toBeLessThanOrEqual(2); // rate-limited, not 236 lines
    const late = await pul.actorSystem({ addr: '127.0.0.1:0', seeds: [a.addr], membership: fast });
    await waitFor(async () => (await late.members()).length === 4, 5000, 'a real node joins');
    await late.shutdown();
    await waitFor(async () => (await sys.members()).length === 3, 5000, 'it leaves');
  });

  it('a connection whose first frame is not a Hello is closed with the reason logged', async () => {
    const peer = await connect(a.addr);
    peer.sock.write(Buffer.concat([Buffer.from('PLS1'), frame(header.askName(1, 'actors/alpha'), Buffer.from([0x92, 0xa4, 0x69, 0x6e, 0x63, 0x72, 0x90]))]));
    await peer.closed;
    expect(frames(peer.received()).some((f) => f.variant === 3)).toBe(false); // no Reply
    await waitFor(() => a.proc.stderr().includes('the first frame must be a Hello'), 5000, 'the logged reason');
  });

  it('a reply from a connection the call did not go to resolves nothing', async () => {
    const alpha = await RWorker.resolve('alpha');
    const pending = alpha.$with({ timeoutMs: 1500 }).hang().then((v) => ({ v }), (e) => ({ e }));
    const peer = await connect(sys.addr!);
    peer.sock.write(handshake(a.nodeId)); // even claiming to be alpha's node
    const replies: Buffer[] = [];
    for (let req = 1; req <= 2000; req++) replies.push(frame(header.reply(req), Buffer.from([0x2a])));
    peer.sock.write(Buffer.concat(replies));
    const r = await pending;
    expect('e' in r && r.e).toBeInstanceOf(pul.PulsingTimeoutError);
    peer.sock.destroy();
  });

  it('forged death, leave and incarnation claims evict nobody', async () => {
    const peer = await connect(sys.addr!);
    peer.sock.write(handshake('00000000000000bb'));
    peer.sock.write(frame(header.gossip(), gossip.sync([
      member(b.nodeId, b.addr, 'Dead', 2n ** 64n - 1n),
      member(a.nodeId, a.addr, 'Left', 0),
      member(sys.nodeId, sys.addr!, 'Dead', 2n ** 64n - 1n),
    ])));
    const evicted = waitFor(async () => (await sys.members()).length < 3, 1500, 'an eviction').then(() => true, () => false);
    expect(await evicted).toBe(false);
    const alpha = await RWorker.resolve('alpha');
    expect(await alpha.members()).toBe(3);
    peer.sock.destroy();
  });

  it('an injected member with a lower id and a name entry does not hijack resolve()', async () => {
    const peer = await connect(sys.addr!);
    peer.sock.write(handshake('00000000000000cc'));
    // The fake member claims beta's address: dialing it finds beta, not the fake id.
    peer.sock.write(frame(header.gossip(), gossip.pingWithMembers(1, [member(FAKE, b.addr, 'Alive', 0)])));
    peer.sock.write(frame(header.gossip(), gossip.pingWithNames(2, [nameEntry('actors/payments', FAKE, 1, 1)])));
    const hijacked = waitFor(async () => {
      const ref = await pul.resolve('payments');
      return ref.$ref.actorId.startsWith(FAKE);
    }, 1500, 'a hijack').then(() => true, () => false);
    expect(await hijacked).toBe(false);
    expect((await pul.resolve('payments')).$ref.actorId.startsWith(a.nodeId)).toBe(true);
    expect((await sys.members()).some((m) => m.nodeId === FAKE)).toBe(false);
    peer.sock.destroy();
  });

  it('only own methods of the class can be called: not Object.prototype, constructor or _private', async () => {
    const alpha = await pul.resolve('alpha');
    for (const m of ['valueOf', 'toString', 'hasOwnProperty', '__proto__', '__defineGetter__', '_secret']) {
      await expect(alpha[m]()).rejects.toBeInstanceOf(pul.PulsingUnsupportedError);
    }
    class Local { secret = 42; get() { return this.secret; } }
    const local = (await sys.spawn(new Local())).asAny();
    await expect(local.valueOf()).rejects.toBeInstanceOf(pul.PulsingUnsupportedError);
    expect(await local.get()).toBe(42);
  });

  it('remote spawn can be refused by a node, or limited to some classes', async () => {
    const closed = await startNode(['--seeds', a.addr, '--allow-spawn', 'false']);
    const some = await startNode(['--seeds', a.addr, '--allow-spawn', 'fixtures/Fragile']);
    await waitFor(async () => (await sys.members()).length === 5, 10_000, '5 members');
    await expect(RWorker.spawn({ placement: closed.nodeId })).rejects.toBeInstanceOf(pul.PulsingUnsupportedError);
    await expect(RWorker.spawn({ placement: some.nodeId })).rejects.toThrow(/allowRemoteSpawn/);
    const RFragile = pul.remote(class Fragile { hit(): number { return 0; } }, { className: 'fixtures/Fragile' });
    const f = await RFragile.spawn({ placement: some.nodeId, name: 'fragile-remote' });
    expect(await f.hit()).toBe(1);
    closed.proc.child.kill('SIGKILL');
    some.proc.child.kill('SIGKILL');
    await waitFor(async () => (await sys.members()).length === 3, 5000, 'back to 3');
  });
});
