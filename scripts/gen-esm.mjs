// Writes ESM entry points over the CommonJS build, so `import` and `require` share one
// instance of the runtime (no dual-package hazard: one global system, one class registry).
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';

const require = createRequire(import.meta.url);
for (const entry of ['index', 'connect']) {
  const mod = require(`../dist/${entry}.js`);
  const names = Object.keys(mod).filter((n) => n !== 'default' && n !== '__esModule');
  const lines = [
    `import mod from './${entry}.js';`,
    ...names.map((n) => `export const ${n} = mod.${n};`),
    'export default mod;',
    '',
  ];
  writeFileSync(new URL(`../dist/${entry}.mjs`, import.meta.url), lines.join('\n'));
}
