import { describe, it, expect, afterEach } from 'vitest';
import * as pul from '../dist/index.js';
import { runNode } from './helpers';
const { encode, decode, PulsingRuntimeError } = pul;

afterEach(async () => { await pul.shutdown(); });

const sample = () => ({
  map: new Map<unknown, unknown>([[1, 'one'], ['k', { nested: new Set([1, 2]) }]]),
  set: new Set(['a', 'b']),
  date: new Date(1_700_000_000_000),
  big: 2n ** 70n,
  small: 5n,
  undef: undefined,
  arr: [1, undefined, null, 'x'],
  bytes: Buffer.from('hello'),
  f32: new Float32Array([1.5, -2]),
  u8: new Uint8Array([1, 2, 3]),
  err: new RangeError('out of range'),
  num: 2 ** 40,
  obj: { a: { b: [true, false] } },
});

describe('codec', () => {
  it('round-trips Map, Set, Date, BigInt, undefined, Error and typed arrays', () => {
    const v = sample();
    const out = pul.decode(pul.encode(v)) as ReturnType<typeof sample>;
    expect(out.map).toBeInstanceOf(Map);
    expect(out.map.get(1)).toBe('one');
    expect((out.map.get('k') as { nested: Set<number> }).nested).toEqual(new Set([1, 2]));
    expect(out.set).toEqual(new Set(['a', 'b']));
    expect(out.date).toEqual(v.date);
    expect(out.big).toBe(2n ** 70n);
    expect(out.small).toBe(5n);
    expect('undef' in out && out.undef === undefined).toBe(true);
    expect(out.arr).toEqual([1, undefined, null, 'x']);
    expect(Buffer.isBuffer(out.bytes) && out.bytes.toString()).toBe('hello');
    expect(out.f32).toBeInstanceOf(Float32Array);
    expect([...out.f32]).toEqual([1.5, -2]);
    expect(out.u8).toBeInstanceOf(Uint8Array);
    expect(out.err).toBeInstanceOf(RangeError);
    expect(out.err.message).toBe('out of range');
    expect(out.num).toBe(2 ** 40);
    expect(out.obj).toEqual({ a: { b: [true, false] } });
    expect(out.obj).not.toBeInstanceOf(Map); // plain objects stay plain objects
  });

  it('refuses functions and symbols, naming the path', () => {
    expect(() => pul.encode({ a: { b: [1, () => 1] } })).toThrow(/function at a\.b\[1\]/);
    expect(() => pul.encode({ s: Symbol('x') })).toThrow(/symbol at s/);
    expect(() => pul.encode(() => 1)).toThrow(/function at the value itself/);
    expect(() => pul.encode({ m: new Map([['k', { deep: [0, () => 1] }]]) })).toThrow(/function at m\.get\(0\)\.deep\[1\]/);
    expect(() => pul.encode([new Set([1, Symbol('y')])])).toThrow(/symbol at \[0\]<item 1>/);
    const cyc: Record<string, unknown> = {};
    cyc.self = cyc;
    expect(() => pul.encode(cyc)).toThrow(/cyclic value at self/);
    expect(() => pul.encode({ f() {} })).toThrow(expect.objectContaining({ kind: 'Serialization', message: expect.stringMatching(/function at f/) }));
  });

  it('class instances travel as their data, without their prototype', () => {
    class P { constructor(public x = 1) {} m() { return 1; } }
    const out = pul.decode(pul.encode(new P(3))) as Record<string, unknown>;
    expect(out).toEqual({ x: 3 });
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
  });

  it('local calls hand values over by reference; strictLocal sends them through the codec', async () => {
    class Keeper { seen: unknown; keep(v: unknown) { this.seen = v; return v; } same(v: unknown) { return v === this.seen; } }
    const R = pul.remote(Keeper, { className: 'codec/Keeper' });
    const obj = { n: 1 };

    const fast = await pul.actorSystem();
    const k1 = await R.spawn({ system: fast });
    expect(await k1.keep(obj)).toBe(obj);
    await fast.shutdown();

    const strict = await pul.actorSystem({ strictLocal: true });
    const k2 = await R.spawn({ system: strict });
    const back = await k2.keep(obj);
    expect(back).toEqual(obj);
    expect(back).not.toBe(obj);
    expect(await k2.same(obj)).toBe(false);
    const full = sample();
    const echoed = (await k2.keep(full)) as ReturnType<typeof sample>;
    expect(echoed.map.get(1)).toBe('one');
    expect(echoed.big).toBe(2n ** 70n);
    await expect(k2.keep({ cb: () => 1 })).rejects.toMatchObject({ kind: 'Serialization', message: expect.stringContaining('[0].cb') });
    expect(await k2.keep(7)).toBe(7); // still serving after bad input
    await strict.shutdown();
  });

  it('strictLocal keeps error classes and fields, and streams items through the codec', async () => {
    class Thrower {
      biz() { throw new pul.PulsingBusinessError(409, 'conflict', { id: 7 }); }
      *items() { yield new Map([[1, 2]]); yield 3n; }
    }
    const sys = await pul.actorSystem({ strictLocal: true });
    const t = await pul.remote(Thrower, { className: 'codec/Thrower' }).spawn({ system: sys, name: 't' });
    const e = await t.biz().catch((x) => x);
    expect(e).toBeInstanceOf(pul.PulsingBusinessError);
    expect(e).toMatchObject({ code: 409, message: 'conflict', details: { id: 7 }, actorName: 'actors/t' });
    const got: unknown[] = [];
    for await (const x of t.items()) got.push(x);
    expect(got[0]).toEqual(new Map([[1, 2]]));
    expect(got[1]).toBe(3n);
    await sys.shutdown();
  });
});

