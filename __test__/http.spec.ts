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
class Counted {
  n = 0;
  ok(): number { return ++this.n; }
  fail(): never { throw new Error('refused'); }
  async later(): Promise<number> { await new Promise((r) => setImmediate(r)); return this.n; }
  crash(): never { throw new pul.PulsingSystemError('broke', false); }
}
const RCounted = pul.remote(Counted, { className: 'http/Counted', restartPolicy: 'on-failure', maxRestarts: 5, minBackoffMs: 1 });
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

  it('per named actor: messages, errors, restarts, mailbox depth and latency, the same in system.metrics(), /metrics and /actors', async () => {
    const c = await RCounted.spawn({ name: 'hw-counted' });
    for (let i = 0; i < 300; i++) await c.ok();
    for (let i = 0; i < 4; i++) await c.later();
    for (let i = 0; i < 3; i++) await expect(c.fail()).rejects.toThrow('refused');
    // Across the wire, by the JSON gateway of another node (once the name reached it).
    await waitFor(async () => ((await (await fetch(url(a.addr, '/actors'))).json()) as { name: string }[]).some((x) => x.name === 'actors/hw-counted'), 10_000, 'the name on node a');
    for (let i = 0; i < 5; i++) expect((await call(a.addr, 'hw-counted', 'ok', [])).status).toBe(200);
    await expect(c.crash()).rejects.toThrow('broke');
    await waitFor(async () => { try { await c.ok(); return true; } catch { return false; } }, 5_000, 'the restart');
    const handled = 300 + 4 + 3 + 5 + 1 + 1;

    const mine = (await sys.metrics()).actors.find((x) => x.name === 'actors/hw-counted')!;
    expect(mine).toMatchObject({ handled, errors: 4, restarts: 1, mailboxDepth: 0 });
    expect(mine.latency.counts).toHaveLength(mine.latency.boundsSeconds.length + 1);
    // One call in 128 is timed.
    expect(mine.latency.count).toBe(Math.floor(handled / 128));
    expect(mine.latency.counts.reduce((x, y) => x + y, 0)).toBe(mine.latency.count);
    expect(mine.latency.sumSeconds).toBeGreaterThan(0);

    const text = await (await fetch(url(sys.addr!, '/metrics'))).text();
    const scraped = parsePrometheus(text);
    const fam = (name: string) => scraped.find((f) => f.name === name)!;
    const of = (name: string) => Number(fam(name).metrics.find((m) => m.labels?.actor === 'actors/hw-counted')!.value);
    expect(of('pulsing_actor_messages_total')).toBe(handled);
    expect(of('pulsing_actor_errors_total')).toBe(4);
    expect(of('pulsing_actor_restarts_total')).toBe(1);
    expect(of('pulsing_actor_mailbox_depth')).toBe(0);
    expect(fam('pulsing_actor_latency_seconds').type).toBe('HISTOGRAM');
    // The parser folds labelled histograms into one: the series are read from the lines.
    const line = (suffix: string, extra = '') => {
      const m = text.match(new RegExp(`^pulsing_actor_latency_seconds_${suffix}\\{node="${sys.nodeId}",actor="actors/hw-counted"${extra}\\} (\\S+)$`, 'm'));
      return Number(m![1]);
    };
    expect(line('count')).toBe(mine.latency.count);
    expect(line('bucket', ',le="\\+Inf"')).toBe(mine.latency.count);
    expect(line('sum')).toBeCloseTo(mine.latency.sumSeconds, 6);
    expect(line('bucket', ',le="10"')).toBeLessThanOrEqual(mine.latency.count);

    // Another node shows it with its figures, asked of this node (once the name reached it).
    await waitFor(async () => ((await (await fetch(url(b.addr, '/actors'))).json()) as { name: string }[]).some((x) => x.name === 'actors/hw-counted'), 10_000, 'the name on node b');
    const listed = (await (await fetch(url(b.addr, '/actors'))).json()) as { name: string; instances: { nodeId: string; handled: number; errors: number; mailboxDepth: number }[] }[];
    const inst = listed.find((x) => x.name === 'actors/hw-counted')!.instances[0];
    expect(inst).toMatchObject({ nodeId: sys.nodeId, handled, errors: 4, mailboxDepth: 0 });
    // And the actors of the other processes, with theirs (a node reports its JS actors'
    // figures to its core once a second).
    await waitFor(async () => {
      const all = (await (await fetch(url(b.addr, '/actors'))).json()) as typeof listed;
      return all.find((x) => x.name === 'actors/hw-a')!.instances[0].handled > 0;
    }, 5_000, "hw-a's figures");

    // A stopped actor leaves the figures.
    await sys.stop('hw-counted');
    expect((await sys.metrics()).actors.some((x) => x.name === 'actors/hw-counted')).toBe(false);
    expect(await (await fetch(url(sys.addr!, '/metrics'))).text()).not.toContain('actor="actors/hw-counted"');
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

  it('the gateway maps timeouts to 504 (X-Pulsing-Timeout-Ms), a lost node to 503, a business code that is no HTTP error to 422', async () => {
    const timed = await fetch(url(a.addr, '/v1/actors/hw-b/hang'), { method: 'POST', body: '{"args":[]}', headers: { 'x-pulsing-timeout-ms': '300' } });
    // The node's default timeout is 30 s: an answer now is the header's doing.
    expect(timed.status).toBe(504);
    expect((await body(timed)).error).toMatchObject({ class: 'PulsingTimeoutError', durationMs: 300 });
    for (const bad of ['0', 'soon', '3600001']) {
      const r = await fetch(url(a.addr, '/v1/actors/hw-b/hang'), { method: 'POST', body: '{"args":[]}', headers: { 'x-pulsing-timeout-ms': bad } });
      expect(r.status, bad).toBe(400);
      expect((await body(r)).error).toMatchObject({ kind: 'Config', message: expect.stringContaining('X-Pulsing-Timeout-Ms') });
    }
    const custom = await call(a.addr, 'hw-b', 'reject', [42]);
    expect(custom.status).toBe(422);
    expect((await body(custom)).error).toMatchObject({ class: 'PulsingBusinessError', code: 42 });

    // The callee's node dies with the call on its way: 503, ConnectionFailed.
    const doomed = await startNode(['--seeds', a.addr, '--name', 'hw-doomed']);
    await waitFor(async () => (await call(a.addr, 'hw-doomed', 'incr', [0])).status === 200, 10_000, 'hw-doomed known on a');
    const lost = call(a.addr, 'hw-doomed', 'hang', []);
    await waitFor(async () => (await call(a.addr, 'hw-doomed', 'incr', [0])).status === 200, 10_000, 'a call after the hanging one answered');
    doomed.proc.child.kill('SIGKILL');
    const r = await lost;
    expect(r.status).toBe(503);
    expect((await body(r)).error).toMatchObject({ class: 'PulsingRuntimeError', kind: 'ConnectionFailed' });
  });

  it('/queues lists every bucket with its owner, replica, records and groups\' lag, and every topic; /metrics and system.metrics() count them', async () => {
    const w = await sys.queue.write('hq', { numBuckets: 2, batchSize: 1, replicas: 2 });
    const recs = Array.from({ length: 10 }, (_, i) => ({ id: `k${i}`, i }));
    await w.put(recs);
    await w.flush();
    const g = await sys.queue.read('hq', { group: 'hg' });
    const got = await g.get({ limit: 100 });
    expect(got).toHaveLength(10);
    await g.ack(got.filter((r) => r.offset < 2)); // two of each bucket's first records
    const tr = await pul.topic.read('ht');
    await tr.start();
    type Q = { queues: { name: string; buckets: { bucket: number; owner: string | null; replicas: string[]; records: number; groups: { group: string; committed: number; lag: number; inFlight: number }[] }[] }[]; topics: { name: string; nodes: { nodeId: string; subscribers: number }[] }[]; unanswered: string[] };
    const all = [a.nodeId, b.nodeId, sys.nodeId];
    let q!: Q;
    await waitFor(async () => {
      q = (await (await fetch(url(b.addr, '/queues'))).json()) as Q;
      const hq = q.queues.find((x) => x.name === 'hq');
      return hq !== undefined && hq.buckets.length === 2 && hq.buckets.every((bk) => bk.owner !== null && bk.replicas.length === 1);
    }, 10_000, 'both buckets with their owner and replica');
    expect(q.unanswered).toEqual([]);
    const hq = q.queues.find((x) => x.name === 'hq')!;
    expect(hq.buckets.map((bk) => bk.bucket)).toEqual([0, 1]);
    for (const bk of hq.buckets) {
      expect(all).toContain(bk.owner);
      expect(bk.replicas[0]).not.toBe(bk.owner);
      expect(bk.owner).toBe(sys.queue.owner('hq', bk.bucket));
      expect(bk.groups).toEqual([{ group: 'hg', committed: Math.min(2, bk.records), lag: bk.records - Math.min(2, bk.records), inFlight: bk.records - Math.min(2, bk.records) }]);
    }
    expect(hq.buckets.reduce((n, bk) => n + bk.records, 0)).toBe(10);
    expect(q.topics.find((t) => t.name === 'ht')?.nodes).toEqual([{ nodeId: sys.nodeId, subscribers: 1, waiting: 0 }]);
    // The owner's own figures, in Prometheus and in JS.
    const owner = hq.buckets[0].owner === sys.nodeId ? sys.addr! : hq.buckets[0].owner === a.nodeId ? a.addr : b.addr;
    const families = new Map(parsePrometheus(await (await fetch(url(owner, '/metrics'))).text()).map((f) => [f.name, f]));
    const rec = families.get('pulsing_queue_records')!.metrics.find((m) => m.labels?.queue === 'hq' && m.labels?.bucket === '0')!;
    expect(rec.labels?.role).toBe('owner');
    expect(Number(rec.value)).toBe(hq.buckets[0].records);
    const lag = families.get('pulsing_queue_group_lag')!.metrics.find((m) => m.labels?.queue === 'hq' && m.labels?.bucket === '0' && m.labels?.group === 'hg')!;
    expect(Number(lag.value)).toBe(hq.buckets[0].groups[0].lag);
    const mine = (await sys.metrics()).queues.filter((x) => x.queue === 'hq');
    for (const x of mine) expect(['owner', 'replica']).toContain(x.role);
    expect((await sys.metrics()).topics).toContainEqual({ topic: 'ht', subscribers: 1, waiting: 0 });
    await tr.stop();
  });

  it('metrics: false counts nothing per actor; the node\'s own figures are still counted', async () => {
    const quiet = await pul.actorSystem({ addr: '127.0.0.1:0', metrics: false });
    try {
      const c = await RCounted.spawn({ system: quiet, name: 'uncounted' });
      for (let i = 0; i < 3; i++) await c.ok();
      await expect(c.fail()).rejects.toThrow('refused');
      const m = await quiet.metrics();
      expect(m.actors).toEqual([]);
      expect(m.namedActors.node).toBe(1);
      expect(m.members.alive).toBe(1);
      const text = await (await fetch(url(quiet.addr!, '/metrics'))).text();
      expect(text).toContain(`pulsing_members{node="${quiet.nodeId}",status="alive"} 1`);
      expect(text).not.toMatch(/^pulsing_actor_/m); // no sample (the families are still described)
      const listed = (await (await fetch(url(quiet.addr!, '/actors'))).json()) as { name: string; instances: Record<string, unknown>[] }[];
      expect(listed.find((x) => x.name === 'actors/uncounted')?.instances).toEqual([
        expect.objectContaining({ nodeId: quiet.nodeId, handled: null, errors: null, mailboxDepth: null, restarts: null }),
      ]);
    } finally {
      await quiet.shutdown();
    }
    await expect(pul.actorSystem({ metrics: 'no' as unknown as boolean })).rejects.toMatchObject({ kind: 'Config', message: expect.stringContaining('metrics') });
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
