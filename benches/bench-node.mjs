// A Pulsing node hosting the bench actor; with `gateway` after the seed, only a gateway for
// Connect clients; with `metrics-off`, the echo actor as `echo-metrics-off` on a node that
// does not count its actors; with `subscriber`, a subscriber of the topic fan-out bench. Prints its
// address when ready.
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pul from '../dist/index.mjs';
import { Echo } from './bench-actors.mjs';

// The disk queue bench writes here (the temp filesystem, removed on exit).
const storagePath = join(tmpdir(), `pulsing-bench-${process.pid}`);
const role = process.argv[3];
const system = await pul.init({ addr: '127.0.0.1:0', seeds: process.argv[2] ? [process.argv[2]] : [], storagePath, metrics: role !== 'metrics-off' });
if (role === 'subscriber') {
  // A subscriber of the fan-out bench: counts what it gets.
  let n = 0;
  const tr = await pul.topic.read('bench/fanout');
  tr.onMessage(() => { n++; });
  await tr.start();
  await system.spawn({ count: () => n }, { name: `fanout-${system.nodeId}` });
} else if (role === 'metrics-off') {
  await pul.remote(Echo, { className: 'bench/Echo' }).spawn({ name: 'echo-metrics-off' });
} else if (role !== 'gateway') {
  await pul.remote(Echo, { className: 'bench/Echo' }).spawn({ name: 'echo' });
}
console.log(JSON.stringify({ addr: system.addr, nodeId: system.nodeId }));
process.on('SIGTERM', async () => { await pul.shutdown(); rmSync(storagePath, { recursive: true, force: true }); });
