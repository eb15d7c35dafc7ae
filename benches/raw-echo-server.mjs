// Raw baseline: a length-prefixed echo over Node `net`, batched writes; frames over 1 MiB
// get a 4-byte ack instead (one-way bulk). Prints its port.
import net from 'node:net';

const server = net.createServer((sock) => {
  sock.setNoDelay(true);
  let chunks = [];
  let have = 0;
  sock.on('data', (d) => {
    chunks.push(d);
    have += d.length;
    const out = [];
    for (;;) {
      if (have < 4) break;
      if (chunks[0].length < 4) { chunks = [Buffer.concat(chunks)]; }
      const len = chunks[0].readUInt32BE(0);
      if (have < 4 + len) break;
      // Join once per complete frame (not per chunk: that would be quadratic for bulk).
      const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, have);
      out.push(len > 1 << 20 ? Buffer.from([0, 0, 0, 0]) : all.subarray(0, 4 + len));
      const rest = all.subarray(4 + len);
      chunks = rest.length ? [rest] : [];
      have = rest.length;
    }
    if (out.length) sock.write(out.length === 1 ? out[0] : Buffer.concat(out));
  });
});
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
process.on('SIGTERM', () => process.exit(0));
