#!/usr/bin/env bash
# Builds the cluster's binaries (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kubectl, etcd)
# from the Go module proxy into .cache/k8s/bin/<version>/, each only when missing: a second run costs nothing.
# Heavy (cold: about 13 min of one core and 2.8 GB peak memory for kube-apiserver at one package at a time), so it
# runs at nice 19 (it yields to anything else), on every core unless NANOSEG_K8S_BUILD_JOBS says otherwise (1 on a
# machine short of memory). Times go to .cache/k8s/build-times.log.
set -euo pipefail
. "$(dirname "$0")/common.sh"
have_binaries && exit 0
JOBS=${NANOSEG_K8S_BUILD_JOBS:-$(nproc)}
export GOMAXPROCS=${GOMAXPROCS:-$JOBS}
go_env
W=$CACHE/build
mkdir -p "$BIN" "$W"
cp "$K8S_SCRIPTS/go/go.mod" "$K8S_SCRIPTS/go/go.sum" "$W/"
mkdir -p "$W/cmd/etcd" && cp "$K8S_SCRIPTS/go/cmd/etcd/main.go" "$W/cmd/etcd/"
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
v=k8s.io/component-base/version; cv=k8s.io/client-go/pkg/version
# without the version the servers report v0.0.0-master+$Format:%H$, which kubectl cannot parse
LDFLAGS="-s -w -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean \
-X $v.buildDate=2026-01-01T00:00:00Z -X $cv.gitVersion=$K8S_VERSION -X $cv.gitMajor=1 -X $cv.gitMinor=$minor"
cd "$W"
for b in "${BINARIES[@]}"; do
  [ -x "$BIN/$b" ] && continue
  pkg=k8s.io/kubernetes/cmd/$b
  [ "$b" = etcd ] && pkg=./cmd/etcd
  log "building $b ($K8S_VERSION; etcd $ETCD_VERSION) — minutes when cold"
  start=$(date +%s)
  nice -n 19 go build -p "$JOBS" -trimpath -ldflags "$LDFLAGS" -o "$BIN/$b.tmp" "$pkg"
  mv "$BIN/$b.tmp" "$BIN/$b"
  echo "$(date -u +%FT%TZ) $b $K8S_VERSION $(($(date +%s) - start)) s" >>"$CACHE/build-times.log"
done
log "binaries in $BIN"