describe('out-of-band binary values (zero copy)', () => {
  it('large binary values leave the body; [pul.zerocopy]() descriptors travel as buffers', async () => {
    const { encodeParts, decodeParts } = await import('../dist/codec.js');
    const big = new Float64Array(20_000).fill(0.25);
    const small = Buffer.from('tiny');
    const parts = encodeParts({ big, small });
    expect(parts.attachments.length).toBe(1);
    expect(parts.attachments[0].buffer).toBe(big.buffer); // a view of the caller's memory
    expect(parts.body.length).toBeLessThan(100);
    const back = decodeParts(parts.body, parts.attachments) as { big: Float64Array; small: Buffer };
    expect(back.big).toBeInstanceOf(Float64Array);
    expect(back.big.buffer).toBe(big.buffer); // decoded as a view, not a copy
    expect(back.small.toString()).toBe('tiny');

    class Tensor {
      constructor(readonly data: Float32Array, readonly shape: number[]) {}
      [pul.zerocopy]() { return { buffers: [this.data], dtype: 'float32', shape: this.shape, strides: [4 * this.shape[1], 4] }; }
    }
    const t = new Tensor(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    const tp = encodeParts(t);
    expect(tp.attachments.length).toBe(1); // small, but a descriptor's buffers always go out of band
    expect(decodeParts(tp.body, tp.attachments)).toEqual({ dtype: 'float32', shape: [2, 3], strides: [12, 4], buffers: [new Float32Array([1, 2, 3, 4, 5, 6])] });
    expect(() => decodeParts(parts.body, [])).toThrow(/attachment 0/);
  });
});

describe('messages inside a larger buffer (an event batch)', () => {
  it('decodes exactly the value in its range, and the budget holds inside the range', async () => {
    const { encodeParts, decodeParts } = await import('../dist/codec.js');
    const a = encodeParts(['bump', [1, 'x']]).body;
    const b = encodeParts({ k: [true, null] }).body;
    const batch = Buffer.concat([Buffer.from([0xc1]), a, b, Buffer.from([0xc1])]); // 0xc1: never valid
    expect(decodeParts(batch, undefined, 1, 1 + a.length)).toEqual(['bump', [1, 'x']]);
    expect(decodeParts(batch, undefined, 1 + a.length, 1 + a.length + b.length)).toEqual({ k: [true, null] });
    // A range that cuts a value, or holds two, is refused as it would be on its own.
    expect(() => decodeParts(batch, undefined, 1, a.length)).toThrow(/Serialization|ends inside/);
    expect(() => decodeParts(batch, undefined, 1, 1 + a.length + b.length)).toThrow(/bytes after the value/);
    // A container announcing more values than its range holds is a lie, whatever follows it.
    const lie = Buffer.concat([Buffer.from([0x9f]), Buffer.alloc(64)]);
    expect(() => decodeParts(lie, undefined, 0, 3)).toThrow(/announces 15 values/);
  });

  it('a call whose arguments are primitives encodes as the walked path does, with no attachments', async () => {
    const { encodeParts, encode } = await import('../dist/codec.js');
    for (const v of [['bump', []], ['echo', ['x', 1, true, null, undefined, 2n ** 70n]], 'plain', 7]) {
      const parts = encodeParts(v);
      expect(parts.attachments).toEqual([]);
      expect(parts.body.equals(encode(v))).toBe(true);
    }
    // Not primitive: still walked (a function is refused, naming where it was).
    expect(() => encodeParts(['f', [() => 1]])).toThrow(/function at \[1\]\[0\]/);
    expect(() => encodeParts(['s', [Symbol('x')]])).toThrow(/symbol at \[1\]\[0\]/);
  });
});

describe('PULSING_ZEROCOPY* environment variables', () => {
  const probe = `
    const { encodeParts } = require('./dist/codec.js');
    const n = (v) => encodeParts(v).attachments.length;
    console.log(JSON.stringify({ small: n(Buffer.alloc(100)), big: n(Buffer.alloc(70000)) }));`;
  const run = async (env: Record<string, string>) => runNode(['-e', probe], { env }).done;

  it('auto uses the threshold; off sends nothing out of band; force sends everything', async () => {
    expect(JSON.parse((await run({ PULSING_ZEROCOPY: 'auto' })).stdout)).toEqual({ small: 0, big: 1 });
    expect(JSON.parse((await run({ PULSING_ZEROCOPY: 'off' })).stdout)).toEqual({ small: 0, big: 0 });
    expect(JSON.parse((await run({ PULSING_ZEROCOPY: 'force' })).stdout)).toEqual({ small: 1, big: 1 });
    expect(JSON.parse((await run({ PULSING_ZEROCOPY_STREAM_THRESHOLD: '50' })).stdout)).toEqual({ small: 1, big: 1 });
  });

  it('a bad value is a Config error naming the variable', async () => {
    const r = await run({ PULSING_ZEROCOPY: 'sometimes' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/PULSING_ZEROCOPY must be auto, off or force/);
    const c = await run({ PULSING_ZEROCOPY_CHUNK_BYTES: '12' });
    expect(c.stderr).toMatch(/PULSING_ZEROCOPY_CHUNK_BYTES/);
  });
});

describe('decoding budget', () => {
  it('refuses bodies that would cost far more to decode than to send, with Serialization', () => {
    const maps = Buffer.alloc(5 + 16 * 1024 * 1024, 0x80);
    maps[0] = 0xdd;
    maps.writeUInt32BE(16 * 1024 * 1024, 1);
    expect(() => decode(maps)).toThrow(/more than 1000000 maps and arrays/);
    // Refused at the budget, before anything past it is read (let alone built): what
    // follows the 1,000,000th map is not even MessagePack.
    const stops = Buffer.alloc(5 + 2_000_000, 0xc1);
    stops[0] = 0xdd;
    stops.writeUInt32BE(2_000_000, 1);
    stops.fill(0x80, 5, 5 + 1_000_000);
    expect(() => decode(stops)).toThrow(/more than 1000000 maps and arrays/);
    // Under the budget, the same scan does reach such bytes.
    const under = Buffer.alloc(5 + 1_000_001, 0xc1);
    under[0] = 0xdd;
    under.writeUInt32BE(1_000_001, 1);
    under.fill(0x80, 5, 5 + 999_998);
    expect(() => decode(under)).toThrow(/invalid byte 0xc1/);
    expect(() => decode(Buffer.alloc(10_000, 0x91))).toThrow(/nesting deeper than 512/);
    expect(() => decode(Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]))).toThrow(/announces 4294967295 values/);
    expect(() => decode(Buffer.from([0xd4, 0x72, 0x00, 0xc0]))).toThrow(/unsupported extension type 114/);
  });

  it('never throws anything but a Serialization error on random or mutated bytes', () => {
    let x = 0x9e3779b9;
    const rnd = () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) / 2 ** 32; };
    const samples = [encode({ a: [1, 'x', new Map([[1, 2]]), new Set([3]), new Date(0), 10n ** 20n, undefined, new Uint16Array([1])] }), encode(['incr', [1]])];
    for (let i = 0; i < 20_000; i++) {
      let b: Buffer;
      if (i % 2) {
        b = Buffer.from(samples[i % samples.length]);
        for (let k = 0; k < 3; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      } else {
        b = Buffer.alloc(1 + Math.floor(rnd() * 64));
        for (let k = 0; k < b.length; k++) b[k] = Math.floor(rnd() * 256);
      }
      try {
        decode(b);
      } catch (e) {
        expect(e).toBeInstanceOf(PulsingRuntimeError);
        expect((e as pul.PulsingRuntimeError).kind).toBe('Serialization');
      }
    }
  });

  it('accepts every value the codec produces', () => {
    const values = [new Map([[1, { a: [1, 2, {}] }]]), new Set([1, 'x']), new Error('x'), new Date(), new Float64Array([1.5]), undefined, 10n ** 30n, /a/g, 'x'.repeat(70_000), Array.from({ length: 100_000 }, (_, i) => ({ i }))];
    for (const v of values) expect(() => decode(encode(v))).not.toThrow();
  });
});
