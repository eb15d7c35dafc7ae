// `npm run release:pack [-- --target <name> ...]`: the tarballs we publish, in release/.
//
// 1. installs what the builds need when missing: the Rust targets (rustup), zig and
//    cargo-zigbuild (from PyPI), llvm-strip (Debian's llvm);
// 2. builds the addon in release mode for each platform of scripts/lib/platforms.mjs (all of
//    them unless `--target` names some) with cargo-zigbuild, on this one machine: glibc
//    builds pinned to glibc 2.17, musl builds as shared objects, macOS builds against zig's
//    own macOS libraries (no SDK needed), then strips them;
// 3. writes each npm/<platform>/ package (package.json from the table, the addon, LICENSE),
//    and checks that the root pins every platform package in optionalDependencies;
// 4. builds the TS layer and packs the root and the platform packages (`--ignore-scripts`, so
//    `prepare` cannot rebuild anything in debug), then checks what went into each tarball.
//
// Publishing is then `npm publish release/<tarball>` for each, platform packages first.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PLATFORMS, addonName, packageJson, packageName } from './lib/platforms.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'release');
// A release build of the addon is 5 to 11 MB; the debug build is over 60 MB. A platform
// package must stay under 10 MB unpacked.
const MAX_ADDON_BYTES = 10 * 1000 * 1000 - 20_000;
// The versions the builds were made and checked with.
const ZIG = 'ziglang==0.17.1';
const ZIGBUILD = 'cargo-zigbuild==0.24.1';

const { values } = parseArgs({ options: { target: { type: 'string', multiple: true } } });
const fail = (msg) => { console.error(`release:pack: ${msg}`); process.exit(1); };
const wanted = values.target ?? PLATFORMS.map((p) => p.name);
for (const t of wanted) if (!PLATFORMS.some((p) => p.name === t)) fail(`unknown --target ${t}: one of ${PLATFORMS.map((p) => p.name).join(', ')}`);
const platforms = PLATFORMS.filter((p) => wanted.includes(p.name));

const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...opts });
const works = (cmd, args) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
const readJson = (p) => JSON.parse(readFileSync(p, 'utf8'));
const pkg = readJson(join(root, 'package.json'));
const version = pkg.version;

// ---- 1. tools ----
const installed = run('rustup', ['target', 'list', '--installed']).split('\n');
const missing = platforms.map((p) => p.triple).filter((t) => !installed.includes(t));
if (missing.length) {
  console.log(`release:pack: rustup target add ${missing.join(' ')}`);
  execFileSync('rustup', ['target', 'add', ...missing], { stdio: 'inherit' });
}
if (!works('cargo-zigbuild', ['--version']) || !works('python3', ['-m', 'ziglang', 'version'])) {
  console.log(`release:pack: installing ${ZIG} and ${ZIGBUILD} from PyPI`);
  execFileSync('python3', ['-m', 'pip', 'install', '--quiet', ZIG, ZIGBUILD], { stdio: 'inherit' });
}
if (!works('llvm-strip', ['--version'])) {
  if (!works('apt-get', ['--version'])) fail('llvm-strip is needed (LLVM\'s binary tools): install llvm');
  console.log('release:pack: installing llvm (llvm-strip) from Debian');
  execFileSync('apt-get', ['install', '-y', '-qq', 'llvm'], { stdio: 'inherit' });
}

