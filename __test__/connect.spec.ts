import { describe, it, expect, afterAll } from 'vitest';
import * as pul from '../dist/index.js';
import { Connect } from '../dist/connect.js';
import { runNode, startNode, waitFor, type Child, type Proc } from './helpers';

type Step = Record<string, any> & { step: string };

/** The JSON lines the client printed so far. */
function steps(p: Proc): Step[] {
  return p.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Step);
}

async function waitStep(p: Proc, step: string, timeoutMs = 20_000): Promise<Step> {
  await waitFor(() => steps(p).some((s) => s.step === step) || p.child.exitCode !== null, timeoutMs, `client step ${step}`);
  const s = steps(p).find((x) => x.step === step);
  if (!s) throw new Error(`the client exited before step ${step}: ${p.stderr()}`);
  return s;
}

async function kill9(c: Child): Promise<void> {
  c.proc.child.kill('SIGKILL');
  await c.proc.done;
}

describe('Connect: a client process through gateways of a 3-node cluster', () => {
  it('calls, streams, spawns and fails over, never a member, and exits by itself after close()', async () => {
    const a = await startNode(['--name', 'w-a']);
    const b = await startNode(['--seeds', a.addr]);
    const c = await startNode(['--seeds', a.addr, '--name', 'w-c']);
    // The client is started once every node knows w-c (it lives on C; A is the gateway).
    const probe = await Connect.to(a.addr);
    await probe.resolve('w-c', { timeoutMs: 10_000 });
    await probe.close();
    const client = runNode(['__test__/fixtures/client.mjs', [a.addr, b.addr].join(',')]);

    const connected = await waitStep(client, 'connected');
    expect(connected.gateway).toBe(a.addr);

    const calls = await waitStep(client, 'calls');
    expect(calls.where.nodeId).toBe(c.nodeId); // an actor on another node than the gateway
    expect(calls.where.pid).toBe(c.pid);
    expect(calls.incr).toBe(2);
    expect(calls.untyped).toEqual({ deep: [1, 'two', { three: 3 }] });
    expect(calls.bytes).toMatchObject({ len: 3 << 20, type: 'Buffer' });
    expect(calls.concurrent).toBe(52);
    expect(calls.typo).toMatchObject({ ok: false, cls: 'PulsingUnsupportedError', message: expect.stringContaining('nope') });
    expect(calls.unknownName).toMatchObject({ ok: false, cls: 'PulsingRuntimeError', kind: 'ActorNotFound' });
    // The client is nobody's member.
    expect([...calls.members].sort()).toEqual([a.nodeId, b.nodeId, c.nodeId].sort());

    const stream = await waitStep(client, 'stream');
    expect(stream).toMatchObject({ first: 'tok_0', count: 300, cancelled: true, full: ['tok_0', 'tok_1', 'tok_2'], returned: 3 });

    const errors = await waitStep(client, 'errors');
    expect(errors.business).toMatchObject({ ok: false, cls: 'PulsingBusinessError', code: 42, details: { label: 'w-c' } });
    expect(errors.typeError).toMatchObject({ ok: false, cls: 'PulsingBusinessError', message: expect.stringContaining('bad type') });
    expect(errors.timeout).toMatchObject({ ok: false, cls: 'PulsingTimeoutError' });
    expect(errors.aborted).toMatchObject({ ok: false, message: 'stop waiting' });

    const spawn = await waitStep(client, 'spawn');
    expect(spawn.where).toMatchObject({ label: 'spawned', nodeId: a.nodeId }); // on the gateway node
    expect(spawn.again).toBe(5);
    expect(spawn.unknown).toMatchObject({ ok: false, kind: 'ActorNotFound', message: expect.stringContaining('fixtures/NotRegistered') });

    // kill -9 of the active gateway with three calls in flight (two asks and a stream).
    await waitStep(client, 'kill-gateway');
    await kill9(a);
    client.child.kill('SIGUSR2');
    // ConnectionFailed says how they failed: as their connection closed (a client has no
    // failure detector, and a timeout would be PulsingTimeoutError).
    const failed = await waitStep(client, 'in-flight-failed', 20_000);
    expect(failed.failed).toHaveLength(3);
    for (const f of failed.failed) expect(f).toMatchObject({ ok: false, cls: 'PulsingRuntimeError', kind: 'ConnectionFailed' });
    const failover = await waitStep(client, 'failover');
    expect(failover).toMatchObject({ incr: 53, gateway: b.addr });

    // A node started now (A's successor, joining through B) is in the refreshed list, and is
    // used once B and C are gone.
    await waitStep(client, 'start-node');
    const a2 = await startNode(['--seeds', b.addr, '--name', 'w-new']);
    client.child.kill('SIGUSR2');
    const refreshed = await waitStep(client, 'kill-others');
    expect([...refreshed.gateways].sort()).toEqual([a2.addr, b.addr, c.addr].sort());
    await Promise.all([kill9(b), kill9(c)]);
    client.child.kill('SIGUSR2');
    const late = await waitStep(client, 'late-gateway');
    expect(late).toMatchObject({ where: { nodeId: a2.nodeId }, gateway: a2.addr });

    const closed = await waitStep(client, 'closed');
    expect(closed.afterClose).toMatchObject({ ok: false, kind: 'Stopped' });
    // Nothing is left to keep it alive: it exits by itself, cleanly.
    await waitFor(() => client.child.exitCode !== null || client.child.signalCode !== null, 5000, `the client to exit by itself (${client.stderr()})`);
    const exit = await client.done;
    expect(exit.code, exit.stderr).toBe(0);
  }, 90_000);
});

