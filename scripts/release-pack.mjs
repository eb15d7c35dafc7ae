// `npm run release:pack`: the tarballs we publish, in release/.
//
// 1. builds the native addon in release mode (never the debug build a dev clone uses),
// 2. puts it into each npm/<platform>/ package and gives those packages the root's version,
// 3. checks that the root pins every platform package in optionalDependencies at that version,
// 4. builds the TS layer and packs the root and the platform packages (`--ignore-scripts`, so
//    `prepare` cannot rebuild anything in debug), then checks what went into each tarball.
//
// Publishing is then `npm publish release/<tarball>` for each, platform packages first.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'release');
const stage = join(root, 'target', 'release-addon');
// A release build of the addon is about 5 MB; the debug build is over 60 MB.
const MAX_ADDON_BYTES = 20 * 1024 * 1024;

const run = (cmd, args, cwd = root) => execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
const readJson = (p) => JSON.parse(readFileSync(p, 'utf8'));
const fail = (msg) => { console.error(`release:pack: ${msg}`); process.exit(1); };

const pkg = readJson(join(root, 'package.json'));
const version = pkg.version;
const platforms = readdirSync(join(root, 'npm')).filter((d) => existsSync(join(root, 'npm', d, 'package.json')));
if (platforms.length === 0) fail('no platform packages under npm/');

console.log(`release:pack ${pkg.name}@${version}: release build of the addon`);
rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });
execFileSync('npx', ['napi', 'build', '--platform', '--release', '--strip', '--manifest-path', 'crates/pulsing-node/Cargo.toml',
  '--package-json-path', 'package.json', '--output-dir', stage, '--no-js', '--dts', 'binding.d.ts'], { cwd: root, stdio: 'inherit' });
const built = readdirSync(stage).filter((f) => f.endsWith('.node'));

for (const dir of platforms) {
  const p = join(root, 'npm', dir);
  const meta = readJson(join(p, 'package.json'));
  const addon = meta.main;
  if (!built.includes(addon)) fail(`npm/${dir} wants ${addon}, but this machine built ${built.join(', ') || 'nothing'}; build it on its platform`);
  const bytes = statSync(join(stage, addon)).size;
  if (bytes > MAX_ADDON_BYTES) fail(`${addon} is ${bytes} bytes: that is not a release build`);
  copyFileSync(join(stage, addon), join(p, addon));
  if (meta.version !== version) {
    meta.version = version;
    writeFileSync(join(p, 'package.json'), JSON.stringify(meta, null, 2) + '\n');
  }
  const pinned = pkg.optionalDependencies?.[meta.name];
  if (pinned !== version) fail(`package.json must pin "${meta.name}": "${version}" in optionalDependencies (it has ${JSON.stringify(pinned)})`);
}

console.log('release:pack: TypeScript build');
run('npm', ['run', 'build:ts']);

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const pack = (cwd) => JSON.parse(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', out], cwd))[0];

const main = pack(root);
const nodeFiles = main.files.filter((f) => f.path.endsWith('.node'));
if (nodeFiles.length) fail(`the main tarball must not carry a native addon: ${nodeFiles.map((f) => f.path).join(', ')}`);
for (const need of ['dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/index.d.mts', 'dist/connect.js', 'dist/connect.mjs', 'native/binding.cjs', 'LICENSE', 'README.md']) {
  if (!main.files.some((f) => f.path === need)) fail(`the main tarball is missing ${need}`);
}
console.log(`  ${main.filename}  ${main.size} bytes, ${main.entryCount} files`);
for (const dir of platforms) {
  const t = pack(join(root, 'npm', dir));
  const addon = t.files.find((f) => f.path.endsWith('.node'));
  if (!addon) fail(`${t.filename} has no .node file`);
  console.log(`  ${t.filename}  ${t.size} bytes (addon ${addon.size} bytes, release build)`);
}
console.log(`release:pack: tarballs in ${out}; publish the platform packages first, then ${main.filename}`);
