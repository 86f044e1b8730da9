#!/usr/bin/env bash
# Runs `go test -v` over the given packages with the full output in a log file, prints one line
# per package and every failure in full, and lists the tests that skipped. Under CI=true a skip
# fails the run: .ci/run installs everything the tests need, so a skip there means a missing
# install step, not a missing machine feature.
#
#   tools/gotest.sh [go test flags] PACKAGES...      (log: $TEST_LOG, default _output/test.log)
set -uo pipefail
log=${TEST_LOG:-_output/test.log}
mkdir -p "$(dirname "$log")"
go test -v "$@" >"$log" 2>&1
rc=$?
grep -E '^(ok|FAIL|panic:)' "$log"
if [ "$rc" -ne 0 ]; then
  echo "--- failures (full log: $log) ---"
  grep -n -B2 -A60 -E '^[[:space:]]*--- FAIL|^panic:' "$log" | head -600
fi
skips=$(grep -E -A2 '^[[:space:]]*--- SKIP' "$log" || true)
if [ -n "$skips" ]; then
  echo "--- skipped tests ---"
  echo "$skips"
  if [ "${CI:-}" = true ]; then
    echo "CI: no test may skip here (.ci/run installs what every test needs)"
    rc=1
  fi
fi
passed=$(grep -cE '^[[:space:]]*--- PASS' "$log")
failed=$(grep -cE '^[[:space:]]*--- FAIL' "$log")
skipped=$(grep -cE '^[[:space:]]*--- SKIP' "$log")
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$rc"
