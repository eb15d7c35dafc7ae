import { describe, it, expect } from 'vitest';
import ts from 'typescript';
import { readFileSync, mkdtempSync, writeFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { root, runNode } from './helpers';

function compile(file: string): ts.Diagnostic[] {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, strict: true, noEmit: true,
    lib: ['lib.es2022.d.ts', 'lib.esnext.disposable.d.ts'], types: ['node'], skipLibCheck: true,
    typeRoots: [join(root, 'node_modules/@types')],
  };
  const program = ts.createProgram([join(root, '__test__/fixtures', file)], options);
  return [...ts.getPreEmitDiagnostics(program)];
}

const text = (d: ts.Diagnostic) => ts.flattenDiagnosticMessageText(d.messageText, '\n');

describe('public types', () => {
  it('ActorProxy<T> makes method typos, wrong args and private calls compile errors', () => {
    const diags = compile('typo.ts');
    // Every @ts-expect-error in the fixture is used (an unused one is error TS2578).
    expect(diags.map(text)).toEqual([]);
    const src = readFileSync(join(root, '__test__/fixtures/typo.ts'), 'utf8');
    // Removing the expectations turns each of those lines into a real error.
    const dir = mkdtempSync(join(tmpdir(), 'pulsing-types-'));
    const stripped = src.replace(/\/\/ @ts-expect-error.*\n/g, '').replace(/'\.\.\/\.\.\/dist/g, `'${root}dist`);
    writeFileSync(join(dir, 'typo.ts'), stripped);
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    const program = ts.createProgram([join(dir, 'typo.ts')], { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, lib: ['lib.es2022.d.ts', 'lib.esnext.disposable.d.ts'], skipLibCheck: true, types: ['node'], typeRoots: [join(root, 'node_modules/@types')] });
    const msgs = ts.getPreEmitDiagnostics(program).map(text).join('\n');
    expect(msgs).toMatch(/Property 'incrr' does not exist/);
    expect(msgs).toMatch(/Argument of type 'string' is not assignable to parameter of type 'number'/);
    expect(msgs).toMatch(/Property '_hidden' does not exist/);
    expect(msgs).toMatch(/Property 'nope' does not exist/);
  });

  it('code written against api-sketch.d.ts compiles against the package', () => {
    expect(compile('sketch-usage.ts').map(text)).toEqual([]);
  });

  it('the decorator forms work when compiled by tsc (TS 5 standard decorators)', async () => {
    const src = readFileSync(join(root, '__test__/fixtures/decorators.ts'), 'utf8');
    const out = ts.transpileModule(src, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS } });
    const dir = mkdtempSync(join(tmpdir(), 'pulsing-deco-'));
    const file = join(dir, 'decorators.cjs');
    writeFileSync(file, out.outputText.replace(/\.\.\/\.\.\/dist\/index\.js/g, join(root, 'dist/index.js')));
    const r = await runNode([file]).done;
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ greet: 'hi ann', resolved: 'hi bob', local: 'hi local', ping: 'pong', named: 'named', className: 'fixtures/Named' });
  });
});
