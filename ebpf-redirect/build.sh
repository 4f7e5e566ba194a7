#!/usr/bin/env bash
# Compiles ebpf-redirect (the eBPF programs and the nsg-bpf loader) into ebpf-redirect/build/. Idempotent: make
# rebuilds only what changed (sources, or the kernel's BTF). Needs clang, bpftool, libbpf-dev, make, cc.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -r /sys/kernel/btf/vmlinux ]; then
  echo "ebpf-redirect: this kernel has no BTF (/sys/kernel/btf/vmlinux): the eBPF capture cannot be built; nftables capture only" >&2
  exit 2
fi
exec make -s all
