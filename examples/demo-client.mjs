// A client of the demo cluster, in a process of its own: it uses only Connect (no gossip, no
// port, not a member), asks the shards for their top words through the gateways it is given,
// prints one line of JSON, closes, and exits by itself.
import { Connect } from '../dist/connect.mjs';
import { RShard } from './demo-actors.mjs';

const conn = await Connect.to(process.argv[2].split(','));
const shards = await Promise.all([0, 1, 2, 3].map((i) => conn.resolve(`shard/${i}`, { cls: RShard })));
const top = (await Promise.all(shards.map((s) => s.top(2)))).flat();
const hosts = new Set(await Promise.all(shards.map(async (s) => (await s.host()).pid)));
console.log(JSON.stringify({ gateway: conn.gateway, top, hostPids: [...hosts] }));
await conn.close();
