import { describe, it, expect } from 'vitest';
import net from 'node:net';
import * as pul from '../dist/index.js';
import { waitFor, stillPendingAfter } from './helpers';

const fast = { probeIntervalMs: 50, probeTimeoutMs: 30, suspicionTimeoutMs: 300, syncIntervalMs: 50 };
class Vault { secret() { return 'gold'; } }
const RVault = pul.remote(Vault, { className: 'tls/Vault' });

describe('TLS from a passphrase (mutual, derived CA)', () => {
  it('the same passphrase converges and calls; a wrong or missing one never sees or calls anything', async () => {
    const a = await pul.actorSystem({ addr: '127.0.0.1:0', passphrase: 'correct horse', membership: fast });
    const b = await pul.actorSystem({ addr: '127.0.0.1:0', seeds: [a.addr!], passphrase: 'correct horse', membership: fast });
    const wrong = await pul.actorSystem({ addr: '127.0.0.1:0', seeds: [a.addr!], passphrase: 'battery staple', membership: fast });
    const none = await pul.actorSystem({ addr: '127.0.0.1:0', seeds: [a.addr!], membership: fast });
    try {
      const v = await RVault.spawn({ system: a, name: 'vault' });
      const fromB = await RVault.resolve('vault', { system: b, timeoutMs: 5000 });
      expect(await fromB.secret()).toBe('gold');
      expect((await b.members()).length).toBe(2);
      for (const intruder of [wrong, none]) {
        // Waiting for the name must time out: nothing ever arrives.
        const found = intruder.resolve('vault', { timeoutMs: 600 });
        await expect(found).rejects.toMatchObject({ kind: 'ActorNotFound' });
        expect((await intruder.members()).map((m) => m.nodeId)).toEqual([intruder.nodeId]);
        await expect(intruder.refer(v.$ref.actorId)).rejects.toMatchObject({ kind: 'NodeNotFound' });
      }
      expect((await a.members()).length).toBe(2);
    } finally {
      for (const s of [a, b, wrong, none]) await s.shutdown();
    }
  });

  it('plaintext to a TLS node gets no protocol answer and is dropped', async () => {
    const a = await pul.actorSystem({ addr: '127.0.0.1:0', passphrase: 'p', membership: fast });
    try {
      const [host, port] = a.addr!.split(':');
      let got = Buffer.alloc(0);
      const closed = new Promise<void>((resolve) => {
        const s = net.connect(Number(port), host, () => s.write('PLS1\0\0\0\x05\0\0\0\0hello'));
        s.on('data', (d) => { got = Buffer.concat([got, d]); });
        s.on('close', () => resolve());
        s.on('error', () => {});
      });
      await waitFor(async () => !(await stillPendingAfter(closed, 0)), 8000, 'the connection to close');
      expect(got.subarray(0, 4).toString()).not.toBe('PLS1');
      expect(got.length === 0 || got[0] === 0x15).toBe(true); // nothing, or a TLS alert
    } finally {
      await a.shutdown();
    }
  });

  it('rejects an empty passphrase or one without addr', async () => {
    await expect(pul.actorSystem({ addr: '127.0.0.1:0', passphrase: '' })).rejects.toMatchObject({ kind: 'Config' });
    await expect(pul.actorSystem({ passphrase: 'x' })).rejects.toThrow(/needs addr/);
  });
});