describe('Connect in one process', () => {
  const fast = { probeIntervalMs: 100, probeTimeoutMs: 60, suspicionTimeoutMs: 500, syncIntervalMs: 100 };
  const open: { shutdown?: () => Promise<void>; close?: () => Promise<void> }[] = [];
  afterAll(async () => {
    for (const o of open.reverse()) await (o.close ?? o.shutdown)!.call(o);
  });

  it('authenticates with the cluster passphrase; a wrong or missing one gets nothing', async () => {
    const gw = await pul.actorSystem({ addr: '127.0.0.1:0', passphrase: 'correct horse', membership: fast });
    open.push(gw);
    await gw.spawn({ hi: () => 'hello' }, { name: 'greeter' });
    await expect(Connect.to(gw.addr!, { passphrase: 'battery staple', timeoutMs: 3000 })).rejects.toMatchObject({ kind: 'ConnectionFailed' });
    await expect(Connect.to(gw.addr!, { timeoutMs: 3000 })).rejects.toMatchObject({ kind: 'ConnectionFailed', message: expect.stringContaining('passphrase') });
    await using conn = await Connect.to(gw.addr!, { passphrase: 'correct horse' });
    expect(await (await conn.resolve('greeter')).hi()).toBe('hello');
  });

  it('rejects bad input by name, and says which gateways it tried', async () => {
    await expect(Connect.to([])).rejects.toMatchObject({ kind: 'Config', message: expect.stringContaining('host:port') });
    await expect(Connect.to('nowhere')).rejects.toMatchObject({ kind: 'Config' });
    await expect(Connect.to('127.0.0.1:1', { timeoutMs: -1 })).rejects.toMatchObject({ kind: 'Config', message: expect.stringContaining('timeoutMs') });
    await expect(Connect.to(['127.0.0.1:1', '127.0.0.1:2'])).rejects.toMatchObject({
      kind: 'ConnectionFailed', message: expect.stringMatching(/127\.0\.0\.1:1.*127\.0\.0\.1:2/),
    });
  });

  it('resolve waits for a name with timeoutMs, and a typed resolve never sends an unknown method', async () => {
    class Counter { n = 0; incr() { return ++this.n; } }
    const RCounter = pul.remote(Counter, { className: 'connect.spec/Counter' });
    const gw = await pul.actorSystem({ addr: '127.0.0.1:0', membership: fast });
    open.push(gw);
    const conn = await Connect.to(gw.addr!);
    open.push(conn);
    const later = conn.resolve('counter', { cls: RCounter, timeoutMs: 5000 });
    await RCounter.spawn({ system: gw, name: 'counter' });
    const c = await later;
    expect(await c.incr()).toBe(1);
    // @ts-expect-error: not a method of Counter
    await expect(c.incrr()).rejects.toBeInstanceOf(pul.PulsingUnsupportedError);
    await expect(conn.resolve('never', { timeoutMs: 100 })).rejects.toMatchObject({ kind: 'ActorNotFound', message: expect.stringContaining('100 ms') });
    await conn.close();
    await conn.close(); // idempotent
    await expect(conn.resolve('counter')).rejects.toMatchObject({ kind: 'Stopped' });
  });
});
