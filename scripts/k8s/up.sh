#!/usr/bin/env bash
# Starts the one-node test cluster: etcd and kube-apiserver on 127.0.0.1, Debian's containerd with the local images,
# the kubelet on the node bridge (nsg-k8s0, 10.244.0.1), kube-controller-manager and kube-scheduler. Writes
# $RUN/env (KUBECONFIG=..., NODE_IP=...) and returns once the node is Ready and the default ServiceAccount exists.
# Any failure tears everything down again (down.sh) and exits non-zero with the log that says why.
# No kube-proxy and no DNS: Services are virtual addresses only the sidecars resolve (docs/kubernetes.md).
# Run as root, under the lab lock (flock /tmp/nanoseg-lab.lock).
set -euo pipefail
. "$(dirname "$0")/common.sh"
[ "$(id -u)" = 0 ] || die "the test cluster needs root (cgroups, network namespaces, mounts)"
have_binaries || die "no Kubernetes binaries in $BIN: run scripts/k8s/prepare.sh"
[ -f "$DEBS/.done" ] && [ -f "$IMAGES/.done" ] || die "packages or images missing: run scripts/k8s/prepare.sh"
"$K8S_SCRIPTS/down.sh" --quiet
t0=$(date +%s.%N)
elapsed() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
mkdir -p "$RUN"/{logs,pki,cni/net.d,containerd,kubelet,pod-logs}
trap 'status=$?; if [ $status != 0 ]; then log "start failed; logs in $CACHE/last-run"; "$K8S_SCRIPTS/down.sh" --quiet; fi' EXIT
P=$RUN/pki; L=$RUN/logs
export PATH=$BIN:$DEB_ROOT/usr/bin:$DEB_ROOT/usr/sbin:$PATH

fill() { sed -e "s|@RUN@|$RUN|g" -e "s|@DEB_ROOT@|$DEB_ROOT|g" -e "s|@NODE_IP@|$NODE_IP|g" -e "s|@BRIDGE@|$BRIDGE|g" \
  -e "s|@POD_CIDR@|$POD_CIDR|g" "$1"; }
# daemon NAME CMD...: runs in the background, detached from our stdio, PID in $RUN/NAME.pid
daemon() { local n=$1; shift; nohup "$@" </dev/null >"$L/$n.log" 2>&1 & echo $! >"$RUN/$n.pid"; }
alive() { kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null || { tail -n 30 "$L/$1.log" >&2; die "$1 exited"; }; }
wait_for() { # WHAT TIMEOUT_S DAEMON CMD...
  local what=$1 limit=$2 d=$3 end
  shift 3
  end=$(($(date +%s) + limit))
  until "$@" >/dev/null 2>&1; do
    [ -z "$d" ] || alive "$d"
    [ "$(date +%s)" -lt "$end" ] || die "timed out after ${limit}s waiting for $what"
    sleep 0.2
  done
}

# which host folders exist before: down.sh removes only those this run made
for d in "${HOST_DIRS[@]}"; do [ -e "$d" ] || echo "$d"; done >"$RUN/host-dirs"
for s in "${HOST_SYSCTLS[@]}"; do [ -e "/proc/sys/$s" ] && echo "$s=$(cat "/proc/sys/$s")"; done >"$RUN/sysctls"

# certificates: a CA, the apiserver's serving certificate, service-account keys, an admin token
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$P/ca.key" -out "$P/ca.crt" \
  -days 30 -subj /CN=nanoseg-test-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$P/apiserver.key" \
  -out "$P/apiserver.csr" -subj /CN=kube-apiserver 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,IP:%s,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n' \
  "$NODE_IP" >"$P/apiserver.ext"
openssl x509 -req -in "$P/apiserver.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 30 \
  -extfile "$P/apiserver.ext" -out "$P/apiserver.crt" 2>/dev/null
openssl genrsa -out "$P/sa.key" 2048 2>/dev/null
openssl rsa -in "$P/sa.key" -pubout -out "$P/sa.pub" 2>/dev/null
TOKEN=$(openssl rand -hex 24)
echo "$TOKEN,admin,admin,system:masters" >"$P/tokens.csv"
KUBECONFIG=$RUN/admin.kubeconfig
cat >"$KUBECONFIG" <<KC
apiVersion: v1
kind: Config
clusters:
- name: nanoseg-test
  cluster: {server: "https://127.0.0.1:$API_PORT", certificate-authority: "$P/ca.crt"}
users:
- name: admin
  user: {token: "$TOKEN"}
contexts:
- name: nanoseg-test
  context: {cluster: nanoseg-test, user: admin}
