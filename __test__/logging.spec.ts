import { describe, it, expect } from 'vitest';
import { runNode } from './helpers';

// PULSING_LOG is read once, when the addon loads: each case runs in its own process.
const script = `
  const pul = require('./dist/index.js');
  (async () => {
    const a = await pul.actorSystem({ addr: '127.0.0.1:0' });
    const b = await pul.actorSystem({ addr: '127.0.0.1:0', seeds: [a.addr] });
    while ((await a.members()).length < 2) await new Promise((r) => setTimeout(r, 5));
    console.log(JSON.stringify({ a: a.nodeId, b: b.nodeId }));
    await b.shutdown(); await a.shutdown();
  })();`;

describe('PULSING_LOG', () => {
  it('takes per-module filter directives and shows node ids as the API does', async () => {
    const r = await runNode(['-e', script], { env: { PULSING_LOG: 'warn,pulsing_actor::cluster=debug' } }).done;
    expect(r.code).toBe(0);
    const ids = JSON.parse(r.stdout) as { a: string; b: string };
    // Debug lines from the cluster module, with the module path and the node's hex id.
    expect(r.stderr).toMatch(/DEBUG pulsing_actor::cluster::node::\w+: /);
    expect(r.stderr).toContain(ids.b);
  });

  it('is quiet below warnings by default', async () => {
    const r = await runNode(['-e', script], { env: { PULSING_LOG: '' } }).done;
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/DEBUG|INFO/);
  });

  it('warns about an invalid value and keeps the default', async () => {
    const r = await runNode(['-e', script], { env: { PULSING_LOG: 'pulsing_actor=loud' } }).done;
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('PULSING_LOG="pulsing_actor=loud" is not a valid filter');
    expect(r.stderr).not.toMatch(/DEBUG/);
  });
});
