#!/usr/bin/env bash
# The nanoseg demo: a small shop runs in the lab (pods as network namespaces, each with a real Envoy sidecar);
# nanoseg learns every service's connections from the sidecars' access logs, tells when each service's topology
# has converged, switches the shop to enforce, and shows a "compromised" frontend blocked from the database and
# from an unknown external host (with alerts) while the shop's own traffic keeps working. No Kubernetes needed.
# Run as root.
#   QUIET=20s   quiet period before a service can converge (default 20s for the demo; 10m in production)
#   KEEP=1      leave the lab and the control plane running at the end (stop with: scripts/demo.sh --down)
# scripts/demo.sh --kubernetes: the same story on the project's own one-node Kubernetes (scripts/demo-kubernetes.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--kubernetes" ]; then shift; exec ./scripts/demo-kubernetes.sh "$@"; fi
ROOT=$(pwd)
DEMO=${NANOSEG_DEMO_DIR:-/tmp/nanoseg-demo}
QUIET=${QUIET:-20s}
nanoseg() { "$ROOT/bin/nanoseg.js" --api-socket "$DEMO/api.sock" "$@"; }
export NANOSEG_LAB_DIR="$DEMO/lab"

if [ "$(id -u)" != 0 ]; then echo "the demo builds network namespaces: run it as root" >&2; exit 1; fi

down() {
  nanoseg lab down >/dev/null 2>&1 || true
  if [ -f "$DEMO/serve.pid" ]; then kill "$(cat "$DEMO/serve.pid")" 2>/dev/null || true; rm -f "$DEMO/serve.pid"; fi
}
if [ "${1:-}" = "--down" ]; then down; exit 0; fi

./scripts/setup.sh
down
rm -rf "$DEMO" && mkdir -p "$DEMO"
cleanup() { if [ "${KEEP:-0}" != 1 ]; then down; fi; }
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "control plane: nanoseg serve --quiet-period $QUIET (state in $DEMO/state, log $DEMO/serve.log)"
"$ROOT/bin/nanoseg.js" serve --state-dir "$DEMO/state" --api-socket "$DEMO/api.sock" --xds-socket "$DEMO/xds.sock" \
  --xds-address off --metrics-address 127.0.0.1:15014 --quiet-period "$QUIET" >"$DEMO/serve.log" 2>&1 &
echo $! >"$DEMO/serve.pid"
for _ in $(seq 50); do [ -S "$DEMO/api.sock" ] && break; sleep 0.2; done
nanoseg status >/dev/null

step "lab: nanoseg lab up -f xds-server/examples/shop.yaml"
sed -n '/^pods:/,$p' xds-server/examples/shop.yaml
nanoseg lab up -f xds-server/examples/shop.yaml
nanoseg lab list

step "learning: every connection goes through a sidecar and is reported to the control plane"
deadline=$((SECONDS + 240))
while :; do
  sleep 5
  out=$(nanoseg services)
  printf '\n%s\n' "$out"
  if ! grep -q learning <<<"$out" && [ "$(nanoseg services -o json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).length))')" -ge 4 ]; then break; fi
  if [ $SECONDS -gt $deadline ]; then echo "services did not converge in time; see $DEMO/serve.log" >&2; exit 1; fi
done

step "every service converged: the learned nano-segments"
for svc in $(nanoseg services -o json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).map(x=>x.name).join(" ")))'); do
  echo
  nanoseg policy show "$svc"
done

step "enforce: nanoseg mode --all enforce (the learned policy is frozen and pushed as RBAC to every sidecar)"
nanoseg mode --all enforce
sleep 2

APP="python3 $ROOT/xds-server/examples/apps/traffic.py call --count 1"
attempt() { # POD TARGET: run one call inside POD, say whether it got through
  if nanoseg lab exec "$1" -- $APP "$2" >/dev/null 2>&1; then echo "  $1 → $2: allowed"; else echo "  $1 → $2: BLOCKED"; fi
}
step "a compromised frontend (web-1) tries the database directly and an unknown external host"
attempt web-1 tcp://db.shop:5432
attempt web-1 http://203.0.113.66:80/
step "the shop's own traffic keeps working"
attempt loadgen http://web.shop:8080/
attempt web-2 http://api.shop:9090/items
attempt api-1 tcp://db.shop:5432
attempt api-1 http://payments:443/charge

step "alerts: who tried what, and which rule is missing (nanoseg alerts; also in $DEMO/state/audit.jsonl)"
sleep 2
nanoseg alerts

step "the frontend's policy as code (nanoseg policy show shop/web -o yaml; edit it and nanoseg policy apply -f FILE)"
nanoseg policy show shop/web -o yaml

step "control plane status"
nanoseg status
if [ "${KEEP:-0}" = 1 ]; then
  echo; echo "lab left running (KEEP=1): try NANOSEG_LAB_DIR=$DEMO/lab bin/nanoseg.js --api-socket $DEMO/api.sock services; stop with scripts/demo.sh --down"
fi
