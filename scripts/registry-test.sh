#!/usr/bin/env bash
# `npm run test:registry`: install pulsing as a user meets it.
#
# Packs the release tarballs (npm run release:pack), publishes them to a throwaway verdaccio
# registry on 127.0.0.1 (other packages are proxied from the usual registry), installs
# `pulsing` into an empty project with cargo and rustc off PATH, and runs there: an ESM
# script, a CommonJS script, an esbuild bundle (the documented recipe), `tsc` under
# `nodenext` and `bundler` resolution, a vitest run that inlines the package, and attw.
# Any failure fails the script. Set SKIP_PACK=1 to reuse release/ as it is (then the platform
# packages found there are all published).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
work=$(mktemp -d)
vd_pid=""
cleanup() {
  [ -n "$vd_pid" ] && kill "$vd_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n--- registry test: %s\n' "$*"; }

if [ -z "${SKIP_PACK:-}" ]; then
  # This machine's platform only: it is the one installed below (npm run test:platforms
  # builds and runs the others).
  step "release:pack -- --target linux-x64-gnu"
  npm run release:pack -- --target linux-x64-gnu
fi
version=$(node -p "require('./package.json').version")
main_tgz="release/pulsing-$version.tgz"
[ -f "$main_tgz" ] || { echo "missing $main_tgz"; exit 1; }

source scripts/lib/registry.sh
registry_start "$work"

step "publish"
registry_publish "$version"

step "install into an empty project, without cargo or rustc on PATH"
app="$work/app"
mkdir -p "$app"
cp -r "$repo/scripts/registry-app/." "$app/"
# The same checks as an ES module, resolved through the "import" condition.
cp "$app/check.ts" "$app/check.mts"
user_path=$(path_without_rust)
(
  cd "$app"
  export PATH="$user_path"
  if command -v cargo >/dev/null || command -v rustc >/dev/null; then echo "cargo is still on PATH"; exit 1; fi
  npm install --no-audit --no-fund --loglevel=error "pulsing@$version" typescript@~5.9.3 @types/node@^20.19.0 esbuild vitest@^4.1.0 @arethetypeswrong/cli
  test -f node_modules/pulsing-linux-x64-gnu/pulsing.linux-x64-gnu.node || { echo "the platform package was not installed"; exit 1; }
  if find node_modules/pulsing -name '*.node' | grep -q .; then echo "the main package carries a .node file"; exit 1; fi
  # Nothing of our build: no scripts (npm 11 would warn of an install script), no devDependencies.
  node -e "const p=require('./node_modules/pulsing/package.json'); if (p.scripts || p.devDependencies) { console.error('the published package.json has', Object.keys(p.scripts ?? {}), Object.keys(p.devDependencies ?? {})); process.exit(1) }"

  step "ESM"
  node esm.mjs
  step "CommonJS"
  node cjs.cjs
  step "esbuild bundle (pulsing external)"
  npx esbuild esm.mjs --bundle --platform=node --format=esm --external:pulsing --outfile=bundle.mjs --log-level=warning
  node bundle.mjs
  step "tsc, module nodenext"
  npx tsc -p tsconfig.nodenext.json
  step "tsc, moduleResolution bundler"
  npx tsc -p tsconfig.bundler.json
  step "vitest with the package inlined"
  npx vitest run --config vitest.config.mjs
  step "the CLI (npx pulsing)"
  npx pulsing --help | grep -q 'inspect cluster'
  set +e; npx pulsing inspect cluster --seeds 127.0.0.1:1 --timeout-ms 200 2>/dev/null; rc=$?; set -e
  test "$rc" = 1 || { echo "npx pulsing with no cluster exited $rc, not 1"; exit 1; }
  step "attw"
  npx attw "$repo/$main_tgz"
)
step "passed"
