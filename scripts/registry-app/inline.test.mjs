import { test, expect } from 'vitest';
import { init, remote, shutdown } from 'pulsing';

class Echo { echo(x) { return x; } }

test('pulsing works when vitest inlines it', async () => {
  expect(typeof remote).toBe('function');
  await init();
  const e = await remote(Echo, { className: 'app/Echo' }).spawn();
  expect(await e.echo({ a: 1 })).toEqual({ a: 1 });
  await shutdown();
});
