#!/usr/bin/env bash
# Everything the test cluster needs before it can start, each part only when missing or changed: Debian packages
# (unpacked, not installed), the Kubernetes binaries (built from the Go module proxy; minutes when cold), images.
set -euo pipefail
d=$(dirname "$0")
. "$d/common.sh"
# one prepare at a time: scripts/test.sh starts one in the background, and the cluster test's own waits for it
mkdir -p "$CACHE"
exec 9>"$CACHE/prepare.lock"
flock 9
"$d/debs.sh"
"$d/build.sh"
"$d/images.sh"
