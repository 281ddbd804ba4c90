#!/usr/bin/env bash
# Installs what building and testing pwru needs on a fresh Debian bookworm machine (idempotent).
# Parts with extra needs (tests/vm, tests/arm64) install those themselves.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "tests/setup.sh: run as root (apt-get install)" >&2; exit 1; }
pkgs=(clang llvm libbpf-dev bpftool tcpdump libpcap-dev iproute2 iputils-ping nftables iptables tshark tmux socat
      python3-prometheus-client
      gcc libc6-dev make binutils util-linux debian-archive-keyring
      xz-utils zstd cpio file busybox-static qemu-system-x86 qemu-system-arm qemu-user-static)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "tests/setup.sh: cargo not found (install Rust 1.95 with rustup)" >&2; exit 1; }
