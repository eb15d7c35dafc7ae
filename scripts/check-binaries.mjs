// `node scripts/check-binaries.mjs [--max-glibc 2.28]`: checks every addon release:pack put
// in npm/<platform>/ as a binary, for the platforms this machine cannot run (and the others
// too, as a first gate). Per addon:
// - its format and architecture are the platform's (ELF x86-64 / AArch64, Mach-O x86_64 / arm64);
// - it exports `napi_register_module_v1` (what Node looks for in an addon);
// - every symbol it needs from outside is Node's (Node-API, libuv) or the system C library's:
//   ELF: versioned from glibc or libgcc (gnu), or none versioned (musl); Mach-O: from
//   libSystem (or libiconv, which Rust's standard library links), or Node's (`napi_*`,
//   `uv_*`, looked up in the process);
// - the libraries it links are the system's only (`libc.so.6`, `libgcc_s`, ... for gnu;
//   musl's `libc.so`, which its loader `ld-musl-*` provides, for musl; libSystem for macOS);
// - gnu: the highest GLIBC symbol version it needs is at most --max-glibc (2.28: what Node 20
//   itself needs); macOS: its minimum macOS version (LC_BUILD_VERSION / LC_VERSION_MIN_MACOSX).
// Uses binutils' readelf and LLVM's llvm-objdump and llvm-nm. Prints one line per addon and
// exits 1 if any check fails.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PLATFORMS, addonName } from './lib/platforms.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { 'max-glibc': { type: 'string', default: '2.28' }, json: { type: 'boolean', default: false } } });
const maxGlibc = values['max-glibc'].split('.').map(Number);
const sh = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
const newer = (a, b) => a[0] !== b[0] ? a[0] > b[0] : a[1] > b[1];
const fromNode = (s) => /^_?(napi_|node_api_|uv_)/.test(s);

function checkElf(p, file) {
  const problems = [];
  const header = sh('readelf', ['-h', file]);
  const machine = /Machine:\s+(.*)/.exec(header)?.[1] ?? '?';
  const want = p.cpu === 'x64' ? /X86-64/ : /AArch64/;
  if (!/ELF64/.test(header) || !want.test(machine)) problems.push(`format: ${machine}, not ${p.cpu}`);
  const needed = [...sh('readelf', ['-d', file]).matchAll(/\(NEEDED\)\s+Shared library: \[(.*)\]/g)].map((m) => m[1]);
  const system = p.libc === 'musl'
    ? /^(libc\.so|libc\.musl-.*\.so\.1)$/
    : /^(libc\.so\.6|libm\.so\.6|libgcc_s\.so\.1|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|ld-linux-(x86-64|aarch64)\.so\.[12])$/;
  for (const lib of needed) if (!system.test(lib)) problems.push(`links ${lib}`);
  const syms = sh('readelf', ['--dyn-syms', '-W', file]).split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 8 && /^\d+:$/.test(f[0]))
    .map((f) => ({ bind: f[4], ndx: f[6], name: f[7] }));
  if (!syms.some((s) => s.name === 'napi_register_module_v1' && s.ndx !== 'UND')) problems.push('does not export napi_register_module_v1');
  let glibc = [0, 0];
  for (const s of syms.filter((s) => s.ndx === 'UND' && s.name)) {
    const [name, version] = s.name.split('@');
    if (fromNode(name) || s.bind === 'WEAK') continue;
    if (p.libc === 'musl') {
      if (version) problems.push(`needs ${s.name} (versioned: not musl)`);
      continue;
    }
    const v = /^GLIBC_(\d+)\.(\d+)/.exec(version ?? '');
    if (v) {
      const ver = [Number(v[1]), Number(v[2])];
      if (newer(ver, glibc)) glibc = ver;
    } else if (!/^GCC_/.test(version ?? '')) {
      problems.push(`needs ${s.name} from neither Node nor the C library`);
    }
  }
  const facts = { machine, needed };
  if (p.libc === 'glibc') {
    facts.maxGlibc = glibc.join('.');
    if (newer(glibc, maxGlibc)) problems.push(`needs GLIBC_${glibc.join('.')}, over ${values['max-glibc']}`);
  }
  return { facts, problems };
}

function checkMacho(p, file) {
  const problems = [];
  const headers = sh('llvm-objdump', ['--macho', '--private-headers', file]);
  const cpu = /MH_MAGIC_64\s+(\S+)/.exec(headers)?.[1] ?? '?';
  if (cpu !== (p.cpu === 'x64' ? 'X86_64' : 'ARM64')) problems.push(`format: ${cpu}, not ${p.cpu}`);
  if (!/filetype.*DYLIB|\sDYLIB\s/.test(headers)) problems.push('not a dylib');
  const minos = /cmd LC_BUILD_VERSION[\s\S]*?minos (\S+)/.exec(headers)?.[1] ?? /cmd LC_VERSION_MIN_MACOSX[\s\S]*?version (\S+)/.exec(headers)?.[1];
  if (!minos) problems.push('says no minimum macOS version');
  else if (newer(minos.split('.').map(Number), p.macos.split('.').map(Number))) problems.push(`needs macOS ${minos}, newer than ${p.macos}`);
  const dylibs = [...headers.matchAll(/cmd LC_LOAD(?:_WEAK)?_DYLIB\s+cmdsize \d+\s+name (\S+)/g)].map((m) => m[1]);
  for (const d of dylibs) if (!/^\/usr\/lib\/(libSystem\.B|libiconv\.2|libcharset\.1|libresolv\.9)\.dylib$/.test(d)) problems.push(`links ${d}`);
  const exported = sh('llvm-nm', ['--extern-only', '--defined-only', file]);
  if (!/\s_napi_register_module_v1$/m.test(exported)) problems.push('does not export _napi_register_module_v1');
  // Which library each undefined symbol binds to: libSystem, or (flat lookup) the process.
  const binds = sh('llvm-objdump', ['--macho', '--bind', '--lazy-bind', '--weak-bind', file]).split('\n');
  for (const l of binds) {
    const f = l.trim().split(/\s+/);
    const name = f[f.length - 1];
    if (!name?.startsWith('_') || f.length < 5) continue;
    const dylib = f[f.length - 2];
    if (fromNode(name) && dylib === 'flat-namespace') continue;
    if (!/^(libSystem|libiconv|libcharset|libresolv)$/.test(dylib) && !fromNode(name)) problems.push(`needs ${name} from ${dylib}`);
  }
  return { facts: { machine: cpu, minMacos: minos, dylibs }, problems };
}

let failed = 0;
const report = [];
for (const p of PLATFORMS) {
  const file = join(root, 'npm', p.name, addonName(p));
  if (!existsSync(file)) {
    console.log(`${p.name}: not built (npm run release:pack -- --target ${p.name})`);
    failed++;
    continue;
  }
  const { facts, problems } = p.os === 'darwin' ? checkMacho(p, file) : checkElf(p, file);
  report.push({ platform: p.name, ...facts, problems });
  if (problems.length) failed++;
  const said = Object.entries(facts).map(([k, v]) => `${k} ${Array.isArray(v) ? v.join(',') : v}`).join('; ');
  console.log(`${p.name}: ${problems.length ? `FAILED: ${problems.slice(0, 10).join('; ')}` : 'ok'} (${said})`);
}
if (values.json) console.log(JSON.stringify(report));
console.log(failed ? `check-binaries: ${failed} of ${PLATFORMS.length} failed` : `check-binaries: all ${PLATFORMS.length} ok`);
process.exit(failed ? 1 : 0);
