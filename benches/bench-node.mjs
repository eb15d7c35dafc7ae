// A Pulsing node hosting the bench actor (or, with `gateway` after the seed, only a
// gateway for Connect clients). Prints its address when ready.
import * as pul from '../dist/index.mjs';
import { Echo } from './bench-actors.mjs';

const system = await pul.init({ addr: '127.0.0.1:0', seeds: process.argv[2] ? [process.argv[2]] : [] });
if (process.argv[3] !== 'gateway') await pul.remote(Echo, { className: 'bench/Echo' }).spawn({ name: 'echo' });
console.log(JSON.stringify({ addr: system.addr, nodeId: system.nodeId }));
process.on('SIGTERM', () => pul.shutdown());
