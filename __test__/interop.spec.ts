import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as pul from '../dist/index.js';
import { root, runProcess, waitFor, type Proc } from './helpers';

// A Rust node (crates/pulsing-actor/examples/rust_node.rs) and this TypeScript node in one
// cluster: each calls the other's actors.
const bin = join(root, 'target/debug/examples/rust_node');

class Greeter {
  n = 0;
  greet(who: string) { this.n++; return `hello ${who}`; }
  count() { return this.n; }
}

let rust: Proc;
let rustNode: { addr: string; nodeId: string };

describe('Rust and TypeScript actors in one cluster', () => {
  beforeAll(async () => {
    // `cargo test` (run first by `npm test`) builds the example; build it when run alone.
    if (!existsSync(bin)) execFileSync('cargo', ['build', '-p', 'pulsing-actor', '--example', 'rust_node'], { cwd: root, stdio: 'inherit' });
    const sys = await pul.init({ addr: '127.0.0.1:0' });
    await pul.remote(Greeter, { className: 'interop/Greeter' }).spawn({ name: 'ts-greeter' });
    rust = runProcess(bin, [sys.addr!, 'ts-greeter']);
    await waitFor(() => rust.stdout().includes('\n'), 20_000, 'rust node ready');
    rustNode = JSON.parse(rust.stdout().split('\n')[0]);
    await waitFor(async () => (await sys.members()).length === 2, 10_000, 'rust node joined');
  }, 180_000);

  afterAll(async () => { await pul.shutdown(); });

  it('a TS node calls a Rust actor: arguments and results are MessagePack ↔ serde', async () => {
    const calc = await pul.resolve('services/calc', { timeoutMs: 5000 });
    expect(calc.$ref.actorId.startsWith(rustNode.nodeId + ':')).toBe(true);
    expect(await calc.mul(6, 7)).toBe(42);
    expect(await calc.sum([1, 2, 3, 4])).toBe(10);
    // A serde struct arrives as a plain object.
    expect(await calc.info()).toEqual({ name: 'calc', version: 1, tags: ['rust', 'serde'] });
    await expect(calc.nope()).rejects.toMatchObject({ constructor: pul.PulsingUnsupportedError });
    await expect(calc.mul('six', 7)).rejects.toMatchObject({ kind: 'Serialization' });
    expect(await calc.mul(2, 3)).toBe(6); // still serving after bad input
  });

  it('a Rust actor calls a TS actor', async () => {
    await waitFor(() => rust.stdout().includes('greeted'), 10_000, 'the rust node to call back');
    const line = rust.stdout().split('\n').find((l) => l.includes('greeted'))!;
    expect(JSON.parse(line)).toEqual({ greeted: 'hello rust', count: 1 });
  });
});
