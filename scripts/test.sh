#!/usr/bin/env bash
# Runs the whole test suite (unit, integration with a real Envoy, end to end in the lab), after lint and the format
# check and one quick run of every benchmark so they keep working (their targets are judged by full
# `npm run bench` runs, not here).
# Installs what it needs. NANOSEG_SKIP_BENCH=1 skips the benchmark smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
echo "== lint and format check (npm run lint: eslint with the import boundaries, prettier --check)"
lint=0
npm run -s lint || lint=$?
[ "$lint" = 0 ] || echo "lint FAILED (exit $lint); npm run format fixes formatting"
bench=0
if [ "${NANOSEG_SKIP_BENCH:-0}" != 1 ]; then
  echo "== benchmark smoke run (npm run bench -- --quick)"
  mkdir -p bench-results
  npm run -s bench -- --quick >bench-results/smoke.log 2>&1 || bench=$?
  tail -n 40 bench-results/smoke.log
  [ "$bench" = 0 ] || echo "benchmark smoke run FAILED (exit $bench): see bench-results/smoke.log"
fi
status=0
node scripts/run-tests.mjs "$@" || status=$?
[ "$bench" = 0 ] || status=1
[ "$lint" = 0 ] || status=1
exit "$status"
