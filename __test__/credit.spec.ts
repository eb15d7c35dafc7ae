import { describe, it, expect } from 'vitest';
import { ProducerCredit, roughBytes, STREAM_WINDOW, STREAM_WINDOW_BYTES } from '../dist/credit.js';
import { RemoteQueue } from '../dist/remote-queue.js';
import { protocol } from '../dist/native.js';

// Unit checks of the two ends of stream credit; callers.spec.ts holds them to it end to end.
describe('a producer\'s credit', () => {
  it('closes when items run out, and opens again as they are credited', () => {
    const c = new ProducerCredit();
    c.items -= STREAM_WINDOW;
    c.sent(STREAM_WINDOW, 100);
    expect(c.open).toBe(false);
    c.grant(1);
    expect(c.open).toBe(true);
    expect(c.items).toBe(1);
  });

  it('closes on bytes ahead, and gives a frame\'s bytes back in proportion to its items credited', () => {
    const c = new ProducerCredit();
    c.items -= 4;
    c.sent(4, STREAM_WINDOW_BYTES);
    expect(c.open).toBe(false);
    c.grant(1);
    expect(c.bytes).toBe(STREAM_WINDOW_BYTES * 0.75);
    expect(c.open).toBe(true);
    c.grant(3);
    expect(c.bytes).toBe(0);
  });

  it('counts a grant beyond what was sent as what was sent (a peer cannot grow the window)', () => {
    const c = new ProducerCredit();
    c.items -= 2;
    c.sent(2, 10);
    c.grant(1_000_000);
    expect(c.items).toBe(STREAM_WINDOW);
    expect(c.bytes).toBe(0);
  });
});

describe('a consumer\'s credit', () => {
  it('is due every creditBatch items, or once the items used came to creditBytes', () => {
    const q = new RemoteQueue();
    for (let i = 0; i < protocol.creditBatch; i++) q.push(i, 1);
    for (let i = 0; i < protocol.creditBatch - 1; i++) { q.poll(); expect(q.creditDue()).toBe(0); }
    q.poll();
    expect(q.creditDue()).toBe(protocol.creditBatch);
    q.push('big', protocol.creditBytes);
    q.poll();
    expect(q.creditDue()).toBe(1);
  });
});

describe('the size that cuts a frame', () => {
  it('sees binary and string data at the top and one level down', () => {
    expect(roughBytes('abc')).toBe(3);
    expect(roughBytes(Buffer.alloc(10))).toBe(10);
    expect(roughBytes({ data: new Uint8Array(7), n: 1 })).toBe(7);
    expect(roughBytes([Buffer.alloc(5), 'xy'])).toBe(7);
    expect(roughBytes(42)).toBe(0);
  });
});
