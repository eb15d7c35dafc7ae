#!/usr/bin/env bash
# Cargo's runner for test binaries under `npm test` (see scripts/test.sh): runs one binary
# with its arguments under a time limit and, if it hangs, says which binary it was.
limit=${PULSING_TEST_BINARY_SECONDS:-600}
timeout --kill-after=10 "$limit" "$@"
rc=$?
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  echo "HUNG: test binary $(basename "$1") ran over ${limit} s and was stopped (PULSING_TEST_BINARY_SECONDS; libtest names the tests running over 60 s above)" >&2
fi
exit "$rc"
