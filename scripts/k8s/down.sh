#!/usr/bin/env bash
# Tears the test cluster down completely, whatever state it is in (also after a failed or killed start):
# processes by their PID files (controllers first, then kubelet, the containers, containerd and its shims, the
# apiserver before etcd), mounts under the run folder, the kubepods cgroups, the bridge and its veths, the host
# folders up.sh saw it create, and the host sysctls the kubelet changed. Logs are kept in .cache/k8s/last-run.
# Exits non-zero when something could not be removed (and says what).
#   --quiet            no summary when everything is gone
#   --restore-sysctls  only put back the sysctls saved by up.sh (up.sh calls it once the kubelet has started)
set -uo pipefail
. "$(dirname "$0")/common.sh"
quiet=0
case "${1:-}" in
--quiet) quiet=1 ;;
--restore-sysctls) restore_only=1 ;;
esac

restore_sysctls() {
  [ -f "$RUN/sysctls" ] || return 0
  local k v
  while IFS== read -r k v; do
    [ -e "/proc/sys/$k" ] && [ "$(cat "/proc/sys/$k")" != "$v" ] && { log "restoring $k to $v"; echo "$v" >"/proc/sys/$k"; }
  done <"$RUN/sysctls"
}
if [ "${restore_only:-0}" = 1 ]; then restore_sysctls; exit 0; fi
[ -d "$RUN" ] || { [ $quiet = 1 ] || log "no cluster"; exit 0; }

# stop NAME: SIGTERM, up to 10 s, then SIGKILL
stop() {
  local f=$RUN/$1.pid p i
  [ -f "$f" ] || return 0
  p=$(cat "$f")
  if kill -0 "$p" 2>/dev/null; then
    kill "$p" 2>/dev/null
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null
    for i in $(seq 25); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
  fi
  rm -f "$f"
}
SOCK=$RUN/containerd/containerd.sock
CTR=("$DEB_ROOT/usr/bin/ctr" -a "$SOCK" -n k8s.io)

stop kube-controller-manager
stop kube-scheduler
stop kubelet
# every container (and sandbox) killed and deleted while containerd still runs; their network namespaces go with them
if [ -S "$SOCK" ] && [ -x "${CTR[0]}" ]; then
  for t in $("${CTR[@]}" tasks ls -q 2>/dev/null); do "${CTR[@]}" tasks kill -s SIGKILL "$t" >/dev/null 2>&1; done
  for i in $(seq 50); do
    [ -z "$("${CTR[@]}" tasks ls 2>/dev/null | awk 'NR > 1 && $3 != "STOPPED"')" ] && break
    sleep 0.2
  done
  for t in $("${CTR[@]}" tasks ls -q 2>/dev/null); do "${CTR[@]}" tasks delete -f "$t" >/dev/null 2>&1; done
fi
stop containerd
# the shims outlive containerd (they are re-parented to init): ours are the ones serving our socket
for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $SOCK" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
stop kube-apiserver
stop etcd

# mounts under the run folder, deepest first (overlay rootfs, shm, netns, projected volumes)
for i in 1 2 3; do
  m=$(awk -v r="$RUN" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/mounts | sort -r)
  [ -z "$m" ] && break
  while read -r x; do umount "$x" 2>/dev/null || umount -l "$x" 2>/dev/null; done <<<"$m"
done
# the kubepods cgroups in every hierarchy (cgroup v1 controllers and the unified one)
for c in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods /sys/fs/cgroup/*/kubepods.slice; do
  [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
done
# the bridge's veths, then the bridge
if ip link show "$BRIDGE" >/dev/null 2>&1; then
  for v in $(ip -o link show master "$BRIDGE" 2>/dev/null | awk -F': ' '{ print $2 }' | cut -d@ -f1); do
    ip link del "$v" 2>/dev/null
  done
  ip link del "$BRIDGE"
fi
# the kernel rules of the cluster's pods (the node agent's, or `serve --kernel-node`'s): nanoseg's own table, which
# outlives both by design; with the pods gone they guard nothing
nft delete table inet nanoseg 2>/dev/null
# the host folders this run created
if [ -f "$RUN/host-dirs" ]; then
  while read -r d; do [ -n "$d" ] && rm -rf "$d"; done <"$RUN/host-dirs"
fi
restore_sysctls

left=()
[ -n "$(awk -v r="$RUN" 'index($2, r) == 1' /proc/mounts)" ] && left+=("mounts under $RUN")
for c in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do [ -d "$c" ] && left+=("cgroup $c"); done
ip link show "$BRIDGE" >/dev/null 2>&1 && left+=("bridge $BRIDGE")
for f in "$RUN"/*.pid; do [ -f "$f" ] && left+=("process $(basename "$f" .pid)"); done
[ -n "$(pgrep -f "containerd-shim-runc-v2 .*-address $SOCK" 2>/dev/null)" ] && left+=("containerd shims")
if [ ${#left[@]} -gt 0 ]; then
  log "teardown left: ${left[*]}"
  exit 1
fi
rm -rf "$CACHE/last-run" && mkdir -p "$CACHE/last-run" && cp -r "$RUN/logs/." "$CACHE/last-run/" 2>/dev/null
rm -rf "$RUN"
[ $quiet = 1 ] || log "cluster removed"
exit 0
