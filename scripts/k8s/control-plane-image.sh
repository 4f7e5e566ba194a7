#!/usr/bin/env bash
# Builds nanoseg/control-plane:dev, the image manifests/overlays/test-cluster runs, from this checkout's dist/ (run
# `npm run build` first) and its production dependencies, with no registry:
#   /usr/local/bin/node      this machine's Node.js and the libraries it links
#   /opt/nanoseg             package.json, bin/, dist/ (without dist/test), node_modules (`npm ls --omit=dev`: no
#                            dev dependencies, no source maps or type declarations, better-sqlite3's addon only)
#   /usr/local/bin/nanoseg   the command the Deployment runs (node with bin/nanoseg.js's V8 flag)
#   busybox                  sh, for the entry script and for the overlay's init container (chown of the volume)
#   /usr/sbin/nft, /opt/nanoseg/ebpf-redirect/bin/nflog-reader
#                            for `nanoseg node-agent` (the node agent DaemonSet runs the same image): nft and the
#                            NFLOG reader (built by scripts/setup.sh), with the libraries they link
# Written to .cache/k8s/images-extra/ (up.sh does not import it: only the test that runs the manifests pays for its
# ~180 MB); rebuilt only when this script, dist/, package-lock.json or Node.js changed. With --import it is also
# imported into the running test cluster's containerd (a no-op when that image is already there).
set -euo pipefail
. "$(dirname "$0")/common.sh"
. "$K8S_SCRIPTS/image-lib.sh"
NODE=$(command -v node) || die "node is missing"
[ -f "$ROOT/dist/.built" ] || die "no dist/ in $ROOT: run npm run build first"
NFT=$(command -v nft || echo /usr/sbin/nft)
[ -x "$NFT" ] || die "nft is missing (Debian nftables)"
READER=$ROOT/ebpf-redirect/bin/nflog-reader
[ -x "$READER" ] || die "no $READER: run scripts/setup.sh (it builds the NFLOG reader)"
BB=$DEB_ROOT/bin/busybox
[ -x "$BB" ] || die "no busybox in $DEB_ROOT (run scripts/k8s/debs.sh)"
OUT=$CACHE/images-extra
TAR=$OUT/nanoseg_control-plane_dev.tar

dist_files() { (cd "$ROOT" && find dist -path dist/test -prune -o -type f ! -name '*.map' ! -name '*.d.ts' -print | LC_ALL=C sort); }
stamp=$( (
  sha256sum "$0" "$K8S_SCRIPTS/image-lib.sh" "$ROOT/package-lock.json" "$ROOT/package.json" "$ROOT/bin/nanoseg.js"
  stat -c '%s %Y' "$NODE" "$NFT"
  sha256sum "$READER"
  cd "$ROOT" && dist_files | xargs -d '\n' sha256sum
) | sha256sum | cut -c1-32)
if ! { [ -f "$OUT/.done" ] && [ "$(cat "$OUT/.done")" = "$stamp" ] && [ -f "$TAR" ]; }; then
  rm -rf "$OUT" && mkdir -p "$OUT"
  W=$(mktemp -d "$CACHE/images-work.XXXXXX")
  trap 'rm -rf "$W"' EXIT
  C=$W/control-plane && rootfs "$C" && with_busybox "$C"
  printf 'nanoseg:x:10001:10001:nanoseg:/var/lib/nanoseg:/bin/false\n' >>"$C/etc/passwd"
  printf 'nanoseg:x:10001:\n' >>"$C/etc/group"
  mkdir -p "$C/opt/nanoseg/bin" "$C/var/lib/nanoseg"
  cp "$NODE" "$C/usr/local/bin/node"
  cp "$ROOT/package.json" "$C/opt/nanoseg/"
  cp "$ROOT/bin/nanoseg.js" "$C/opt/nanoseg/bin/"
  (cd "$ROOT" && dist_files | tar -cf - -T - | tar -C "$C/opt/nanoseg" -xf -)
  # the production dependency tree, as npm resolved it (nested copies included)
  (cd "$ROOT" && npm ls --omit=dev --parseable --all 2>/dev/null | tail -n +2 | sed "s|^$ROOT/||" | LC_ALL=C sort -u) >"$W/deps"
  [ -s "$W/deps" ] || die "npm ls --omit=dev listed no dependencies (run npm ci)"
  (cd "$ROOT" && tar -cf - --no-recursion -T <(while read -r d; do find "$d" -path "$d/node_modules" -prune -o \
    ! -name '*.map' ! -name '*.d.ts' ! -name '*.d.mts' ! -name '*.d.cts' -print; done <"$W/deps")) |
    tar -C "$C/opt/nanoseg" -xf -
  # better-sqlite3 needs only its lib/ and the addon: not the SQLite sources it was built from
  (cd "$C/opt/nanoseg/node_modules/better-sqlite3" && rm -rf deps src build/Release/obj.target build/Release/.deps \
    build/Release/test_extension.node)
  addon=$C/opt/nanoseg/node_modules/better-sqlite3/build/Release/better_sqlite3.node
  [ -f "$addon" ] || die "better-sqlite3's addon is missing from node_modules (npm ci builds it)"
  cp "$NFT" "$C/usr/sbin/nft"
  mkdir -p "$C/opt/nanoseg/ebpf-redirect/bin"
  cp "$READER" "$C/opt/nanoseg/ebpf-redirect/bin/nflog-reader"
  cp /etc/protocols /etc/services "$C/etc/" 2>/dev/null || true
  with_libs "$C" "$NODE" "$addon" "$NFT" "$READER"
  # the node flags of bin/nanoseg.js's first line (#!/usr/bin/env -S node FLAGS)
  flags=$(head -n 1 "$ROOT/bin/nanoseg.js" | sed -n 's|^#!/usr/bin/env -S node||p')
  printf '#!/bin/sh\n# bin/nanoseg.js with the node flags of its first line\nexec /usr/local/bin/node%s /opt/nanoseg/bin/nanoseg.js "$@"\n' \
    "$flags" >"$C/usr/local/bin/nanoseg"
  chmod 755 "$C/usr/local/bin/nanoseg"
  # the smallest check that the image's node loads its own copy of the control plane (every module is imported)
  "$C/usr/local/bin/node" "$C/opt/nanoseg/bin/nanoseg.js" serve --help >/dev/null || die "the image's nanoseg does not run"
  image nanoseg/control-plane:dev "$C" '["/usr/local/bin/nanoseg"]' null
  echo "$stamp" >"$OUT/.done"
fi
[ "${1:-}" = --import ] || exit 0
SOCK=$RUN/containerd/containerd.sock
[ -S "$SOCK" ] || die "--import: the test cluster is not running (no $SOCK)"
"$DEB_ROOT/usr/bin/ctr" -a "$SOCK" -n k8s.io images import "$TAR" >/dev/null
log "imported nanoseg/control-plane:dev"