current-context: nanoseg-test
KC
export KUBECONFIG
for p in $ETCD_PORT $ETCD_PEER_PORT $API_PORT 10248 10250 10257 10259; do
  ! ss -Hltn "sport = :$p" | grep -q . || die "port $p is in use"
done

# etcd, then the apiserver (no endpoint reconciler: a loopback advertise address is fatal to it; aggregator routing:
# webhooks behind a Service are dialled at the Service's endpoints, as there is no kube-proxy)
daemon etcd nice -n 5 env GOMAXPROCS=1 etcd --name nanoseg --data-dir "$RUN/etcd" --unsafe-no-fsync --log-level warn \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "nanoseg=http://127.0.0.1:$ETCD_PEER_PORT"
daemon kube-apiserver nice -n 5 env GOMAXPROCS=2 kube-apiserver --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port=$API_PORT \
  --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" --client-ca-file="$P/ca.crt" \
  --token-auth-file="$P/tokens.csv" --authorization-mode=Node,RBAC \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
  --service-cluster-ip-range=$SERVICE_CIDR --allow-privileged=true --endpoint-reconciler-type=none \
  --kubelet-preferred-address-types=InternalIP,Hostname --profiling=false \
  --enable-aggregator-routing=true
api_ready() { [ "$(curl -s --cacert "$P/ca.crt" -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$API_PORT/readyz")" = ok ]; }
wait_for "the apiserver (/readyz)" 120 kube-apiserver api_ready
log "apiserver ready after $(elapsed) s"

# containerd and the images
fill "$K8S_SCRIPTS/containerd.toml" >"$RUN/containerd/config.toml"
fill "$K8S_SCRIPTS/cni.conflist" >"$RUN/cni/net.d/10-nanoseg.conflist"
CTR=(ctr -a "$RUN/containerd/containerd.sock" -n k8s.io)
daemon containerd nice -n 5 containerd --config "$RUN/containerd/config.toml"
wait_for containerd 30 containerd "${CTR[@]}" version
for t in "$IMAGES"/*.tar; do "${CTR[@]}" images import "$t" >/dev/null; done

# the node bridge, then the kubelet (it sets host sysctls at start: put back as soon as it has)
ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
ip addr replace "$NODE_IP/${POD_CIDR#*/}" dev "$BRIDGE"
ip link set "$BRIDGE" up
fill "$K8S_SCRIPTS/kubelet-config.yaml" >"$RUN/kubelet/config.yaml"
daemon kubelet nice -n 5 env GOMAXPROCS=1 kubelet --config="$RUN/kubelet/config.yaml" --kubeconfig="$KUBECONFIG" \
  --root-dir="$RUN/kubelet" --cert-dir="$RUN/kubelet/pki" --hostname-override=$NODE_NAME --node-ip=$NODE_IP -v=1
wait_for "the node to register" 60 kubelet kubectl get node $NODE_NAME
"$K8S_SCRIPTS/down.sh" --restore-sysctls

# controllers: the default ServiceAccount, kube-root-ca.crt, namespace deletion, Deployments, garbage collection
daemon kube-controller-manager nice -n 5 env GOMAXPROCS=1 kube-controller-manager --kubeconfig="$KUBECONFIG" \
  --authentication-kubeconfig="$KUBECONFIG" --authorization-kubeconfig="$KUBECONFIG" --bind-address=127.0.0.1 \
  --leader-elect=false --root-ca-file="$P/ca.crt" --service-account-private-key-file="$P/sa.key" \
  --service-cluster-ip-range=$SERVICE_CIDR --use-service-account-credentials=false --controllers='*'
daemon kube-scheduler nice -n 5 env GOMAXPROCS=1 kube-scheduler --kubeconfig="$KUBECONFIG" \
  --authentication-kubeconfig="$KUBECONFIG" --authorization-kubeconfig="$KUBECONFIG" --bind-address=127.0.0.1 \
  --leader-elect=false
wait_for "the node to be Ready" 60 kubelet kubectl wait --for=condition=Ready node/$NODE_NAME --timeout=2s
wait_for "the default ServiceAccount" 60 kube-controller-manager kubectl -n default get serviceaccount default
"$K8S_SCRIPTS/down.sh" --restore-sysctls
cat >"$RUN/env" <<ENV
KUBECONFIG=$KUBECONFIG
KUBECTL=$BIN/kubectl
NODE_IP=$NODE_IP
NODE_NAME=$NODE_NAME
POD_CIDR=$POD_CIDR
SERVICE_CIDR=$SERVICE_CIDR
CA_CERT=$P/ca.crt
ENV
log "cluster up in $(elapsed) s (env: $RUN/env)"
