#!/usr/bin/env bash
# Runs the whole test suite (unit, integration with a real Envoy, end to end in the lab), after lint and the format
# check and one quick run of every benchmark so they keep working (their targets are judged by full
# `npm run bench` runs, not here): the benchmarks on the test cluster (k8s-*) after the cluster e2e, once its binaries
# are built, the others next to the unit and integration tests.
# Installs what it needs. NANOSEG_SKIP_BENCH=1 skips the benchmark smoke run; arguments (file filters for
# scripts/run-tests.mjs) run just those tests, without the benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
# The test cluster's binaries (scripts/k8s/prepare.sh: minutes of Go builds when cold, nothing when cached) build in
# the background at nice 19 while everything else runs; the cluster test, run last, waits for them (prepare.sh
# holds a lock its second run waits on).
k8s_pid=
if [ "$#" = 0 ] && [ "$(id -u)" = 0 ] && [ "${NANOSEG_SETUP_K8S:-1}" = 1 ]; then
  NANOSEG_SETUP_K8S=0 ./scripts/setup.sh
  mkdir -p .cache
  nice -n 19 scripts/k8s/prepare.sh >.cache/k8s-prepare.log 2>&1 &
  k8s_pid=$!
else
  ./scripts/setup.sh
fi
# Time per phase, so the next engineer sees where the suite's minutes go.
phase() { printf '== %s (at %dm%02ds)\n' "$1" $((SECONDS / 60)) $((SECONDS % 60)); }
# Lint and the unit and integration tests never touch the lab (their namespaces, cgroups and bpffs have names of their own),
# so they run next to the benchmark smoke run, which uses the lab; the lab's end-to-end tests run after both.
# Their figures are not judged here (quick runs), only that every benchmark still runs.
record=$(mktemp -d)
trap 'rm -rf "$record"' EXIT
export NANOSEG_GOLDEN_RECORD="$record"
bench=0
bench_pid=
mkdir -p bench-results
if [ "$#" = 0 ] && [ "${NANOSEG_SKIP_BENCH:-0}" != 1 ]; then
  phase "benchmark smoke run (npm run bench -- --quick --no-cluster, log in bench-results/smoke.log), next to unit + integration"
  npm run -s bench -- --quick --no-cluster >bench-results/smoke.log 2>&1 &
  bench_pid=$!
fi
phase "lint and format check (npm run lint: eslint with the import boundaries, prettier --check)"
lint=0
npm run -s lint || lint=$?
[ "$lint" = 0 ] || echo "lint FAILED (exit $lint); npm run format fixes formatting"
status=0
if [ "$#" = 0 ]; then
  phase "unit and integration tests"
  node scripts/run-tests.mjs --only unit,integration || status=$?
  if [ -n "$bench_pid" ]; then
    wait "$bench_pid" || bench=$?
    phase "benchmark smoke run done"
    tail -n 40 bench-results/smoke.log
    [ "$bench" = 0 ] || {
      echo "benchmark smoke run FAILED (exit $bench): see bench-results/smoke.log; what crashed:"
      grep -E '\] crashed:|\(crashed\)' -A 12 bench-results/smoke.log | head -n 60
    }
  fi
  phase "end-to-end tests in the lab, then the golden-file check"
  node scripts/run-tests.mjs --skip unit,integration || status=$?
  if [ -n "$bench_pid" ] && [ "$(id -u)" = 0 ]; then
    phase "cluster benchmark smoke run (npm run bench -- --quick k8s-webhook k8s-churn k8s-pod-policy, log in bench-results/smoke-cluster.log)"
    k8s_bench=0
    npm run -s bench -- --quick k8s-webhook k8s-churn k8s-pod-policy >bench-results/smoke-cluster.log 2>&1 || k8s_bench=$?
    tail -n 25 bench-results/smoke-cluster.log
    [ "$k8s_bench" = 0 ] || {
      echo "cluster benchmark smoke run FAILED (exit $k8s_bench): see bench-results/smoke-cluster.log; what crashed:"
      grep -E '\] crashed:|\(crashed\)' -A 12 bench-results/smoke-cluster.log | head -n 60
      bench=1
    }
  fi
else
  node scripts/run-tests.mjs "$@" || status=$?
fi
if [ -n "$k8s_pid" ]; then
  wait "$k8s_pid" || { echo "scripts/k8s/prepare.sh FAILED: see .cache/k8s-prepare.log"; tail -n 20 .cache/k8s-prepare.log; status=1; }
fi
phase "done"
[ "$bench" = 0 ] || status=1
[ "$lint" = 0 ] || status=1
exit "$status"
