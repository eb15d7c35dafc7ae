// A node holding many names, for the names benchmark. Usage: node names-node.mjs <count> <prefix> [seed]
// Prints {"addr","nodeId"} once its names are registered.
import * as pul from '../dist/index.mjs';

const [count, prefix, seed] = process.argv.slice(2);
const sys = await pul.init({ addr: '127.0.0.1:0', seeds: seed ? [seed] : [] });
for (let i = 0; i < Number(count); i++) await sys.spawn({ ping: () => i }, { name: `${prefix}${i}` });
console.log(JSON.stringify({ addr: sys.addr, nodeId: sys.nodeId }));
process.on('SIGTERM', async () => { await pul.shutdown(); process.exit(0); });
