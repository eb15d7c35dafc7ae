#!/usr/bin/env bash
# `npm run test:registry`: install pulsing as a user meets it.
#
# Packs the release tarballs (npm run release:pack), publishes them to a throwaway verdaccio
# registry on 127.0.0.1 (other packages are proxied from the usual registry), installs
# `pulsing` into an empty project with cargo and rustc off PATH, and runs there: an ESM
# script, a CommonJS script, an esbuild bundle (the documented recipe), `tsc` under
# `nodenext` and `bundler` resolution, a vitest run that inlines the package, and attw.
# Any failure fails the script. Set SKIP_PACK=1 to reuse release/ as it is.
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
  step "release:pack"
  npm run release:pack
fi
version=$(node -p "require('./package.json').version")
main_tgz="release/pulsing-$version.tgz"
[ -f "$main_tgz" ] || { echo "missing $main_tgz"; exit 1; }

upstream=$(npm config get registry)
step "verdaccio on 127.0.0.1 (upstream $upstream)"
npm install --prefix "$work/verdaccio" --no-audit --no-fund --loglevel=error verdaccio@6 >/dev/null
port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
cat > "$work/verdaccio.yaml" <<EOF
storage: $work/storage
auth:
  htpasswd:
    file: $work/htpasswd
    max_users: 10
uplinks:
  upstream:
    url: $upstream
packages:
  'pulsing':
    access: \$all
    publish: \$authenticated
  'pulsing-*':
    access: \$all
    publish: \$authenticated
  '**':
    access: \$all
    proxy: upstream
log: { type: stdout, format: pretty, level: warn }
EOF
"$work/verdaccio/node_modules/.bin/verdaccio" --config "$work/verdaccio.yaml" --listen "127.0.0.1:$port" > "$work/verdaccio.log" 2>&1 &
vd_pid=$!
reg="http://127.0.0.1:$port/"
for _ in $(seq 1 100); do
  curl -sf "${reg}-/ping" >/dev/null && break
  kill -0 "$vd_pid" 2>/dev/null || { cat "$work/verdaccio.log"; echo "verdaccio exited"; exit 1; }
  sleep 0.1
done
curl -sf "${reg}-/ping" >/dev/null || { cat "$work/verdaccio.log"; echo "verdaccio did not start"; exit 1; }
token=$(curl -sf -X PUT -H 'content-type: application/json' -d '{"name":"ci","password":"ci-password"}' \
  "${reg}-/user/org.couchdb.user:ci" | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(JSON.parse(s).token))")
# Every npm call below uses this registry, a fresh cache (the tarballs keep their version
# between runs) and no user config of the machine.
export NPM_CONFIG_USERCONFIG="$work/npmrc" NPM_CONFIG_CACHE="$work/cache"
printf 'registry=%s\n//127.0.0.1:%s/:_authToken=%s\n' "$reg" "$port" "$token" > "$NPM_CONFIG_USERCONFIG"

step "publish"
for t in release/pulsing-*-"$version".tgz "$main_tgz"; do
  npm publish "./$t" --loglevel=error
done

step "install into an empty project, without cargo or rustc on PATH"
app="$work/app"
mkdir -p "$app"
cp -r "$repo/scripts/registry-app/." "$app/"
# The same checks as an ES module, resolved through the "import" condition.
cp "$app/check.ts" "$app/check.mts"
# PATH without the directories that hold cargo or rustc.
user_path=$(node -e "const fs=require('fs'),p=require('path');console.log(process.env.PATH.split(':').filter(d=>!['cargo','rustc'].some(b=>fs.existsSync(p.join(d,b)))).join(':'))")
(
  cd "$app"
  export PATH="$user_path"
  if command -v cargo >/dev/null || command -v rustc >/dev/null; then echo "cargo is still on PATH"; exit 1; fi
  npm install --no-audit --no-fund --loglevel=error "pulsing@$version" typescript@~5.9.3 @types/node@^20.19.0 esbuild vitest@^4.1.0 @arethetypeswrong/cli
  test -f node_modules/pulsing-linux-x64-gnu/pulsing.linux-x64-gnu.node || { echo "the platform package was not installed"; exit 1; }
  if find node_modules/pulsing -name '*.node' | grep -q .; then echo "the main package carries a .node file"; exit 1; fi

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
