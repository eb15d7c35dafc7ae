// The HTTP surface on every node's port: health, members, actors, Prometheus metrics, the
// JSON gateway (values, errors, an NDJSON stream cancelled by closing it), the bearer token
// with a passphrase, and HTTP turned off. A 3-node cluster of real processes on loopback.
import { describe, it, expect, afterAll, beforeAll } from 'vitest';
import { createRequire } from 'node:module';
import * as pul from '../dist/index.js';
import { startNode, waitFor, type Child } from './helpers';

type Family = { name: string; type: string; metrics: { value: string; labels?: Record<string, string> }[] };
const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Family[];

class Worker {
  finallyCount(): number { return 0; }
  members(): Promise<number> { return Promise.resolve(0); }
}
const RWorker = pul.remote(Worker, { className: 'fixtures/Worker' });
const fast = { probeIntervalMs: 100, probeTimeoutMs: 60, suspicionTimeoutMs: 500, syncIntervalMs: 100 };
/** A JSON answer of the gateway (its shape is what the test checks). */
type Answer = { result?: unknown; error: { class: string; kind?: string } } & Record<string, unknown>;
const body = async (r: Response) => (await r.json()) as Answer;

describe('HTTP on the node port', () => {
  let a: Child;
  let b: Child;
  let sys: pul.ActorSystem;
  const url = (addr: string, path: string) => `http://${addr}${path}`;
  const call = (addr: string, name: string, method: string, args: unknown[]) =>
    fetch(url(addr, `/v1/actors/${name}/${method}`), { method: 'POST', body: JSON.stringify({ args }) });

  beforeAll(async () => {
    a = await startNode(['--name', 'hw-a']);
    b = await startNode(['--seeds', a.addr, '--name', 'hw-b']);
    sys = await pul.init({ addr: '127.0.0.1:0', seeds: [a.addr], membership: fast });
    await waitFor(async () => (await sys.members()).length === 3, 15_000, '3 members');
    for (const n of ['hw-a', 'hw-b']) {
      const w = await RWorker.resolve(n, { timeoutMs: 10_000 });
      await waitFor(async () => (await w.members()) === 3, 15_000, `${n} to see 3`);
    }
  }, 60_000);
  afterAll(() => pul.shutdown());

  it('health, members and actors on every node', async () => {
    for (const node of [a.addr, b.addr, sys.addr!]) {
      const health = await (await fetch(url(node, '/health'))).json();
      expect(health).toMatchObject({ status: 'ok', members: 3 });
      const members = (await (await fetch(url(node, '/cluster/members'))).json()) as { nodeId: string; status: string }[];
      expect(members.map((m) => m.nodeId).sort()).toEqual([a.nodeId, b.nodeId, sys.nodeId].sort());
      expect(members.every((m) => m.status === 'alive')).toBe(true);
    }
    await waitFor(async () => {
      const actors = (await (await fetch(url(sys.addr!, '/actors'))).json()) as { name: string; instances: { nodeId: string }[] }[];
      return actors.some((x) => x.name === 'actors/hw-b' && x.instances[0].nodeId === b.nodeId);
    }, 10_000, 'hw-b listed with its node');
    expect((await fetch(url(sys.addr!, '/nowhere'))).status).toBe(404);
    expect((await fetch(url(sys.addr!, '/health'), { method: 'DELETE' })).status).toBe(405);
    const page = await fetch(url(sys.addr!, '/'));
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('/cluster/members');
  });

  it('metrics in the Prometheus text format, consistent with the members', async () => {
    const r = await fetch(url(a.addr, '/metrics'));
    expect(r.headers.get('content-type')).toContain('text/plain');
    const families = parsePrometheus(await r.text());
    const by = new Map(families.map((f) => [f.name, f]));
    for (const name of ['pulsing_members', 'pulsing_connections', 'pulsing_pending_calls', 'pulsing_named_actors']) {
      expect(by.get(name)?.type, name).toBe('GAUGE');
    }
    const alive = by.get('pulsing_members')!.metrics.find((m) => m.labels?.status === 'alive')!;
    expect(Number(alive.value)).toBe(3);
    expect(alive.labels?.node).toBe(a.nodeId);
    const here = by.get('pulsing_named_actors')!.metrics.find((m) => m.labels?.scope === 'node')!;
    expect(Number(here.value)).toBeGreaterThanOrEqual(1);
    for (const name of ['pulsing_frames_total', 'pulsing_frame_bytes_total', 'pulsing_gossip_bytes_total']) {
      expect(by.get(name)?.type, name).toBe('COUNTER');
    }

    // system.metrics() gives the same numbers as the endpoint, and the counters move.
    const before = await sys.metrics();
    await (await RWorker.resolve('hw-b')).finallyCount();
    const after = await sys.metrics();
    expect(after.lanes.control.framesOut).toBeGreaterThan(before.lanes.control.framesOut);
    expect(after.lanes.control.bytesIn).toBeGreaterThan(before.lanes.control.bytesIn);
    const scraped = new Map(parsePrometheus(await (await fetch(url(sys.addr!, '/metrics'))).text()).map((f) => [f.name, f]));
    const sample = (name: string, labels: Record<string, string>) =>
      Number(scraped.get(name)!.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))!.value);
    const now = await sys.metrics();
    expect(now.nodeId).toBe(sys.nodeId);
    expect(sample('pulsing_members', { status: 'alive' })).toBe(now.members.alive);
    expect(now.members.alive).toBe(3);
    expect(sample('pulsing_named_actors', { scope: 'cluster' })).toBe(now.namedActors.cluster);
    // Counters only grow: the scrape came between the two readings.
    const out = sample('pulsing_frames_total', { lane: 'control', direction: 'out' });
    expect(out).toBeGreaterThanOrEqual(after.lanes.control.framesOut);
    expect(out).toBeLessThanOrEqual(now.lanes.control.framesOut);
    expect(now.gossipBytes).toBeGreaterThan(0);
  });

  it('the JSON gateway calls an actor on another node: values, errors with their class, and a stream cancelled by closing it', async () => {
    const r = await call(sys.addr!, 'hw-b', 'echo', [{ deep: [1, 'two', { three: 3 }] }]);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ result: { deep: [1, 'two', { three: 3 }] } });

    const rejected = await call(sys.addr!, 'hw-b', 'reject', [409]);
    expect(rejected.status).toBe(409);
    expect(await rejected.json()).toEqual({ error: { class: 'PulsingBusinessError', code: 409, message: 'rejected by worker', details: { label: 'hw-b' } } });
    const typo = await call(sys.addr!, 'hw-b', 'nope', []);
    expect(typo.status).toBe(501);
    expect((await body(typo)).error.class).toBe('PulsingUnsupportedError');
    const missing = await call(sys.addr!, 'nobody', 'x', []);
    expect(missing.status).toBe(404);
    expect((await body(missing)).error).toMatchObject({ class: 'PulsingRuntimeError', kind: 'ActorNotFound' });
    const bad = await fetch(url(sys.addr!, '/v1/actors/hw-b/echo'), { method: 'POST', body: '{nope' });
    expect(bad.status).toBe(400);
    expect((await body(bad)).error.kind).toBe('Config');

    // NDJSON: one item per line; closing the response cancels the generator on hw-b.
    const wb = await RWorker.resolve('hw-b');
    const before = await wb.finallyCount();
    const stream = await call(sys.addr!, 'hw-b', 'tokens', [1_000_000]);
    expect(stream.headers.get('content-type')).toBe('application/x-ndjson');
    const reader = stream.body!.getReader();
    let text = '';
    while (text.split('\n').length < 4) text += new TextDecoder().decode((await reader.read()).value);
    expect(text.split('\n').slice(0, 3).map((l) => JSON.parse(l))).toEqual(['tok_0', 'tok_1', 'tok_2']);
    await reader.cancel();
    await waitFor(async () => (await wb.finallyCount()) > before, 10_000, 'the generator to be cancelled');
    const short = await (await call(a.addr, 'hw-b', 'tokens', [3])).text();
    expect(short.trim().split('\n').map((l) => JSON.parse(l))).toEqual(['tok_0', 'tok_1', 'tok_2']);
  });

  it('with a passphrase: 401 without the bearer token, served with it; HTTP can be turned off', async () => {
    const secured = await pul.actorSystem({ addr: '127.0.0.1:0', passphrase: 'http secret' });
    const off = await pul.actorSystem({ addr: '127.0.0.1:0', http: false });
    try {
      const none = await fetch(url(secured.addr!, '/health'));
      expect(none.status).toBe(401);
      expect(await none.json()).toEqual({ error: 'unauthorized' });
      const wrong = await fetch(url(secured.addr!, '/metrics'), { headers: { authorization: `Bearer ${pul.httpToken('other secret')}` } });
      expect(wrong.status).toBe(401);
      const ok = await fetch(url(secured.addr!, '/health'), { headers: { authorization: `Bearer ${pul.httpToken('http secret')}` } });
      expect(ok.status).toBe(200);
      expect((await body(ok)).nodeId).toBe(secured.nodeId);
      await expect(fetch(url(off.addr!, '/health'))).rejects.toThrow();
      expect(() => pul.httpToken('')).toThrow(/passphrase/);
    } finally {
      await secured.shutdown();
      await off.shutdown();
    }
  });
});
