# Shared settings of the test cluster scripts (sourced, not run). Everything lives under the project's ignored
# .cache/k8s/ folder: binaries cached by version, unpacked Debian packages, images, and the running cluster's state.
# shellcheck shell=bash
K8S_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$K8S_SCRIPTS/../.." && pwd)
CACHE=${NANOSEG_K8S_CACHE:-$ROOT/.cache/k8s}
# the real path: /proc/mounts names the kubelet's mounts by it, so a cache reached through a symlink (a clone sharing
# another's binaries) would otherwise leave them behind, unseen by down.sh's check
[ ! -d "$CACHE" ] || CACHE=$(cd -P "$CACHE" && pwd)

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.0
BIN=$CACHE/bin/$K8S_VERSION
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl etcd)

# Debian packages fetched with apt-get download and unpacked here (never installed)
DEBS=$CACHE/debs
DEB_ROOT=$DEBS/root
DEB_PACKAGES=(containerd runc containernetworking-plugins busybox-static)

IMAGES=$CACHE/images
# the running cluster: certificates, etcd, containerd, kubelet, logs, PID files; removed by down.sh (logs are kept
# in $CACHE/last-run)
RUN=${NANOSEG_K8S_RUN:-$CACHE/run}

# the node: a bridge with the node's address (pods are on it; the control plane and the webhook reach and are
# reached through it), the pod subnet, the Service range (virtual: no kube-proxy)
BRIDGE=nsg-k8s0
NODE_IP=10.244.0.1
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/24
NODE_NAME=nanoseg-node
API_PORT=16443
ETCD_PORT=23790
ETCD_PEER_PORT=23800

# host settings the kubelet changes at start (no option avoids it): saved by up.sh, restored by up.sh and down.sh
HOST_SYSCTLS=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys
  kernel/keys/root_maxbytes net/ipv4/ip_forward)
# folders the kubelet, containerd and CNI write whatever they are told: removed by down.sh when up.sh made them
HOST_DIRS=(/var/lib/kubelet /var/log/containers /var/log/pods /var/lib/cni /run/containerd /etc/cni /opt/cni
  /var/lib/containerd /opt/containerd /etc/kubernetes
  /var/lib/nanoseg-test-cluster) # the hostPath volume of manifests/overlays/test-cluster

log() { printf '[k8s] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Go >= 1.26 from /usr/local/go or PATH; when there is none, the toolchain module (golang.org/toolchain, as the go
# command itself fetches it for GOTOOLCHAIN) from the Go module proxy into .cache/k8s/go-toolchain
# (NANOSEG_K8S_FETCH_GO=1 uses that one even when there is a local Go)
GO_TOOLCHAIN=go1.26.8
go_env() {
  export PATH=/usr/local/go/bin:$PATH
  export GOPATH=$CACHE/go GOMODCACHE=$CACHE/go/mod GOCACHE=$CACHE/go/cache
  export GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 GOMAXPROCS=${GOMAXPROCS:-1}
  local v
  if [ "${NANOSEG_K8S_FETCH_GO:-0}" != 1 ]; then
    v=$(go env GOVERSION 2>/dev/null || true)
    case "$v" in go1.2[6-9]* | go1.[3-9]*) return 0 ;; esac
  fi
  export PATH=$CACHE/go-toolchain/bin:$PATH
  [ -x "$CACHE/go-toolchain/bin/go" ] && return 0
  log "no Go >= 1.26 (found: ${v:-none}): fetching $GO_TOOLCHAIN from the Go module proxy"
  local zip=$CACHE/go-toolchain.zip mod=golang.org/toolchain@v0.0.1-$GO_TOOLCHAIN.linux-amd64
  mkdir -p "$CACHE"
  curl -fsSL -o "$zip" "https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-$GO_TOOLCHAIN.linux-amd64.zip" ||
    die "cannot fetch $mod"
  rm -rf "$CACHE/go-toolchain" "$CACHE/go-toolchain.tmp"
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$zip" "$CACHE/go-toolchain.tmp"
  mv "$CACHE/go-toolchain.tmp/$mod" "$CACHE/go-toolchain" && rm -rf "$CACHE/go-toolchain.tmp" "$zip"
  chmod +x "$CACHE"/go-toolchain/bin/* "$CACHE"/go-toolchain/pkg/tool/*/* 2>/dev/null || true
  go version >/dev/null 2>&1 || die "the fetched Go toolchain does not run"
}

have_binaries() {
  local b
  for b in "${BINARIES[@]}"; do [ -x "$BIN/$b" ] || return 1; done
}
