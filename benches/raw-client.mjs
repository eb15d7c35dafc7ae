// The client side of the raw baseline: a length-prefixed echo over Node `net` (the server is
// raw-echo-server.mjs). Shared by `npm run bench` and `npm run bench:peers`.
import net from 'node:net';

/** Connect to the raw echo on `port`; `call()` sends 32 bytes and waits for them back. */
export async function rawClient(port, payloadBytes = 32) {
  const sock = net.connect(port, '127.0.0.1');
  sock.setNoDelay(true);
  await new Promise((r) => sock.once('connect', r));
  let buf = Buffer.alloc(0);
  const waiters = [];
  sock.on('data', (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    let off = 0;
    while (buf.length - off >= 4) {
      const len = buf.readUInt32BE(off);
      if (buf.length - off - 4 < len) break;
      off += 4 + len;
      waiters.shift()();
    }
    buf = buf.subarray(off);
  });
  const msg = Buffer.alloc(4 + payloadBytes);
  msg.writeUInt32BE(payloadBytes, 0);
  return {
    call: () => new Promise((r) => { waiters.push(r); sock.write(msg); }),
    /** One-way bulk: a frame of `big.length` bytes, a 4-byte ack back. */
    bulk: (big) => new Promise((r) => { const h = Buffer.alloc(4); h.writeUInt32BE(big.length); waiters.push(r); sock.write(h); sock.write(big); }),
    close: () => sock.destroy(),
  };
}
