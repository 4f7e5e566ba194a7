#!/usr/bin/env bash
# Runs the whole test suite (unit, integration with a real Envoy, end to end in the lab). Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec node scripts/run-tests.mjs "$@"
