// A Pulsing node hosting the bench actor. Prints its address when ready.
import * as pul from '../dist/index.mjs';
import { Echo } from './bench-actors.mjs';

const system = await pul.init({ addr: '127.0.0.1:0', seeds: process.argv[2] ? [process.argv[2]] : [] });
await pul.remote(Echo, { className: 'bench/Echo' }).spawn({ name: 'echo' });
console.log(JSON.stringify({ addr: system.addr, nodeId: system.nodeId }));
process.on('SIGTERM', () => pul.shutdown());
