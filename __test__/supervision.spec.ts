import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import * as pul from '../dist/index.js';
import { waitFor } from './helpers';

beforeEach(async () => { await pul.init(); });
afterEach(async () => { await pul.shutdown(); });

let created = 0;
class Worker {
  state = 0;
  constructor() { created++; }
  bump() { return ++this.state; }
  fatal() { throw new pul.PulsingSystemError('corrupted', false); }
  business() { throw new pul.PulsingBusinessError(422, 'bad order', { field: 'qty' }); }
  plain() { throw new Error('oops'); }
  async asyncFatal() { await null; throw new pul.PulsingSystemError('async corrupted', false); }
}

describe('supervision', () => {
  it('on-failure restarts a fresh instance under the same name, then stays stopped', async () => {
    created = 0;
    const R = pul.remote(Worker, { className: 'sup/W1', restartPolicy: 'on-failure', maxRestarts: 2, minBackoffMs: 1, maxBackoffMs: 5 });
    const w = await R.spawn({ name: 'w1' });
    expect(await w.bump()).toBe(1);
    expect(await w.bump()).toBe(2);
    await expect(w.fatal()).rejects.toMatchObject({ recoverable: false });
    // Calls made during the backoff wait for the new instance, whose state is fresh.
    expect(await w.bump()).toBe(1);
    expect(created).toBe(2);
    await expect(w.asyncFatal()).rejects.toBeInstanceOf(pul.PulsingSystemError);
    expect(await (await R.resolve('w1')).bump()).toBe(1);
    expect(created).toBe(3);
    await expect(w.fatal()).rejects.toBeInstanceOf(pul.PulsingSystemError);
    const err = await w.bump().catch((e) => e);
    expect(err).toBeInstanceOf(pul.PulsingRuntimeError);
    expect(err.kind).toBe('Stopped');
    expect(err.message).toMatch(/after 2 restart/);
    expect(created).toBe(3);
    await expect(pul.resolve('w1')).rejects.toMatchObject({ kind: 'ActorNotFound' });
  });

  it('business and ordinary errors never restart; state is kept', async () => {
    created = 0;
    const R = pul.remote(Worker, { className: 'sup/W2', restartPolicy: 'always', maxRestarts: 5, minBackoffMs: 1 });
    const w = await R.spawn({ name: 'w2' });
    await w.bump();
    const b = await w.business().catch((e) => e);
    expect(b).toBeInstanceOf(pul.PulsingBusinessError);
    expect(b).toMatchObject({ code: 422, message: 'bad order', details: { field: 'qty' }, actorName: 'actors/w2' });
    await expect(w.plain()).rejects.toMatchObject({ recoverable: true, error: 'oops' });
    expect(await w.bump()).toBe(2);
    expect(created).toBe(1);
  });

  it('never: a fatal error stops the actor for good', async () => {
    const R = pul.remote(Worker, { className: 'sup/W3' });
    const w = await R.spawn({ name: 'w3' });
    await expect(w.fatal()).rejects.toBeInstanceOf(pul.PulsingSystemError);
    await expect(w.bump()).rejects.toMatchObject({ kind: 'Stopped' });
  });

  it('an onStart failure is a crash: restarted with backoff, or spawn fails without a policy', async () => {
    let attempts = 0;
    class Flaky { onStart() { attempts++; if (attempts < 3) throw new Error(`not ready ${attempts}`); } ok() { return attempts; } }
    const R = pul.remote(Flaky, { restartPolicy: 'on-failure', maxRestarts: 5, minBackoffMs: 1, maxBackoffMs: 4 });
    const f = await R.spawn({ name: 'flaky' });
    expect(await f.ok()).toBe(3);
    class Broken { onStart() { throw new Error('no database'); } }
    await expect(pul.remote(Broken).spawn({ name: 'broken' })).rejects.toThrow('no database');
    await expect(pul.resolve('broken')).rejects.toMatchObject({ kind: 'ActorNotFound' });
  });

  it('backoff grows between restarts', async () => {
    const starts: number[] = [];
    class Crashy { onStart() { starts.push(Date.now()); } crash() { throw new pul.PulsingSystemError('x', false); } }
    const R = pul.remote(Crashy, { restartPolicy: 'on-failure', maxRestarts: 3, minBackoffMs: 20, maxBackoffMs: 1000 });
    const c = await R.spawn({ name: 'crashy' });
    for (let i = 0; i < 3; i++) {
      const n = starts.length;
      await c.crash().catch(() => {});
      await waitFor(() => starts.length > n, 5000, 'restart');
    }
    const gaps = starts.slice(1).map((t, i) => t - starts[i]);
    expect(gaps[0]).toBeGreaterThanOrEqual(18);
    expect(gaps[1]).toBeGreaterThanOrEqual(38);
    expect(gaps[2]).toBeGreaterThanOrEqual(78);
  });

  it('restart needs a name and a factory; bad options are Config errors', async () => {
    const sys = pul.getSystem();
    await expect(pul.remote(Worker, { className: 'sup/W4', restartPolicy: 'on-failure' }).spawn()).rejects.toThrow(/named/);
    await expect(sys.spawn({ receive: () => 1 }, { name: 'i', restartPolicy: 'on-failure' })).rejects.toThrow(/factory/);
    expect(() => pul.remote(Worker, { restartPolicy: 'sometimes' as 'never' })).toThrow(/restartPolicy/);
    expect(() => pul.remote(Worker, { maxRestarts: -1 })).toThrow(/maxRestarts/);
  });
});
