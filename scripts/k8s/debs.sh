#!/usr/bin/env bash
# Fetches Debian's containerd, runc, CNI plugins and busybox-static with `apt-get download` and unpacks them into
# .cache/k8s/debs/root (nothing is installed on the host). Only when missing or when the package list changed.
set -euo pipefail
. "$(dirname "$0")/common.sh"
want="${DEB_PACKAGES[*]}"
[ -f "$DEBS/.done" ] && [ "$(cat "$DEBS/.done")" = "$want" ] && exit 0
command -v apt-get >/dev/null 2>&1 || die "apt-get is missing: the cluster uses Debian's containerd, runc and CNI plugins"
rm -rf "$DEBS" && mkdir -p "$DEBS/pkgs" "$DEB_ROOT"
cd "$DEBS/pkgs"
log "apt-get download ${DEB_PACKAGES[*]}"
if ! apt-get download -q "${DEB_PACKAGES[@]}" >/dev/null 2>&1; then
  apt-get update -qq
  apt-get download -q "${DEB_PACKAGES[@]}" >/dev/null
fi
for d in ./*.deb; do dpkg-deb -x "$d" "$DEB_ROOT"; done
for f in usr/bin/containerd usr/bin/containerd-shim-runc-v2 usr/bin/ctr usr/sbin/runc usr/lib/cni/bridge \
  usr/lib/cni/host-local usr/lib/cni/loopback bin/busybox; do
  [ -x "$DEB_ROOT/$f" ] || die "unpacked packages have no $f"
done
echo "$want" >"$DEBS/.done"
log "unpacked into $DEB_ROOT"