// ---- 2. builds ----
for (const p of platforms) {
  console.log(`release:pack: ${p.name}: cargo zigbuild --release --target ${p.zig}`);
  const env = { ...process.env };
  // A musl target links its C runtime statically by default, which a shared object cannot.
  if (p.libc === 'musl') env[`CARGO_TARGET_${p.triple.toUpperCase().replaceAll('-', '_')}_RUSTFLAGS`] = '-C target-feature=-crt-static';
  if (p.macos) env.MACOSX_DEPLOYMENT_TARGET = p.macos;
  const started = Date.now();
  execFileSync('cargo', ['zigbuild', '--release', '-p', 'pulsing-node', '--target', p.zig], { cwd: root, stdio: 'inherit', env });
  const built = join(root, 'target', p.triple, 'release', p.file);
  const dir = join(root, 'npm', p.name);
  mkdirSync(dir, { recursive: true });
  const addon = join(dir, addonName(p));
  copyFileSync(built, addon);
  // Local symbols go (exports stay): a third of the size.
  run('llvm-strip', p.os === 'darwin' ? ['-x', addon] : ['--strip-unneeded', addon]);
  const bytes = statSync(addon).size;
  console.log(`release:pack: ${p.name}: ${addonName(p)} ${bytes} bytes, built in ${Math.round((Date.now() - started) / 1000)} s`);
  if (bytes > MAX_ADDON_BYTES) fail(`${addonName(p)} is ${bytes} bytes: a platform package must stay under 10 MB unpacked (is it a debug build?)`);
  writeFileSync(join(dir, 'package.json'), JSON.stringify(packageJson(p, version), null, 2) + '\n');
  copyFileSync(join(root, 'LICENSE'), join(dir, 'LICENSE'));
}

// ---- 3. the root pins every platform ----
for (const p of PLATFORMS) {
  const pinned = pkg.optionalDependencies?.[packageName(p)];
  if (pinned !== version) fail(`package.json must pin "${packageName(p)}": "${version}" in optionalDependencies (it has ${JSON.stringify(pinned)})`);
}

// ---- 4. tarballs ----
console.log('release:pack: TypeScript build');
run('npm', ['run', 'build:ts']);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const pack = (cwd) => JSON.parse(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', out], { cwd }))[0];

// The root is packed from a copy of what it publishes, with a package.json that carries what a
// user needs and nothing of our build: no scripts (a `prepare` would read as "compiles on
// install", and npm 11 warns about it), no devDependencies.
const stage = join(root, 'target', 'pack-root');
rmSync(stage, { recursive: true, force: true });
const listed = JSON.parse(run('npm', ['pack', '--ignore-scripts', '--dry-run', '--json']))[0].files.map((f) => f.path);
for (const f of listed) {
  mkdirSync(dirname(join(stage, f)), { recursive: true });
  copyFileSync(join(root, f), join(stage, f));
}
const published = { ...pkg };
delete published.scripts;
delete published.devDependencies;
delete published.napi;
writeFileSync(join(stage, 'package.json'), JSON.stringify(published, null, 2) + '\n');
const main = pack(stage);
if (main.files.some((f) => f.path === 'package.json') === false) fail('the main tarball has no package.json');
const nodeFiles = main.files.filter((f) => f.path.endsWith('.node'));
if (nodeFiles.length) fail(`the main tarball must not carry a native addon: ${nodeFiles.map((f) => f.path).join(', ')}`);
for (const need of ['dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/index.d.mts', 'dist/connect.js', 'dist/connect.mjs', 'native/binding.cjs', 'LICENSE', 'README.md']) {
  if (!main.files.some((f) => f.path === need)) fail(`the main tarball is missing ${need}`);
}
console.log(`  ${main.filename}  ${main.size} bytes, ${main.entryCount} files`);
for (const p of platforms) {
  const t = pack(join(root, 'npm', p.name));
  const addon = t.files.find((f) => f.path === addonName(p));
  if (!addon) fail(`${t.filename} has no ${addonName(p)}`);
  if (t.unpackedSize > 10 * 1000 * 1000) fail(`${t.filename} is ${t.unpackedSize} bytes unpacked: over 10 MB`);
  console.log(`  ${t.filename}  ${t.size} bytes (unpacked ${t.unpackedSize}; addon ${addon.size} bytes, release build)`);
}
const skipped = PLATFORMS.filter((p) => !platforms.includes(p)).map((p) => p.name);
if (skipped.length && existsSync(out)) console.log(`release:pack: not built this time (--target): ${skipped.join(', ')}`);
console.log(`release:pack: tarballs in ${out}; publish the platform packages first, then ${main.filename}`);
