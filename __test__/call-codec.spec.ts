// The call envelope read through the method-name cache and written from the empty-call
// cache must mean exactly what the general codec means, whatever bytes come in.
import { describe, it, expect } from 'vitest';
import * as pul from '../dist/index.js';
import { decodeCall, emptyCallBody } from '../dist/call-codec.js';

const { encode, PulsingRuntimeError } = pul;

/** `bytes` inside a larger buffer, as an event batch holds a body. */
function framed(bytes: Uint8Array): [Buffer, number, number] {
  const b = Buffer.concat([Buffer.alloc(7, 0xee), bytes, Buffer.alloc(5, 0xee)]);
  return [b, 7, 7 + bytes.length];
}
function read(bytes: Uint8Array): [string, unknown[]] | null {
  const [b, start, end] = framed(bytes);
  return decodeCall(b, null, start, end);
}

describe('call envelope', () => {
  it('decodes what the codec encodes, the same name giving the same string', () => {
    const a = read(encode(['incr', [1, 'x', null, { k: [2] }]]));
    expect(a).toEqual(['incr', [1, 'x', null, { k: [2] }]]);
    const b = read(encode(['incr', []]));
    expect(b).toEqual(['incr', []]);
    expect(Object.is(a![0], b![0])).toBe(true);
    // A fresh args array every time: an actor may keep or change what it was given.
    expect(read(encode(['incr', []]))![1]).not.toBe(b![1]);
  });

  it('is not fooled by reused memory, colliding names or names past the cache', () => {
    // The same buffer overwritten with another name of the same length.
    const buf = Buffer.from(encode(['aaaa', []]));
    expect(decodeCall(buf, null, 0, buf.length)![0]).toBe('aaaa');
    for (let i = 0; i < 300; i++) {
      const name = `a${String(i).padStart(3, '0')}`;
      buf.set(Buffer.from(name), 2);
      expect(decodeCall(buf, null, 0, buf.length)![0]).toBe(name);
    }
    // More names than slots: every one still reads as itself.
    const names = Array.from({ length: 2000 }, (_, i) => `m${i}`);
    for (const n of names) expect(read(encode([n, [n]]))).toEqual([n, [n]]);
    for (const n of names.slice(0, 50)) expect(read(encode([n, []]))![0]).toBe(n);
    // Names longer than a fixstr, and multi-byte ones, through the general codec or the cache.
    const long = 'x'.repeat(40);
    expect(read(encode([long, [1]]))).toEqual([long, [1]]);
    expect(read(encode(['générer', [1]]))).toEqual(['générer', [1]]);
  });

  it('reads nil arguments as none and refuses what is not a call', () => {
    expect(read(encode(['stop', null]))).toEqual(['stop', []]);
    expect(read(encode(['stop', undefined]))).toEqual(['stop', []]);
    expect(read(encode(['stop', 5]))).toBeNull();
    expect(read(encode(['stop']))).toBeNull();
    expect(read(encode([1, []]))).toBeNull();
    expect(read(encode({ method: 'stop' }))).toBeNull();
    expect(read(encode(['x'.repeat(40), 'no']))).toBeNull();
  });

  it('refuses bytes that do not decode, trailing bytes included, naming the codec', () => {
    const ok = Buffer.from(encode(['incr', [1]]));
    const cases = [
      Buffer.concat([ok, Buffer.from([0x01])]), // a second value after the call
      ok.subarray(0, ok.length - 1), // the args cut short
      Buffer.from([0x92, 0xa4, 0x69, 0x6e, 0x63, 0x72, 0xc1]), // 0xc1 is never used
      Buffer.from([0x92, 0xa4, 0x69, 0x6e]), // the name cut short
    ];
    for (const c of cases) {
      let err: unknown;
      try { decodeCall(c, null, 0, c.length); } catch (e) { err = e; }
      expect(err, c.toString('hex')).toBeInstanceOf(PulsingRuntimeError);
      expect((err as InstanceType<typeof PulsingRuntimeError>).kind).toBe('Serialization');
    }
  });

  it('writes calls without arguments as the codec does, and only names that fit', () => {
    for (const m of ['incr', 'a', 'générer', 'x'.repeat(31)]) {
      expect(Buffer.from(emptyCallBody(m)!)).toEqual(Buffer.from(encode([m, []])));
    }
    expect(emptyCallBody('x'.repeat(32))).toBeNull();
    expect(emptyCallBody('é'.repeat(16))).toBeNull(); // 32 bytes
    expect(emptyCallBody('incr')).toBe(emptyCallBody('incr'));
  });
});
