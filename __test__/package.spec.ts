import { describe, it, expect } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { root, runNode } from './helpers';
import * as pul from '../dist/index.js';

describe('package entry points', () => {
  it('require() and import share one runtime; pulsing/connect is exported', async () => {
    const script = `
      const cjs = require('pulsing');
      import('pulsing').then(async (esm) => {
        const { Connect } = await import('pulsing/connect');
        const sys = await esm.init();
        console.log(JSON.stringify({
          same: cjs.getSystem() === sys,
          classes: esm.PulsingError === cjs.PulsingError,
          connect: typeof Connect.to,
          connectErr: await Connect.to(['127.0.0.1:1']).catch((e) => e.constructor.name + ' ' + e.kind),
        }));
        await cjs.shutdown();
      });`;
    const r = await runNode(['-e', script]).done;
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ same: true, classes: true, connect: 'function', connectErr: 'PulsingRuntimeError ConnectionFailed' });
  });

  it('an addon that does not load is reported with its real reason, not "Cannot find native binding"', async () => {
    // A copy of the package whose addon is a file of the wrong format (as a binary for
    // another glibc or architecture would be), and one where it is missing altogether.
    const dir = mkdtempSync(join(tmpdir(), 'pulsing-load-'));
    try {
      mkdirSync(join(dir, 'dist'));
      mkdirSync(join(dir, 'native'));
      copyFileSync(join(root, 'dist/binding.js'), join(dir, 'dist/binding.js'));
      copyFileSync(join(root, 'native/binding.cjs'), join(dir, 'native/binding.cjs'));
      const load = `try { require(${JSON.stringify(join(dir, 'dist/binding.js'))}) } catch (e) { console.log(e.message) }`;
      const missing = (await runNode(['-e', load]).done).stdout;
      expect(missing).toMatch(/^pulsing: the native addon for linux-x64-gnu did not load: the package pulsing-linux-x64-gnu is not installed/);
      writeFileSync(join(dir, 'native/pulsing.linux-x64-gnu.node'), 'not an ELF file');
      const broken = (await runNode(['-e', load]).done).stdout;
      expect(broken).toMatch(/^pulsing: the native addon for linux-x64-gnu did not load: .*(invalid ELF header|too short)/);
      expect(broken).not.toContain('Cannot find native binding');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the committed native binding types match the Rust signatures', () => {
    // napi regenerates native/binding.d.ts on every build; a Rust signature change shows up
    // as a diff against this pinned shape.
    const dts = readFileSync(join(root, 'native/binding.d.ts'), 'utf8');
    for (const sig of [
      'reserveIds(count: number): number',
      'registerName(name: string, local: number, metadata: Record<string, string>): string',
      'unregisterName(name: string, local: number): boolean',
      'export declare function createSystem(config?: JsSystemConfig | undefined | null): Promise<NativeSystem | JsWireError>',
      'sendRequest(node: string, req: number | undefined | null, local: number | undefined | null, name: string | undefined | null, body: Buffer, attachments?: Array<Buffer> | undefined | null): number',
      'export declare function protocol(): JsProtocol',
      'export declare function normalizeName(name: string, forSpawn: boolean): string',
    ]) expect(dts).toContain(sig);
  });

  it('protocol constants and error kinds are defined once, in the core', () => {
    const { protocol } = createRequire(import.meta.url)('../native/binding.cjs');
    const p = protocol();
    expect(p).toMatchObject({ streamWindow: 4096, creditBatch: 2048, streamWindowBytes: 16 << 20, creditBytes: 4 << 20, reqIdSpace: 2 ** 52, maxNameBytes: 1024, maxMetadataBytes: 16384 });
    // Every kind the core knows arrives in JS as that kind (no fallback to 'Protocol').
    const kinds: pul.RuntimeErrorKind[] = ['ActorNotFound', 'NodeNotFound', 'NodeDown', 'Stopped', 'ConnectionFailed', 'Serialization', 'Config', 'Io', 'Tls', 'Protocol'];
    expect(p.errorKinds).toEqual(kinds);
  });
});
