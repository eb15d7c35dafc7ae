// Traces across 3 nodes: the test process and two child processes each trace with the
// OpenTelemetry SDK (in-memory exporter). One call from here to B, which calls C, makes one
// trace whose client and server spans link parent to child across the processes; the
// traceparent also crosses a Connect gateway and the HTTP gateway.
import { describe, it, expect, afterAll, beforeAll } from 'vitest';
import { trace, context, SpanKind } from '@opentelemetry/api';
// @ts-expect-error a plain ES module fixture, without types
import { finished } from './fixtures/otel.mjs';
import * as pul from '../dist/index.js';
import { Connect } from '../dist/connect.js';
import { startNode, waitFor, type Child } from './helpers';

type Exported = { name: string; kind: number; traceId: string; spanId: string; parentSpanId: string | null; attributes: Record<string, string> };
const spansHere = finished as () => Exported[];

class Hop {
  relay(_next: string): Promise<string> { return Promise.resolve(''); }
  ping(): string { return ''; }
  hang(): Promise<void> { return new Promise(() => {}); }
  spans(): Exported[] { return []; }
}
const RHop = pul.remote(Hop, { className: 'trace/Hop' });
const fast = { probeIntervalMs: 100, probeTimeoutMs: 60, suspicionTimeoutMs: 500, syncIntervalMs: 100 };

describe('traces across nodes', () => {
  let b: Child;
  let c: Child;
  let sys: pul.ActorSystem;

  beforeAll(async () => {
    b = await startNode(['--name', 'hop-b'], 15_000, 'traced-node.mjs');
    c = await startNode(['--seeds', b.addr, '--name', 'hop-c'], 15_000, 'traced-node.mjs');
    sys = await pul.init({ addr: '127.0.0.1:0', seeds: [b.addr], membership: fast });
    await waitFor(async () => (await sys.members()).length === 3, 15_000, '3 members');
    const hb = await RHop.resolve('hop-b', { timeoutMs: 10_000 });
    await waitFor(async () => { try { await hb.relay('hop-c'); return true; } catch { return false; } }, 10_000, 'hop-b to reach hop-c');
  }, 60_000);
  afterAll(() => pul.shutdown());

  /** The span of `spans` with this kind and method (the newest, if several). */
  const find = (spans: Exported[], kind: SpanKind, method: string, traceId: string) =>
    spans.filter((s) => s.kind === kind && s.attributes['pulsing.method'] === method && s.traceId === traceId).at(-1);

  it('one call here -> B -> C is one trace: each hop a client span and a server span, parent to child', async () => {
    const hb = await RHop.resolve('hop-b');
    const tracer = trace.getTracer('test');
    const root = tracer.startSpan('test-root');
    const answer = await context.with(trace.setSpan(context.active(), root), () => hb.relay('hop-c'));
    root.end();
    expect(answer).toBe(c.nodeId);
    const traceId = root.spanContext().traceId;

    const clientA = find(spansHere(), SpanKind.CLIENT, 'relay', traceId)!;
    expect(clientA.parentSpanId).toBe(root.spanContext().spanId);
    expect(clientA.attributes).toMatchObject({ 'pulsing.actor': expect.stringContaining('hop-b'), 'pulsing.method': 'relay', 'pulsing.node': b.nodeId });

    const onB = await hb.spans();
    const serverB = find(onB, SpanKind.SERVER, 'relay', traceId)!;
    expect(serverB.parentSpanId).toBe(clientA.spanId);
    expect(serverB.attributes).toMatchObject({ 'pulsing.actor': 'actors/hop-b', 'pulsing.node': b.nodeId });
    const clientB = find(onB, SpanKind.CLIENT, 'ping', traceId)!;
    expect(clientB.parentSpanId).toBe(serverB.spanId);
    expect(clientB.attributes['pulsing.node']).toBe(c.nodeId);

    const hc = await RHop.resolve('hop-c');
    const serverC = find(await hc.spans(), SpanKind.SERVER, 'ping', traceId)!;
    expect(serverC.parentSpanId).toBe(clientB.spanId);
    expect(serverC.attributes).toMatchObject({ 'pulsing.actor': 'actors/hop-c', 'pulsing.method': 'ping', 'pulsing.node': c.nodeId });
  });

  it('the traceparent crosses a Connect gateway and the HTTP gateway', async () => {
    const conn = await Connect.to(b.addr);
    try {
      const hc = await conn.resolve('hop-c', { cls: RHop, timeoutMs: 10_000 });
      const root = trace.getTracer('test').startSpan('connect-root');
      await context.with(trace.setSpan(context.active(), root), () => hc.ping());
      root.end();
      const traceId = root.spanContext().traceId;
      const client = find(spansHere(), SpanKind.CLIENT, 'ping', traceId)!;
      expect(client.parentSpanId).toBe(root.spanContext().spanId);
      const direct = await RHop.resolve('hop-c');
      expect(find(await direct.spans(), SpanKind.SERVER, 'ping', traceId)!.parentSpanId).toBe(client.spanId);
    } finally {
      await conn.close();
    }

    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const r = await fetch(`http://${b.addr}/v1/actors/hop-c/ping`, {
      method: 'POST',
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
      body: JSON.stringify({ args: [] }),
    });
    expect(await r.json()).toEqual({ result: c.nodeId });
    const hc = await RHop.resolve('hop-c');
    expect(find(await hc.spans(), SpanKind.SERVER, 'ping', traceId)!.parentSpanId).toBe('00f067aa0ba902b7');
  });

  it('traced and untraced calls sent in one tick each fail the moment their connection closes', async () => {
    const d = await startNode(['--seeds', b.addr, '--name', 'hop-d'], 15_000, 'traced-node.mjs');
    const hd = (await RHop.resolve('hop-d', { timeoutMs: 10_000 })).$with({ timeoutMs: 30_000 });
    const root = trace.getTracer('test').startSpan('test-hang');
    // A traced ask, then an untraced one in the same tick: each must learn its connection.
    const traced = context.with(trace.setSpan(context.active(), root), () => hd.hang().catch((e) => e));
    const plain = hd.hang().catch((e) => e);
    await hd.ping(); // both are in flight on hop-d
    d.proc.child.kill('SIGKILL');
    // Closed connection, not the NodeDown that failure detection reports later.
    expect(await traced).toMatchObject({ kind: 'ConnectionFailed' });
    expect(await plain).toMatchObject({ kind: 'ConnectionFailed' });
    root.end();
  });
});
