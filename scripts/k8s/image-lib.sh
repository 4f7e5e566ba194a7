# Image building for the test cluster's scripts (sourced, not run): single-layer docker-archive tarballs written
# without any registry or daemon. Needs $W (a work folder) and $BB (busybox-static) set by the caller.
# shellcheck shell=bash

# image NAME ROOTFS ENTRYPOINT CMD: one layer, written as ${OUT:-$IMAGES}/<name>.tar (docker save layout)
image() {
  local name=$1 rootfs=$2 entrypoint=$3 cmd=$4 t
  t=$(mktemp -d "$W/img.XXXXXX")
  tar --numeric-owner --owner=0 --group=0 --mtime=@0 --sort=name -C "$rootfs" -cf "$t/layer.tar" .
  local diff
  diff=$(sha256sum "$t/layer.tar" | cut -d' ' -f1)
  printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Entrypoint":%s,"Cmd":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"scripts/k8s/image-lib.sh"}]}' \
    "$entrypoint" "$cmd" "$diff" >"$t/config.json"
  printf '[{"Config":"config.json","RepoTags":["%s"],"Layers":["layer.tar"]}]' "$name" >"$t/manifest.json"
  tar -C "$t" -cf "${OUT:-$IMAGES}/$(echo "$name" | tr '/:' '__').tar" manifest.json config.json layer.tar
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

