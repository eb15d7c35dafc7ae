import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as pul from '../dist/index.js';
import { Connect } from '../dist/connect.js';
import { protocol } from '../dist/native.js';
import { root, runProcess, startNode, waitFor, type Child, type Proc } from './helpers';

// Remote calls leave from two places: the TS layer (src/wire.ts) for JS callers and the core
// (cluster/node/calls.rs) for Rust callers. docs/semantics.md says why both exist; this suite
// holds both to the same behaviour by running every case through each, as a node and as a
// `Connect` client through a gateway (this process's node, which relays to the actor's). The
// Rust caller is crates/pulsing-actor/examples/caller.rs, driven by JSON commands on stdin.

type Cmd = { op: string; name?: string; method?: string; args?: unknown[]; times?: number; take?: number | null; of?: number };
type Answer = { ok?: unknown; err?: { category: string; kind?: string; code?: number; message: string }; items?: unknown[]; ended?: boolean; held?: number };
interface Caller { exec(cmd: Cmd): Promise<Answer & { id: number }> }

const bin = join(root, 'target/debug/examples/caller');
let server: Child;
let rustProc: Proc;

function errJson(e: unknown): Answer['err'] {
  if (e instanceof pul.PulsingRuntimeError) return { category: 'runtime', kind: e.kind, message: e.message };
  if (e instanceof pul.PulsingBusinessError) return { category: 'business', code: e.code, message: e.message };
  if (e instanceof pul.PulsingTimeoutError) return { category: 'timeout', message: e.message };
  return { category: 'other', message: String((e as Error)?.message ?? e) };
}

type Resolve = (name: string) => Promise<unknown>;

/** The same commands, carried out by this process's TS layer (as a node, or a client). */
function tsCaller(resolve: Resolve): Caller {
  let next = 0;
  const held = new Map<number, AsyncIterator<unknown>>();
  return {
    async exec(cmd) {
      const id = ++next;
      try {
        if (cmd.op === 'release') { await held.get(cmd.of!)?.return?.(); held.delete(cmd.of!); return { id, ok: null }; }
        const p = (await resolve(cmd.name!)) as any;
        const proxy = p.$with({ timeoutMs: 60_000 });
        switch (cmd.op) {
          case 'call': return { id, ok: await proxy[cmd.method!](...cmd.args!) };
          case 'tells':
            for (let i = 0; i < (cmd.times ?? 1); i++) void p.$ref.target.tell(cmd.method!, cmd.args!);
            return { id, ok: null };
          case 'count': {
            let n = 0;
            for await (const _ of proxy[cmd.method!](...cmd.args!) as AsyncIterable<unknown>) n++;
            return { id, ok: n };
          }
          case 'stream': case 'hold': {
            const it = (proxy[cmd.method!](...cmd.args!) as AsyncIterable<unknown>)[Symbol.asyncIterator]();
            const items: unknown[] = [];
            let ended = false;
            while (cmd.take == null || items.length < cmd.take) {
              const r = await it.next();
              if (r.done) { ended = true; break; }
              items.push(r.value);
            }
            if (cmd.op === 'hold') { held.set(id, it); return { id, held: items.length }; }
            if (!ended) await it.return?.();
            return { id, items, ended };
          }
          default: throw new Error(`no op ${cmd.op}`);
        }
      } catch (e) {
        return { id, err: errJson(e) };
      }
    },
  };
}

/** The same commands, carried out by a Rust node. */
function rustCaller(proc: Proc): Caller {
  let next = 0;
  let seen = 0;
  const waiting = new Map<number, (a: any) => void>();
  proc.child.stdout!.on('data', () => {
    const lines = proc.stdout().split('\n');
    for (; seen < lines.length - 1; seen++) {
      const a = JSON.parse(lines[seen]);
      if (a.id != null) { waiting.get(a.id)?.(a); waiting.delete(a.id); }
    }
  });
  return {
    exec(cmd) {
      const id = ++next;
      return new Promise((resolve) => { waiting.set(id, resolve); proc.child.stdin!.write(JSON.stringify({ id, ...cmd }) + '\n'); });
    },
  };
}

const WHO = ['ts', 'rust', 'ts-connect', 'rust-connect'] as const;
const callers: Record<(typeof WHO)[number], Caller> = {} as any;
let rustClient: Proc;
let conn: Connect;
const RWorker = pul.remote(class Worker {}, { className: 'fixtures/Worker' });

beforeAll(async () => {
  if (!existsSync(bin)) execFileSync('cargo', ['build', '-p', 'pulsing-actor', '--example', 'caller'], { cwd: root, stdio: 'inherit' });
  server = await startNode(['--name', 'conf']);
  const sys = await pul.init({ addr: '127.0.0.1:0', seeds: [server.addr] });
  callers.ts = tsCaller((name) => pul.resolve(name, { timeoutMs: 500 }));
  rustProc = runProcess(bin, [server.addr], { stdin: true });
  callers.rust = rustCaller(rustProc);
  conn = await Connect.to(sys.addr!);
  callers['ts-connect'] = tsCaller((name) => conn.resolve(name, { timeoutMs: 500 }));
  rustClient = runProcess(bin, ['--connect', sys.addr!], { stdin: true });
  callers['rust-connect'] = rustCaller(rustClient);
  await waitFor(() => rustProc.stdout().includes('"ready"'), 30_000, 'the rust caller to start');
  await waitFor(() => rustClient.stdout().includes('"ready"'), 30_000, 'the rust client to connect');
  for (const c of Object.values(callers)) {
    await waitFor(async () => (await c.exec({ op: 'call', name: 'conf', method: 'echo', args: [1] })).ok === 1, 15_000, 'conf to resolve');
  }
}, 180_000);

