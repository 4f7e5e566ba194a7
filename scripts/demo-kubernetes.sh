#!/usr/bin/env bash
# The nanoseg demo on Kubernetes (`scripts/demo.sh --kubernetes`): the project's own one-node cluster (scripts/k8s/:
# etcd, kube-apiserver, the kubelet with Debian's containerd and runc, controller-manager and scheduler; its binaries
# are built from the Go module proxy on the first run, which takes a while) runs a small shop. `nanoseg serve
# --kubernetes` on the host injects the Envoy sidecar into the labelled namespace, learns web → api per Deployment
# from real traffic to a ClusterIP, mirrors it into NanoSegments, and once `kubectl annotate … nanoseg.io/mode=enforce`
# blocks the off-segment call of a "compromised" web pod, with a NanosegDenied Event on that pod. The cluster is torn
# down at the end (KEEP=1 leaves it up; stop it with scripts/demo.sh --kubernetes --down).
# Run as root. The cluster has no kube-proxy and no DNS (docs/kubernetes.md): ClusterIPs work through sidecars.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEMO=${NANOSEG_DEMO_DIR:-/tmp/nanoseg-demo-k8s}
LOCK=/tmp/nanoseg-lab.lock
WEBHOOK_PORT=19443 # the port xds-server/examples/kubernetes/webhooks.yaml names
XDS_TLS_PORT=25012
nanoseg() { "$ROOT/bin/nanoseg.js" --api-socket "$DEMO/api.sock" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ "$(id -u)" != 0 ]; then echo "the Kubernetes demo starts a cluster (cgroups, network namespaces, mounts): run it as root" >&2; exit 1; fi

down() {
  if [ -f "$DEMO/serve.pid" ]; then kill "$(cat "$DEMO/serve.pid")" 2>/dev/null || true; rm -f "$DEMO/serve.pid"; fi
  scripts/k8s/down.sh
}
# one lab or cluster per machine: the tests and benchmarks take the same lock
exec 9>"$LOCK"
if ! flock -n 9; then echo "another lab or test cluster is running (it holds $LOCK); try again when it is done" >&2; exit 1; fi
if [ "${1:-}" = "--down" ]; then down; exit 0; fi

./scripts/setup.sh
step "the test cluster's binaries and images (scripts/k8s/prepare.sh; the first run builds them, later runs reuse them)"
scripts/k8s/prepare.sh
rm -rf "$DEMO" && mkdir -p "$DEMO"
cleanup() {
  status=$?
  if [ "${KEEP:-0}" = 1 ] && [ $status = 0 ]; then return; fi
  step "tear down: the control plane, then the cluster (scripts/k8s/down.sh)"
  down
}
trap cleanup EXIT

step "a one-node Kubernetes (scripts/k8s/up.sh)"
scripts/k8s/up.sh 2>&1 | tee "$DEMO/up.log"
ENV_FILE=$(sed -n 's/.*(env: \([^)]*\)).*/\1/p' "$DEMO/up.log" | tail -n 1)
[ -f "$ENV_FILE" ] || { echo "scripts/k8s/up.sh did not say where its env file is" >&2; exit 1; }
# shellcheck disable=SC1090
. "$ENV_FILE"
export KUBECONFIG
k() { "$KUBECTL" "$@"; }

step "control plane on the host: nanoseg serve --kubernetes (log in $DEMO/serve.log)"
"$ROOT/bin/nanoseg.js" serve --state-dir "$DEMO/state" --api-socket "$DEMO/api.sock" --xds-socket "$DEMO/xds.sock" \
  --xds-address off --metrics-address off --quiet-period 20s \
  --kubernetes --kubeconfig "$KUBECONFIG" \
  --webhook-host 127.0.0.1 --webhook-port "$WEBHOOK_PORT" --webhook-dns-names localhost \
  --xds-tls-address "$NODE_IP:$XDS_TLS_PORT" --xds-tls-names "$NODE_IP" --sidecar-xds-address "$NODE_IP:$XDS_TLS_PORT" \
  --proxy-image nanoseg/proxy:dev --init-image nanoseg/init:dev >"$DEMO/serve.log" 2>&1 &
echo $! >"$DEMO/serve.pid"
for _ in $(seq 100); do [ -S "$DEMO/api.sock" ] && break; sleep 0.2; done
nanoseg status >/dev/null

