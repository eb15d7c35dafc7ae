// The platforms we publish a prebuilt addon for: one table, read by release:pack (what to
// build and how), the platform packages' package.json, and the binary checks.
//
// - `triple`: Rust's target; `zig`: what cargo-zigbuild is given (a `.2.17` suffix pins the
//   glibc symbol versions the binary may use, as napi-rs projects do: Node 20 itself needs 2.28);
// - `file`: what cargo writes for the cdylib; `node`: the addon's name in its package
//   (`pulsing.<name>.node`, as the generated loader `native/binding.cjs` requires it);
// - `macos`: the oldest macOS it runs on (Node 20's own floor), the deployment target it is
//   built for (zig's default is its newest);
// - `os`, `cpu`, `libc`: the package.json fields npm picks the package by.
export const PLATFORMS = [
  { name: 'linux-x64-gnu', triple: 'x86_64-unknown-linux-gnu', zig: 'x86_64-unknown-linux-gnu.2.17', os: 'linux', cpu: 'x64', libc: 'glibc', file: 'libpulsing_node.so', describe: 'Linux x64 (glibc 2.17 or later)' },
  { name: 'linux-arm64-gnu', triple: 'aarch64-unknown-linux-gnu', zig: 'aarch64-unknown-linux-gnu.2.17', os: 'linux', cpu: 'arm64', libc: 'glibc', file: 'libpulsing_node.so', describe: 'Linux arm64 (glibc 2.17 or later)' },
  { name: 'linux-x64-musl', triple: 'x86_64-unknown-linux-musl', zig: 'x86_64-unknown-linux-musl', os: 'linux', cpu: 'x64', libc: 'musl', file: 'libpulsing_node.so', describe: 'Linux x64 (musl: Alpine)' },
  { name: 'linux-arm64-musl', triple: 'aarch64-unknown-linux-musl', zig: 'aarch64-unknown-linux-musl', os: 'linux', cpu: 'arm64', libc: 'musl', file: 'libpulsing_node.so', describe: 'Linux arm64 (musl: Alpine)' },
  { name: 'darwin-x64', triple: 'x86_64-apple-darwin', zig: 'x86_64-apple-darwin', os: 'darwin', cpu: 'x64', file: 'libpulsing_node.dylib', macos: '10.15', describe: 'macOS x64 (10.15 or later)' },
  { name: 'darwin-arm64', triple: 'aarch64-apple-darwin', zig: 'aarch64-apple-darwin', os: 'darwin', cpu: 'arm64', file: 'libpulsing_node.dylib', macos: '11.0', describe: 'macOS arm64 (Apple silicon, 11 or later)' },
];

/** The addon's file name in the package of `p`. */
export const addonName = (p) => `pulsing.${p.name}.node`;

/** The npm package of `p`. */
export const packageName = (p) => `pulsing-${p.name}`;

/** The package.json of `p`'s package, at `version`. */
export function packageJson(p, version) {
  return {
    name: packageName(p),
    version,
    description: `Prebuilt native addon of pulsing for ${p.describe}`,
    license: 'Apache-2.0',
    main: addonName(p),
    files: [addonName(p), 'LICENSE'],
    os: [p.os],
    cpu: [p.cpu],
    ...(p.libc ? { libc: [p.libc] } : {}),
    engines: { node: '>=20' },
    repository: { type: 'git', url: 'git+https://github.com/pulsing-node/pulsing.git' },
  };
}
