// The server side of each system, one per process: `node servers.mjs <raw|moleculer|grpc|pulsing> [port]`.
// Prints one JSON line ({port} or {addr}) once it serves: echo a small string, stream n items.
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const [kind, portArg] = process.argv.slice(2);
const ready = (x) => console.log(JSON.stringify(x));
process.on('SIGTERM', () => process.exit(0));

if (kind === 'raw') {
  // The same length-prefixed echo `npm run bench` measures against (it prints its port).
  await import('../raw-echo-server.mjs');
} else if (kind === 'moleculer') {
  const { ServiceBroker } = await import('moleculer');
  const port = Number(portArg);
  // Static discovery on loopback only (no UDP multicast).
  const broker = new ServiceBroker({
    nodeID: 'server',
    logger: false,
    transporter: { type: 'TCP', options: { udpDiscovery: false, port, urls: [`127.0.0.1:${port}/server`] } },
  });
  broker.createService({ name: 'echo', actions: { echo: (ctx) => ctx.params.s } });
  await broker.start();
  ready({ port });
} else if (kind === 'grpc') {
  const grpc = await import('@grpc/grpc-js');
  const loader = await import('@grpc/proto-loader');
  const def = loader.loadSync(fileURLToPath(new URL('./echo.proto', import.meta.url)));
  const { bench } = grpc.loadPackageDefinition(def);
  const server = new grpc.Server();
  server.addService(bench.Echo.service, {
    Echo: (call, cb) => cb(null, { s: call.request.s }),
    Items: (call) => { for (let i = 0; i < call.request.n; i++) call.write({ i }); call.end(); },
  });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    ready({ port });
  });
} else if (kind === 'pulsing') {
  const pul = await import('../../dist/index.mjs');
  class Echo {
    echo(s) { return s; }
    size(b) { return b.length; }
    *items(n) { for (let i = 0; i < n; i++) yield i; }
  }
  const sys = await pul.init({ addr: '127.0.0.1:0' });
  await pul.remote(Echo, { className: 'peers/Echo' }).spawn({ name: 'echo' });
  ready({ addr: sys.addr });
} else {
  throw new Error(`unknown server kind ${kind}`);
}
