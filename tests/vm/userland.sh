#!/usr/bin/env bash
# Builds a foreign-arch userland root for the guest (the amd64 guest uses the host's binaries instead):
# busybox-static, iproute2, iputils-ping, nftables, bpftool and the libraries they need, as Debian bookworm .debs
# fetched with the private apt config (tests/vm/lib/apt.sh) and unpacked with dpkg-deb -x.
# Usage: tests/vm/userland.sh arm64      -> tests/.cache/userland/arm64 (mkinitrd.sh's default SYSROOT for arm64)
set -euo pipefail
ARCH=${1:-arm64}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${VM_CACHE:-$ROOT/tests/.cache}
. "$ROOT/tests/vm/lib/apt.sh"
TOOLS="busybox-static iproute2 iputils-ping nftables bpftool"
apt_private_update
export APT_RELEASE=bookworm
mkdir -p "$CACHE/debs"
DEST=$CACHE/userland/$ARCH
rm -rf "$DEST.new"; mkdir -p "$DEST.new"
t0=$(date +%s)
# Runtime closure of the tools; only libraries and the tools themselves are unpacked (no maintainer scripts run,
# so dpkg/debconf/tar are useless here). The t64 variants are trixie's renames of the same libraries.
pkgs=$(apt_private cache depends --recurse --no-recommends --no-suggests \
         --no-conflicts --no-breaks --no-replaces --no-enhances $(printf "%s:$ARCH " $TOOLS) \
       | grep -E "^[a-z0-9][^ ]*:$ARCH\$" | sed "s/:$ARCH\$//" | grep -E '^(lib|zlib1g$|busybox-static$|iproute2$|iputils-ping$|nftables$|bpftool$)' \
       | grep -vE 't64$|^libdebian-installer|^libnewt|^libslang|^libtextwrap' | sort -u)
n=0
for p in $pkgs; do
  deb=$(apt_private_download "$p:$ARCH") || { echo "userland.sh: cannot download $p:$ARCH" >&2; exit 1; }
  dpkg-deb -x "$deb" "$DEST.new"; n=$((n+1))
done
rm -rf "$DEST"; mv "$DEST.new" "$DEST"
echo "userland.sh: $ARCH userland from $n packages in $DEST ($(du -sh "$DEST" | cut -f1), $(( $(date +%s) - t0 ))s)"
