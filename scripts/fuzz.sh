#!/usr/bin/env bash
# Fuzz the decoders that read peers' bytes, each for a bounded time (FUZZ_SECONDS, 60 by
# default), on the nightly toolchain (the product itself builds on stable). Installs
# cargo-fuzz when missing. The corpus lives in crates/pulsing-actor/fuzz/corpus/<target>.
# Prints, per target, the executions per second libFuzzer reported; fails on any crash, and
# on any other failure of cargo fuzz (a build error, a bad option) by its exit status.
set -uo pipefail
cd "$(dirname "$0")/../crates/pulsing-actor" || exit 1
secs=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-"frame_decoder gossip_decoder msgpack_decode"}
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked || { echo "cannot install cargo-fuzz"; exit 1; }
fi
for t in $targets; do
  mkdir -p "fuzz/corpus/$t"
  log=$(mktemp)
  echo "== $t: ${secs}s"
  cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 >"$log" 2>&1
  rc=$?
  grep -E '^#[0-9]+ +DONE|ERROR|panicked' "$log" || true
  if [ "$rc" -ne 0 ] || grep -qE 'ERROR: libFuzzer|panicked|deadly signal' "$log"; then
    tail -40 "$log"
    echo "$t: FAILED (cargo fuzz exit $rc; artifacts, if any, in crates/pulsing-actor/fuzz/artifacts/$t)"
    exit 1
  fi
  runs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  echo "{\"target\":\"$t\",\"seconds\":$secs,\"runs\":${runs:-0},\"execs_per_s\":$(( ${runs:-0} / secs ))}"
  rm -f "$log"
done
