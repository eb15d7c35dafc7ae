// `npx pulsing` as a child process against a live cluster: inspect (an HTTP observer that
// never joins), watch, actor (host a class from a module), usage errors and exit codes.
import { describe, it, expect, beforeAll } from 'vitest';
import { runNode, startNode, waitFor, type Child } from './helpers';

const cli = (args: string[]) => runNode(['dist/cli.js', ...args]);
const run = async (args: string[]) => cli(args).done;

describe('the pulsing CLI', () => {
  let a: Child;
  let b: Child;
  beforeAll(async () => {
    a = await startNode(['--name', 'cli-a']);
    b = await startNode(['--seeds', a.addr, '--name', 'cli-b']);
    await waitFor(async () => ((await (await fetch(`http://${a.addr}/health`)).json()) as { members: number }).members === 2, 15_000, '2 members');
  }, 60_000);

  it('prints help, and refuses bad usage with exit code 2 on stderr', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('inspect cluster');
    const sub = await run(['inspect', '--help']);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toContain('--seeds');
    expect((await run(['actor', '--help'])).stdout).toContain('<module>#<Export>');
    for (const args of [[], ['frobnicate'], ['inspect', 'cluster'], ['inspect', 'everything', '--seeds', a.addr], ['inspect', 'cluster', '--seeds', a.addr, '--bogus'], ['actor', 'no-hash', '--name', 'x']]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(2);
    }
    const unknown = await run(['frobnicate']);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    const down = await run(['inspect', 'cluster', '--seeds', '127.0.0.1:1', '--timeout-ms', '500']);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('127.0.0.1:1');
  });

  it('inspects cluster, actors and metrics as JSON, asking the first seed that answers', async () => {
    const cluster = await run(['inspect', 'cluster', '--seeds', `127.0.0.1:1,${a.addr}`, '--json']);
    expect(cluster.code, cluster.stderr).toBe(0);
    const members = JSON.parse(cluster.stdout) as { nodeId: string; status: string }[];
    expect(members.map((m) => m.nodeId).sort()).toEqual([a.nodeId, b.nodeId].sort());
    expect(members.every((m) => m.status === 'alive')).toBe(true);
    const table = await run(['inspect', 'cluster', '--seeds', b.addr]);
    expect(table.stdout).toMatch(/^NODE\s+ADDRESS\s+STATUS/);
    expect(table.stdout).toContain(a.nodeId);
    const actors = JSON.parse((await run(['inspect', 'actors', '--seeds', b.addr, '--json'])).stdout) as { name: string; instances: { nodeId: string }[] }[];
    expect(actors.find((x) => x.name === 'actors/cli-a')?.instances[0].nodeId).toBe(a.nodeId);
    const metrics = JSON.parse((await run(['inspect', 'metrics', '--seeds', a.addr, '--json'])).stdout) as { name: string; labels: Record<string, string>; value: number }[];
    expect(metrics.find((m) => m.name === 'pulsing_members' && m.labels.status === 'alive')?.value).toBe(2);
    // The observer never joined: still two members.
    expect(JSON.parse((await run(['inspect', 'cluster', '--seeds', a.addr, '--json'])).stdout)).toHaveLength(2);
  });

  it('inspects queues and topics: each bucket with its owner, records and groups\' lag', async () => {
    const { Connect } = await import('../dist/connect.js');
    const conn = await Connect.to(a.addr);
    try {
      const w = await conn.queue.write('cli-q', { numBuckets: 2, batchSize: 1 });
      await w.put([{ id: 'x' }, { id: 'y' }, { id: 'z' }]);
      await w.flush();
      const g = await conn.queue.read('cli-q', { group: 'cli-g' });
      expect(await g.get({ limit: 10 })).toHaveLength(3);
    } finally {
      await conn.close();
    }
    const json = await run(['inspect', 'queues', '--seeds', b.addr, '--json']);
    expect(json.code, json.stderr).toBe(0);
    const q = JSON.parse(json.stdout) as { queues: { name: string; buckets: { owner: string; records: number; groups: { group: string; lag: number }[] }[] }[] };
    const cq = q.queues.find((x) => x.name === 'cli-q')!;
    expect(cq.buckets.reduce((n, bk) => n + bk.records, 0)).toBe(3);
    for (const bk of cq.buckets) expect([a.nodeId, b.nodeId]).toContain(bk.owner);
    const text = await run(['inspect', 'queues', '--seeds', a.addr]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^QUEUE\s+BUCKET\s+OWNER\s+REPLICAS\s+RECORDS\s+BYTES\s+GROUPS \(LAG\)/);
    expect(text.stdout).toMatch(/cli-q\s+0\s+[0-9a-f]{16}/);
    expect(text.stdout).toMatch(/cli-g \(\d+\)/);
    expect(text.stdout).toContain('TOPIC');
  });

  it('watch redraws members and actors until interrupted', async () => {
    const w = cli(['inspect', 'watch', '--seeds', a.addr, '--interval-ms', '100']);
    await waitFor(() => (w.stdout().match(/members alive/g) ?? []).length >= 2, 10_000, 'two screens');
    expect(w.stdout()).toContain('2/2 members alive');
    expect(w.stdout()).toContain('actors/cli-b');
    w.child.kill('SIGINT');
    expect(await w.done).toMatchObject({ code: 0, signal: null, stderr: '' }); // Ctrl-C ends a watch cleanly
  });

  it('works with a secured cluster: the passphrase or its token opens it, nothing else does', async () => {
    const secret = 'cli secret';
    const s = await startNode(['--name', 'cli-secured', '--passphrase', secret]);
    const none = await run(['inspect', 'cluster', '--seeds', s.addr, '--json']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('401 unauthorized (pass --passphrase or --token)');
    const wrong = await run(['inspect', 'cluster', '--seeds', s.addr, '--json', '--passphrase', 'not it']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('401');
    const withPass = await run(['inspect', 'cluster', '--seeds', s.addr, '--json', '--passphrase', secret]);
    expect(withPass.code, withPass.stderr).toBe(0);
    expect((JSON.parse(withPass.stdout) as { nodeId: string }[]).map((m) => m.nodeId)).toEqual([s.nodeId]);
    const { httpToken } = await import('../dist/index.js');
    const withToken = await run(['inspect', 'actors', '--seeds', s.addr, '--json', '--token', httpToken(secret)]);
    expect(withToken.code, withToken.stderr).toBe(0);
    expect((JSON.parse(withToken.stdout) as { name: string }[]).map((x) => x.name)).toContain('actors/cli-secured');

    // `pulsing actor` joins it with the passphrase (mutual TLS), and is called through it.
    const host = cli(['actor', '__test__/fixtures/greeter.mjs#Greeter', '--seeds', s.addr, '--name', 'sgreeter', '--passphrase', secret]);
    await waitFor(() => host.stdout().includes('\n') || host.child.exitCode !== null, 15_000, 'the actor node');
    const auth = { authorization: `Bearer ${httpToken(secret)}` };
    const hello = () => fetch(`http://${s.addr}/v1/actors/sgreeter/hello`, { method: 'POST', body: '{"args":["tls"]}', headers: auth });
    await waitFor(async () => (await hello()).status === 200, 10_000, 'sgreeter known on the secured node');
    expect(await (await hello()).json()).toEqual({ result: `hello tls from ${host.child.pid}` });
    // Without the passphrase, the same command joins nothing: it stays a cluster of one.
    const outsider = cli(['actor', '__test__/fixtures/greeter.mjs#Greeter', '--seeds', s.addr, '--name', 'nogreeter']);
    await waitFor(() => outsider.stdout().includes('\n') || outsider.child.exitCode !== null, 15_000, 'the outsider node');
    await waitFor(() => /TLS|handshake|closing connection/.test(s.proc.stderr()), 10_000, 'the secured node to refuse it');
    expect((JSON.parse((await run(['inspect', 'cluster', '--seeds', s.addr, '--json', '--passphrase', secret])).stdout) as unknown[]).length).toBe(2);
    host.child.kill('SIGTERM');
    outsider.child.kill('SIGTERM');
    expect((await host.done).code).toBe(0);
  }, 60_000);

  it('hosts an actor class from a module as a node of the cluster', async () => {
    const host = cli(['actor', '__test__/fixtures/greeter.mjs#Greeter', '--seeds', a.addr, '--name', 'greeter']);
    await waitFor(() => host.stdout().includes('\n') || host.child.exitCode !== null, 15_000, 'the actor node');
    const started = JSON.parse(host.stdout().split('\n')[0]) as { addr: string; nodeId: string; name: string };
    expect(started.name).toBe('greeter');
    // Called from another node of the cluster, through its JSON gateway.
    await waitFor(async () => (await fetch(`http://${a.addr}/v1/actors/greeter/hello`, { method: 'POST', body: '{"args":["cli"]}' })).status === 200, 10_000, 'greeter known on a');
    const r = await (await fetch(`http://${a.addr}/v1/actors/greeter/hello`, { method: 'POST', body: '{"args":["cli"]}' })).json();
    expect(r).toEqual({ result: `hello cli from ${host.child.pid}` });
    host.child.kill('SIGTERM');
    expect((await host.done).code).toBe(0);
    const missing = await run(['actor', '__test__/fixtures/greeter.mjs#Nope', '--name', 'x']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no class export Nope');
  }, 60_000);
});
