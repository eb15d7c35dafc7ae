// The live dashboard at `/`, in headless Chromium (Debian's `chromium`; `.ci/run` installs
// it): a 3-node cluster, every member and a named actor shown with its figures, a node
// killed and then shown dead. The screenshot is saved to `test-results/dashboard.png`.
import { describe, it, expect, afterAll, beforeAll } from 'vitest';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import * as pul from '../dist/index.js';
import { root, startNode, waitFor, type Child } from './helpers';

const CHROMIUM = process.env.PULSING_CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const fast = { probeIntervalMs: 100, probeTimeoutMs: 60, suspicionTimeoutMs: 500, syncIntervalMs: 100 };

class Pinger {
  n = 0;
  ping(): number { return ++this.n; }
}
const RPinger = pul.remote(Pinger, { className: 'dashboard/Pinger' });

// Without a browser the suite cannot run; CI always has one (a missing one fails there).
const suite = CHROMIUM !== undefined || process.env.CI ? describe : describe.skip;

suite('the dashboard in headless Chromium', () => {
  let a: Child;
  let b: Child;
  let sys: pul.ActorSystem;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    if (CHROMIUM === undefined) throw new Error('no Chromium: install Debian\'s chromium or set PULSING_CHROMIUM');
    a = await startNode(['--name', 'dash-a']);
    b = await startNode(['--seeds', a.addr, '--name', 'dash-b']);
    sys = await pul.init({ addr: '127.0.0.1:0', seeds: [a.addr], membership: fast });
    await waitFor(async () => (await sys.members()).length === 3, 15_000, '3 members');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await pul.shutdown();
  });

  /** The text of every row of a table of the page. */
  const rows = (id: string) => page.$$eval(`#${id} tr`, (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent ?? '')));

  it('shows every member and a named actor with its rate, then a killed node as dead', async () => {
    const p = await RPinger.spawn({ name: 'dash-pinger' });
    await page.goto(`http://${sys.addr}/`);
    await waitFor(async () => {
      const members = await rows('members');
      return [a, b].every((c) => members.some((r) => r[0] === c.nodeId && r[2] === 'alive'))
        && members.some((r) => r[0] === sys.nodeId && r[2] === 'alive');
    }, 10_000, 'the 3 members shown alive');

    // Calls while the page watches: the actor's row shows them, at a rate above zero.
    let calls = true;
    const calling = (async () => {
      while (calls) {
        for (let i = 0; i < 20; i++) await p.ping();
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    try {
      await waitFor(async () => {
        const r = (await rows('actors')).find((x) => x[0] === 'actors/dash-pinger');
        return r !== undefined && r[1] === sys.nodeId && Number(r[5]) > 0 && Number(r[4]) > 0;
      }, 10_000, 'dash-pinger shown with its count and rate');
    } finally {
      calls = false;
      await calling;
    }
    const actors = await rows('actors');
    expect(actors.some((r) => r[0] === 'actors/dash-b' && r[1] === b.nodeId)).toBe(true);

    b.proc.child.kill('SIGKILL');
    await waitFor(async () => (await rows('members')).some((r) => r[0] === b.nodeId && r[2] === 'dead'), 15_000, 'the killed node shown dead');
    expect((await rows('members')).find((r) => r[0] === a.nodeId)?.[2]).toBe('alive');
    const dir = join(root, 'test-results');
    mkdirSync(dir, { recursive: true });
    await page.screenshot({ path: join(dir, 'dashboard.png'), fullPage: true });
    expect(existsSync(join(dir, 'dashboard.png'))).toBe(true);
  }, 60_000);

  it('shows each queue bucket with its owner, records and group lag, and each topic', async () => {
    const w = await sys.queue.write('dash-q', { numBuckets: 2, batchSize: 1 });
    await w.put([{ id: 'a', n: 1 }, { id: 'b', n: 2 }, { id: 'c', n: 3 }]);
    await w.flush();
    const g = await sys.queue.read('dash-q', { group: 'dash-g' });
    const got = await g.get({ limit: 10 });
    expect(got).toHaveLength(3);
    await g.ack(got.filter((r) => r.offset === 0).slice(0, 1)); // its bucket's committed offset moves to 1
    const tr = await pul.topic.read('dash-t');
    await tr.start();
    await page.goto(`http://${sys.addr}/`);
    await waitFor(async () => {
      const q = (await rows('queues')).filter((r) => r[0] === 'dash-q');
      return q.length === 2 && q.every((r) => r[2] !== '–') && q.reduce((n, r) => n + Number(r[4]), 0) === 3 && q.some((r) => /dash-g \(\d+\)/.test(r[6]));
    }, 10_000, 'both buckets of dash-q with their owner, records and the group');
    const lag = (await rows('queues')).filter((r) => r[0] === 'dash-q').reduce((n, r) => n + Number(/dash-g \((\d+)\)/.exec(r[6])?.[1] ?? 0), 0);
    expect(lag).toBe(2); // 3 records, 1 acknowledged
    await waitFor(async () => (await rows('topics')).some((r) => r[0] === 'dash-t' && r[1] === sys.nodeId && r[2] === '1'), 10_000, 'the topic and its subscriber');
    await tr.stop();
  }, 60_000);
});
