#!/usr/bin/env bash
# Fetches the Debian cloud kernels the VM tests boot: 6.1 (bookworm; no CONFIG_FPROBE, so only the kprobe
# backend) and 6.12 (trixie / bookworm-backports; FPROBE, so kprobe-multi works on amd64).
# Usage: tests/vm/kernels.sh [amd64|arm64]
# Uses a private apt configuration under tests/.cache/apt (the system's sources are not touched), picks the newest
# version of each series that apt knows about, downloads it with `apt-get download` and unpacks it with dpkg-deb.
# Writes tests/.cache/kernels/<arch>.list, one line per kernel: "<series> <kernel release> <vmlinuz> <modules dir>".
set -euo pipefail
ARCH=${1:-amd64}
case $ARCH in amd64|arm64) ;; *) echo "kernels.sh: arch must be amd64 or arm64, not '$ARCH'" >&2; exit 2;; esac
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${VM_CACHE:-$ROOT/tests/.cache}
. "$ROOT/tests/vm/lib/apt.sh"

apt_private_update
# Series -> package-name pattern. The newest match wins (sort -V on the name orders ABI numbers correctly).
declare -A PATTERN=(
  [6.1]="^linux-image-6\.1\.0-[0-9]+-cloud-$ARCH\$"
  [6.12]="^linux-image-6\.12\.[0-9]+\+deb1[23]-cloud-$ARCH\$"
)
mkdir -p "$CACHE/kernels/$ARCH" "$CACHE/debs"
LIST=$CACHE/kernels/$ARCH.list.new
: > "$LIST"
for series in 6.1 6.12; do
  pkg=$(apt_private cache pkgnames linux-image-6. | grep -E "${PATTERN[$series]}" | sort -V | tail -1 || true)
  [ -n "$pkg" ] || { echo "kernels.sh: no $series cloud-$ARCH kernel in the private apt lists" >&2; exit 1; }
  kver=${pkg#linux-image-}
  ver=$(apt_private cache show --no-all-versions "$pkg:$ARCH" | awk '/^Version:/ {print $2; exit}')
  dest=$CACHE/kernels/$ARCH/$kver
  if [ ! -e "$dest/.done" ]; then
    t0=$(date +%s.%N)
    rm -rf "$dest"; mkdir -p "$dest"
    deb=$(apt_private_download "$pkg:$ARCH")
    dpkg-deb -x "$deb" "$dest"
    touch "$dest/.done"
    echo "kernels.sh: downloaded $pkg $ver ($(du -h "$deb" | cut -f1)) in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N)-$t0}")s"
  fi
  vmlinuz=$dest/boot/vmlinuz-$kver
  moddir=$(ls -d "$dest"/lib/modules/"$kver" "$dest"/usr/lib/modules/"$kver" 2>/dev/null | head -1 || true)
  [ -f "$vmlinuz" ] && [ -d "$moddir" ] || { echo "kernels.sh: $pkg unpacked without vmlinuz or modules" >&2; exit 1; }
  echo "kernels.sh: $series $ARCH -> $pkg $ver"
  echo "$series $kver $vmlinuz $moddir" >> "$LIST"
done
mv "$LIST" "$CACHE/kernels/$ARCH.list"
