#!/usr/bin/env bash
# Everything the test cluster needs before it can start, each part only when missing or changed: Debian packages
# (unpacked, not installed), the Kubernetes binaries (built from the Go module proxy; minutes when cold), images.
set -euo pipefail
d=$(dirname "$0")
"$d/debs.sh"
"$d/build.sh"
"$d/images.sh"
