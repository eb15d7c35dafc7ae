import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './helpers';

// Every ```ts block of the README, docs/tour.md and docs/connect.md compiles as a user's ES module
// would, against the built package's own types (`import ... from 'pulsing'` resolves to this
// package by its name).
describe('README', () => {
  it('has TypeScript snippets that compile', () => {
    const blocksOf = (file: string) => [...readFileSync(join(root, file), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
    const blocks = [...blocksOf('README.md'), ...blocksOf('docs/tour.md'), ...blocksOf('docs/connect.md')];
    expect(blocks.length).toBeGreaterThanOrEqual(7);
    const dir = join(root, '__test__', '.readme-snippets');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const files = blocks.map((code, i) => {
      const f = `snippet-${i + 1}.mts`;
      // A snippet without imports is still a module (top-level await needs one).
      writeFileSync(join(dir, f), code.includes('import ') ? code : `export {};\n${code}`);
      return f;
    });
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, types: ['node'], noUnusedLocals: false },
      files,
    }));
    let out = '';
    try {
      execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8' });
    } catch (e) {
      out = String((e as { stdout?: string }).stdout ?? e);
    }
    expect(out).toBe('');
  });
});