step "the NanoSegment CRD and the webhooks (the apiserver reaches them on localhost; the control plane fills their caBundle in)"
k apply -f manifests/base/crd-nanosegment.yaml
k apply -f xds-server/examples/kubernetes/webhooks.yaml
wait_until() { # WHAT SECONDS CMD...: polls CMD every second
  local what=$1 end=$((SECONDS + $2))
  shift 2
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $end ]; then echo "timed out waiting for $what; see $DEMO/serve.log" >&2; return 1; fi
    sleep 1
  done
}
ca_published() { [ -n "$(k get mutatingwebhookconfiguration nanoseg-injector -o jsonpath='{.webhooks[0].clientConfig.caBundle}')" ]; }
wait_until "the webhook's caBundle" 30 ca_published

step "kubectl label namespace shop nanoseg.io/inject=enabled"
k create namespace shop
k label namespace shop nanoseg.io/inject=enabled
wait_until "the default ServiceAccount of shop" 30 k -n shop get serviceaccount default
# the apiserver picks a new webhook configuration up asynchronously: wait until a dry run is injected
mutated() { k -n shop run probe --image=local/busybox:1 --image-pull-policy=Never --dry-run=server -o jsonpath='{.spec.initContainers[*].name}' -- sleep 1 | grep -q nanoseg-proxy; }
wait_until "the injector to answer for shop" 30 mutated

step "the shop: api (HTTP on 9090 behind a ClusterIP Service; 9091 open to anyone, called by no one) and web (calls api's ClusterIP)"
k apply -f xds-server/examples/kubernetes/shop-api.yaml -f xds-server/examples/kubernetes/shop-web.yaml
# the pods are Ready only once their sidecar has its config from the control plane
k -n shop wait --for=condition=Ready pod -l app=api --timeout=120s
k -n shop wait --for=condition=Ready pod -l app=web --timeout=120s
k -n shop get pods -o 'custom-columns=POD:.metadata.name,CONTAINERS:.spec.containers[*].name,INIT:.spec.initContainers[*].name,IP:.status.podIP'

step "learning: web → api is learned per Deployment, the ClusterIP attributed to the service behind it"
learned() { nanoseg policy show shop/web -o json | grep -q '"shop/api"'; }
wait_until "shop/web → shop/api to be learned" 90 learned
nanoseg services
nanoseg policy show shop/web
segments() { [ "$(k -n shop get nanosegments -o jsonpath='{.items[*].status.edges}')" = "1 1" ]; }
wait_until "the NanoSegments' status" 30 segments
echo
k -n shop get nanosegments

step "kubectl -n shop annotate deploy/web nanoseg.io/mode=enforce"
k -n shop annotate deployment web nanoseg.io/mode=enforce
enforced() { nanoseg services -o json | grep -q '"mode": *"enforce"'; }
wait_until "shop/web in enforce" 30 enforced
nanoseg services

WEB=$(k -n shop get pod -l app=web -o jsonpath='{.items[0].metadata.name}')
API_IP=$(k -n shop get pod -l app=api -o jsonpath='{.items[0].status.podIP}')
CLUSTER_IP=$(k -n shop get service api -o jsonpath='{.spec.clusterIP}')
attempt() { # URL: one call from inside the web pod, as a compromised web would make it
  if out=$(k -n shop exec "$WEB" -c web -- timeout 3 wget -q -O - "$1" 2>&1); then
    echo "  $WEB → $1: allowed ($out)"
  else
    echo "  $WEB → $1: BLOCKED"
  fi
}
step "the allowed call keeps working; a compromised web pod tries api's other port"
attempt "http://$CLUSTER_IP:9090/"
attempt "http://$API_IP:9091/"

step "kubectl -n shop get events --field-selector reason=NanosegDenied"
denied() { k -n shop get events --field-selector reason=NanosegDenied -o name | grep -q .; }
wait_until "a NanosegDenied Event" 30 denied
k -n shop get events --field-selector reason=NanosegDenied -o 'custom-columns=POD:.involvedObject.name,REASON:.reason,MESSAGE:.message'
echo
k -n shop get nanosegments
if [ "${KEEP:-0}" = 1 ]; then
  echo
  echo "cluster left running (KEEP=1): KUBECONFIG=$KUBECONFIG $KUBECTL -n shop get nanosegments;"
  echo "bin/nanoseg.js --api-socket $DEMO/api.sock services; stop with scripts/demo.sh --kubernetes --down"
fi
