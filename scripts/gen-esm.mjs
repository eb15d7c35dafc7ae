// Writes ESM entry points (and their types) over the CommonJS build, so `import` and `require`
// share one instance of the runtime (no dual-package hazard: one global system, one class
// registry). The ESM file loads the CommonJS one with `createRequire`, not `import`, so it
// still works when a tool (vitest, a bundler in dev mode) inlines it instead of letting Node
// load it: there is no CommonJS-to-ESM interop for the tool to get wrong.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';

const require = createRequire(import.meta.url);
for (const entry of ['index', 'connect']) {
  const mod = require(`../dist/${entry}.js`);
  const names = Object.keys(mod).filter((n) => n !== 'default' && n !== '__esModule');
  const js = [
    `import { createRequire } from 'node:module';`,
    `const mod = createRequire(import.meta.url)('./${entry}.js');`,
    ...names.map((n) => `export const ${n} = mod.${n};`),
    'export default mod;',
    '',
  ];
  writeFileSync(new URL(`../dist/${entry}.mjs`, import.meta.url), js.join('\n'));
  const dts = [
    `export * from './${entry}.js';`,
    `import * as mod from './${entry}.js';`,
    'export default mod;',
    '',
  ];
  writeFileSync(new URL(`../dist/${entry}.d.mts`, import.meta.url), dts.join('\n'));
}
