import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import * as pul from '../dist/index.js';

// These tests leave calls hanging on purpose: shutdown need not wait for them.
beforeEach(async () => { await pul.init({ defaultTimeoutMs: 200, shutdownTimeoutMs: 50 }); });
afterEach(async () => { await pul.shutdown(); });

class Thrower {
  type() { throw new TypeError('wrong type'); }
  range() { throw new RangeError('too big'); }
  timeout() { const e = new Error('upstream slow'); e.name = 'TimeoutError'; throw e; }
  plain() { throw new Error('disk on fire'); }
  str() { throw 'just a string'; }
  unsupported() { throw new pul.PulsingUnsupportedError('bulk export'); }
  async asyncType() { await null; throw new TypeError('async wrong'); }
  hang() { return new Promise(() => {}); }
  ok() { return 'ok'; }
}
const R = pul.remote(Thrower, { className: 'errors/Thrower' });

describe('errors', () => {
  it('classes form the documented hierarchy with their fields', () => {
    const b = new pul.PulsingBusinessError(400, 'bad', { f: 1 });
    expect(b).toBeInstanceOf(pul.PulsingActorError);
    expect(b).toBeInstanceOf(pul.PulsingError);
    expect(b).toBeInstanceOf(Error);
    expect(b.name).toBe('PulsingBusinessError');
    const s = new pul.PulsingSystemError('boom');
    expect(s.recoverable).toBe(true);
    const t = new pul.PulsingTimeoutError('fetch', 5000);
    expect([t.operation, t.durationMs]).toEqual(['fetch', 5000]);
    const r = new pul.PulsingRuntimeError('ActorNotFound', 'x');
    expect(r.kind).toBe('ActorNotFound');
    expect(r).not.toBeInstanceOf(pul.PulsingActorError);
    expect(new pul.PulsingActorError('m', 'actors/a').actorName).toBe('actors/a');
  });

  it('classifies errors thrown inside actors; the actor keeps serving', async () => {
    const t = await R.spawn({ name: 'thrower' });
    await expect(t.type()).rejects.toMatchObject({ constructor: pul.PulsingBusinessError, code: 400, message: 'wrong type' });
    await expect(t.range()).rejects.toMatchObject({ constructor: pul.PulsingBusinessError, code: 400 });
    await expect(t.asyncType()).rejects.toMatchObject({ constructor: pul.PulsingBusinessError, message: 'async wrong' });
    await expect(t.timeout()).rejects.toBeInstanceOf(pul.PulsingTimeoutError);
    await expect(t.plain()).rejects.toMatchObject({ constructor: pul.PulsingSystemError, recoverable: true, error: 'disk on fire' });
    await expect(t.str()).rejects.toMatchObject({ constructor: pul.PulsingSystemError, error: 'just a string' });
    await expect(t.unsupported()).rejects.toMatchObject({ constructor: pul.PulsingUnsupportedError, operation: 'bulk export', actorName: 'actors/thrower' });
    expect(await t.ok()).toBe('ok');
  });

  it('calls time out at defaultTimeoutMs with PulsingTimeoutError naming the call', async () => {
    const t = await R.spawn({ name: 'slowpoke' });
    const e = (await t.hang().catch((x) => x)) as pul.PulsingTimeoutError;
    expect(e).toBeInstanceOf(pul.PulsingTimeoutError);
    expect(e.durationMs).toBe(200);
    expect(e.operation).toBe('actors/slowpoke.hang');
  });

  it('ask and tell take a signal; bad call options are clear errors', async () => {
    const ref = await pul.getSystem().spawn({ receive: () => new Promise(() => {}) });
    const ac = new AbortController();
    const p = ref.ask('x', { signal: ac.signal });
    ac.abort(new Error('gave up'));
    await expect(p).rejects.toThrow('gave up');
    expect(() => ref.ask('x', { timeoutMs: 0 })).toThrow(/timeoutMs must be a positive number/);
    expect(() => ref.tell('x', { signal: {} as AbortSignal })).toThrow(/AbortSignal/);
  });

  it('an error thrown in a tell is reported as a warning, not swallowed', async () => {
    const warnings: string[] = [];
    const onWarn = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarn);
    try {
      const ref = await pul.getSystem().spawn({ receive() { throw new Error('tell failed'); } }, { name: 'teller' });
      await ref.tell('x');
      const { waitFor } = await import('./helpers');
      await waitFor(() => warnings.some((w) => w.includes('tell failed')), 2000, 'warning');
      expect(warnings.find((w) => w.includes('tell failed'))).toContain('actors/teller.receive');
    } finally {
      process.off('warning', onWarn);
    }
  });
});
