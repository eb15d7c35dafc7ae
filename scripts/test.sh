#!/usr/bin/env bash
# `npm test`: cargo test, then vitest, each under a time limit, so that a hang fails with the
# name of what hung instead of holding the machine (or CI) until some outer limit.
# - Every cargo test binary runs under scripts/bounded.sh (cargo's runner for this host):
#   PULSING_TEST_BINARY_SECONDS, 600 by default. libtest names a test running over 60 s.
# - The vitest run as a whole: PULSING_VITEST_SECONDS, 1200 by default (each test has its
#   own 20 s limit in vitest.config.mjs; this catches a run that never ends).
set -uo pipefail
cd "$(dirname "$0")/.."
triple=$(rustc -vV | sed -n 's/^host: //p')
export "CARGO_TARGET_$(printf %s "$triple" | tr 'a-z-' 'A-Z_')_RUNNER=$PWD/scripts/bounded.sh"
cargo test --workspace || exit $?
limit=${PULSING_VITEST_SECONDS:-1200}
timeout --kill-after=15 "$limit" vitest run
rc=$?
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  echo "HUNG: vitest ran over ${limit} s and was stopped (PULSING_VITEST_SECONDS)" >&2
fi
exit "$rc"