afterAll(async () => {
  rustProc?.child.stdin?.end();
  rustClient?.child.stdin?.end();
  await conn?.close();
  await pul.shutdown();
});

describe.each(WHO)('a %s caller', (who) => {
  const exec = (cmd: Cmd) => callers[who].exec(cmd);
  const call = (method: string, ...args: unknown[]) => exec({ op: 'call', name: 'conf', method, args });

  it('gets values back as sent, through MessagePack', async () => {
    const v = { s: 'héllo', n: -3, f: 1.5, list: [1, 'two', null, true], nested: { deep: [[1]] } };
    expect((await call('echo', v)).ok).toEqual(v);
  });

  it('gets errors with their category, code and message', async () => {
    expect((await call('reject', 409)).err).toMatchObject({ category: 'business', code: 409, message: 'rejected by worker' });
    const missing = await exec({ op: 'call', name: 'no-such-actor', method: 'x', args: [] });
    expect(missing.err).toMatchObject({ category: 'runtime', kind: 'ActorNotFound' });
    expect((await call('echo', 'still serving')).ok).toBe('still serving');
  });

  it('keeps the order of tells and asks on one connection', async () => {
    const base = (await call('incr', 0)).ok as number;
    expect((await exec({ op: 'tells', name: 'conf', method: 'incr', args: [1], times: 300 })).ok).toBeNull();
    // The ask goes out after the tells on the same connection, so it sees all of them.
    expect((await call('incr', 0)).ok).toBe(base + 300);
  });

  it('reads a stream to its end', async () => {
    const r = await exec({ op: 'stream', name: 'conf', method: 'tokens', args: [40], take: null });
    expect(r.ended).toBe(true);
    expect(r.items).toEqual(Array.from({ length: 40 }, (_, i) => `tok_${i}`));
  });

  it('cancels the generator when it stops reading', async () => {
    const before = (await call('finallyCount')).ok as number;
    const r = await exec({ op: 'stream', name: 'conf', method: 'counted', args: [1_000_000], take: 5 });
    expect(r.items).toEqual([0, 1, 2, 3, 4]);
    expect(r.ended).toBe(false);
    await waitFor(async () => (await call('finallyCount')).ok === before + 1, 10_000, 'the generator to be cancelled');
    expect((await call('yieldedCount')).ok as number).toBeLessThan(1_000_000);
  });

  it('lets a producer run at most one window ahead of a consumer that stopped reading', async () => {
    const before = (await call('finallyCount')).ok as number;
    const h = await exec({ op: 'hold', name: 'conf', method: 'counted', args: [1_000_000], take: 10 });
    expect(h.held).toBe(10);
    // The producer fills the window, then waits for credit that never comes.
    await waitFor(async () => ((await call('yieldedCount')).ok as number) >= protocol.streamWindow, 10_000, 'the window to fill');
    for (let i = 0; i < 3; i++) expect((await call('yieldedCount')).ok as number).toBeLessThanOrEqual(protocol.streamWindow + 1);
    // Dropping the held stream cancels it.
    await exec({ op: 'release', of: h.id });
    await waitFor(async () => (await call('finallyCount')).ok === before + 1, 10_000, 'the held stream to be cancelled');
  });

  it('stops a producer of large items at its byte window, long before its item window', async () => {
    const size = 1 << 20;
    const before = (await call('finallyCount')).ok as number;
    // Strings, in the body: a Rust caller decodes what it holds, and has no out-of-band parts.
    const h = await exec({ op: 'hold', name: 'conf', method: 'chunks', args: [1_000, size, 'string'], take: 1 });
    expect(h.held).toBe(1);
    const window = Math.ceil(protocol.streamWindowBytes / size);
    await waitFor(async () => ((await call('yieldedCount')).ok as number) >= window, 10_000, 'the byte window to fill');
    // One item used earns no credit yet (less than creditBytes): the producer stays stopped.
    for (let i = 0; i < 3; i++) expect((await call('yieldedCount')).ok as number).toBeLessThanOrEqual(window + 1);
    await exec({ op: 'release', of: h.id });
    await waitFor(async () => (await call('finallyCount')).ok === before + 1, 10_000, 'the held stream to be cancelled');
  });

  it('streams large items to the end: credit comes back by bytes, not only every creditBatch items', async () => {
    // 48 MiB (out of band) is three byte windows in 48 items, far fewer than creditBatch.
    const r = await exec({ op: 'count', name: 'conf', method: 'chunks', args: [48, 1 << 20] });
    expect(r.ok).toBe(48);
  });

  it('fails a call in flight at once when the callee node dies', async () => {
    const victim = await startNode(['--seeds', server.addr, '--name', `victim-${who}`]);
    await waitFor(async () => (await exec({ op: 'call', name: `victim-${who}`, method: 'echo', args: [1] })).ok === 1, 15_000, 'the victim to resolve');
    const pending = exec({ op: 'call', name: `victim-${who}`, method: 'hang', args: [] });
    // Sent and waiting: the victim counts it only by never answering, so wait for the wire.
    await waitFor(async () => (await exec({ op: 'call', name: `victim-${who}`, method: 'echo', args: [2] })).ok === 2, 5000, 'a later call to pass');
    victim.proc.child.kill('SIGKILL');
    const r = await pending;
    // As its connection closed (through a gateway: the gateway's to the victim), not at the
    // 60 s call timeout ('timeout') nor when failure detection declared the node dead ('NodeDown').
    expect(r.err?.category).toBe('runtime');
    expect(r.err?.kind).toBe('ConnectionFailed');
  });
});
