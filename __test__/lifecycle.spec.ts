import { describe, it, expect, afterEach } from 'vitest';
import * as pul from '../dist/index.js';
import { runNode, waitFor, stillPendingAfter } from './helpers';

afterEach(async () => { await pul.shutdown(); });

describe('lifecycle', () => {
  it('getSystem throws before init; init returns the global system; init twice is the same', async () => {
    expect(pul.isInitialized()).toBe(false);
    expect(() => pul.getSystem()).toThrow(pul.PulsingRuntimeError);
    const [a, b] = await Promise.all([pul.init(), pul.init()]);
    expect(a).toBe(b);
    expect(await pul.init()).toBe(a);
    expect(pul.getSystem()).toBe(a);
    expect(pul.isInitialized()).toBe(true);
    expect(a.nodeId).toMatch(/^[0-9a-f]{16}$/);
    expect(a.addr).toBeNull();
    await pul.shutdown();
    expect(pul.isInitialized()).toBe(false);
    await pul.shutdown(); // no-op when not initialized
  });

  it('members() lists the node itself', async () => {
    const sys = await pul.init();
    expect(await sys.members()).toEqual([{ nodeId: sys.nodeId, addr: null, status: 'alive' }]);
  });

  it('shutdown runs onStop of every actor and refuses new spawns', async () => {
    const sys = await pul.actorSystem();
    const stopped: string[] = [];
    class A { constructor(readonly id: string) {} onStop() { stopped.push(this.id); } ping() { return 1; } }
    const RA = pul.remote(A, { className: 'lifecycle/A' });
    await RA.spawn({ system: sys, args: ['x'], name: 'x' });
    await RA.spawn({ system: sys, args: ['y'] });
    await sys.shutdown();
    expect(stopped.sort()).toEqual(['x', 'y']);
    await expect(RA.spawn({ system: sys })).rejects.toMatchObject({ kind: 'Stopped' });
  });

  it('an extra system is independent and disposes with await using', async () => {
    const g = await pul.init();
    let inner: pul.ActorSystem | undefined;
    {
      await using sys2 = await pul.actorSystem();
      inner = sys2;
      expect(sys2).not.toBe(g);
      expect(sys2.nodeId).not.toBe(g.nodeId);
      await sys2.spawn({ receive: (m: unknown) => m }, { name: 'same' });
      await g.spawn({ receive: (m: unknown) => m }, { name: 'same' }); // names are per system
    }
    await expect(inner!.spawn({ receive: () => 1 })).rejects.toMatchObject({ kind: 'Stopped' });
    expect(pul.getSystem()).toBe(g);
  });

  it('rejects bad and not-yet-supported options with Config errors naming them', async () => {
    await expect(pul.init({ isHeadNode: true, headAddr: '127.0.0.1:9000' })).rejects.toThrow(/exclusive/);
    await expect(pul.init({ addr: '127.0.0.1:0', headAddr: '127.0.0.1:1', seeds: ['127.0.0.1:2'] })).rejects.toMatchObject({ kind: 'Config', message: expect.stringContaining('headAddr replaces seeds') });
    await expect(pul.init({ isHeadNode: true })).rejects.toMatchObject({ kind: 'Config', message: expect.stringContaining('needs addr') });
    await expect(pul.init({ passphrase: 'x' })).rejects.toMatchObject({ kind: 'Config', message: expect.stringContaining('passphrase needs addr') });
    await expect(pul.init({ addr: 'nonsense' })).rejects.toMatchObject({ kind: 'Config', message: expect.stringContaining('host:port') });
    await expect(pul.init({ seeds: ['127.0.0.1:1'] })).rejects.toMatchObject({ kind: 'Config', message: expect.stringContaining('seeds need addr') });
    await expect(pul.init({ defaultTimeoutMs: -1 })).rejects.toMatchObject({ kind: 'Config' });
    expect(pul.isInitialized()).toBe(false);
  });

  it('the process exits by itself after shutdown, and an open system keeps it alive', async () => {
    const script = `
      const pul = require('./dist/index.js');
      (async () => {
        const sys = await pul.init();
        const R = pul.remote(class Echo { hi(x) { return x; } });
        const e = await R.spawn({ name: 'e' });
        // A started topic reader holds the process too, until the shutdown ends it.
        const tr = await pul.topic.read('t');
        tr.onMessage(() => {});
        await tr.start();
        console.log('ready', await e.hi(1));
        if (process.argv[1] === 'shutdown') await pul.shutdown();
      })();`;
    const closed = runNode(['-e', script, 'shutdown']);
    const r = await closed.done;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ready 1');

    const open = runNode(['-e', script, 'keep']);
    await waitFor(() => open.stdout().includes('ready 1'), 10_000, 'child ready');
    // Still running well after its script finished: the open system holds the process.
    expect(await stillPendingAfter(open.done, 300)).toBe(true);
    open.child.kill('SIGKILL');
  });

  // The worker's JS thread polls the connections it reads (libuv handles of its loop): they
  // must be closed as its environment is torn down, or Node aborts closing a loop with open
  // handles.
  it('a system in a worker thread ends with the worker, terminated or exiting', async () => {
    const r = await runNode(['__test__/fixtures/worker-thread.mjs']).done;
    expect(r.stderr).not.toContain('open handles');
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([
      'worker terminated: 44850 (code 1)',
      'worker exited: 44850 (code 0)',
      'worker terminated: 44850 (code 1)',
      'done',
    ]);
  });
});
