// One worker node of the demo cluster: joins through --seeds, hosts what it is told.
import { parseArgs } from 'node:util';
import * as pul from '../dist/index.mjs';
import { RShard, RTokenizer } from './demo-actors.mjs';

const { values } = parseArgs({ options: { seeds: { type: 'string' }, shard: { type: 'string', multiple: true, default: [] }, tokenizer: { type: 'boolean', default: false } } });
await pul.init({ addr: '127.0.0.1:0', seeds: [values.seeds], membership: { probeIntervalMs: 100, probeTimeoutMs: 60, suspicionTimeoutMs: 500, syncIntervalMs: 100 } });
for (const s of values.shard) await RShard.spawn({ name: `shard/${s}` });
if (values.tokenizer) await RTokenizer.spawn({ name: 'tokenizer' });
// Leaving gracefully hands this node's queue buckets over (listening before saying ready).
process.on('SIGTERM', () => pul.shutdown());
console.log('ready');
