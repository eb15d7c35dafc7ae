// Raw baseline: a length-prefixed echo over Node `net`, batched writes. Prints its port.
import net from 'node:net';

const server = net.createServer((sock) => {
  sock.setNoDelay(true);
  let buf = Buffer.alloc(0);
  sock.on('data', (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    const out = [];
    let off = 0;
    while (buf.length - off >= 4) {
      const len = buf.readUInt32BE(off);
      if (buf.length - off - 4 < len) break;
      out.push(buf.subarray(off, off + 4 + len));
      off += 4 + len;
    }
    buf = buf.subarray(off);
    if (out.length) sock.write(out.length === 1 ? out[0] : Buffer.concat(out));
  });
});
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
process.on('SIGTERM', () => process.exit(0));
