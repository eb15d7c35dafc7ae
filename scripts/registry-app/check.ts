// Type-checked under nodenext (as this .ts, CommonJS there, and as a copy named check.mts, an
// ES module: registry-test.sh makes it) and under bundler resolution.
import { init, remote, shutdown, PulsingRuntimeError, type ActorProxy } from 'pulsing';
import { Connect } from 'pulsing/connect';

class Counter {
  n = 0;
  incr(by = 1): number { return (this.n += by); }
  async *count(k: number): AsyncGenerator<number> { for (let i = 0; i < k; i++) yield i; }
}

export async function main(): Promise<void> {
  await init({ addr: '127.0.0.1:0', seeds: [] });
  const c: ActorProxy<Counter> = await remote(Counter).spawn({ name: 'c' });
  const v: number = await c.incr(1);
  for await (const i of c.count(v)) { const n: number = i; void n; }
  // @ts-expect-error: Counter has no method `nope`
  void c.nope;
  // @ts-expect-error: incr takes a number
  void c.incr('one');
  void PulsingRuntimeError;
  const conn = await Connect.to('127.0.0.1:0');
  const typed = await conn.resolve('c', { cls: remote(Counter) });
  const n: number = await typed.incr(1);
  void n;
  // @ts-expect-error: Counter has no method `nope`, through Connect either
  void typed.nope;
  await conn.close();
  await shutdown();
}
