#!/usr/bin/env bash
# Builds the busybox initramfs the VM tests boot.
# Usage: tests/vm/mkinitrd.sh ARCH MODDIR OUT.cpio.gz [OVERLAY_DIR...]
#   ARCH     amd64 | arm64 (which userland to take: the host's for amd64, $SYSROOT for arm64)
#   MODDIR   .../lib/modules/<kver> of the kernel that will boot (modules may be .ko, .ko.xz or .ko.zst)
#   OVERLAY  directories copied over the root (e.g. /usr/bin/pwru, /guest/plan.env); ELF files in them get their
#            shared libraries copied in as well.
# Env: SYSROOT   root to take userland binaries and libraries from (default / for amd64,
#                tests/.cache/userland/arm64 for arm64, made by tests/vm/userland.sh arm64)
#      BUSYBOX   busybox-static binary (default $SYSROOT/bin/busybox)
#      VM_MODULES modules to load (dependencies are added from each module's .modinfo)
# The guest's /init mounts proc/sys/dev/tracefs/debugfs/bpffs, loads the modules in dependency order, runs
# /guest/main.sh and powers off.
set -euo pipefail
ARCH=$1; MODDIR=$2; OUT=$3; shift 3
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${VM_CACHE:-$ROOT/tests/.cache}
case $ARCH in
  amd64) SYSROOT=${SYSROOT:-/}; TRIPLET=x86_64-linux-gnu;;
  arm64) SYSROOT=${SYSROOT:-$CACHE/userland/arm64}; TRIPLET=aarch64-linux-gnu;;
  *) echo "mkinitrd.sh: unknown arch $ARCH" >&2; exit 2;;
esac
SYSROOT=${SYSROOT%/}
BUSYBOX=${BUSYBOX:-$SYSROOT/bin/busybox}
VM_MODULES=${VM_MODULES:-"veth sch_ingress cls_bpf nf_tables nft_chain_nat nft_nat nf_conntrack nf_nat vxlan geneve"}
# Full iproute2/iputils/nftables: busybox's ip cannot do netns or veth peers, and there is no busybox nft.
TOOLS=${VM_TOOLS:-"ip tc ping nft bpftool"}
[ -x "$BUSYBOX" ] || { echo "mkinitrd.sh: no busybox at $BUSYBOX (apt-get install busybox-static)" >&2; exit 1; }
[ -d "$MODDIR/kernel" ] || { echo "mkinitrd.sh: $MODDIR has no kernel/ modules" >&2; exit 1; }

R=$(mktemp -d /tmp/pwru-initrd.XXXXXX)
trap 'rm -rf "$R"' EXIT
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc,lib/modules,guest}
ln -s ../run "$R/var" 2>/dev/null || true
cp "$BUSYBOX" "$R/bin/busybox"
for a in $("$BUSYBOX" --list 2>/dev/null || qemu-aarch64-static "$BUSYBOX" --list); do
  [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"
done

# Shared-library closure from ELF headers (works for foreign-arch binaries, unlike ldd).
LIBDIRS="lib/$TRIPLET usr/lib/$TRIPLET lib64 usr/lib64 lib usr/lib"
declare -A SEEN=()
find_in_sysroot() { # relative-or-absolute lib name -> sysroot path
  local d
  for d in $LIBDIRS; do [ -e "$SYSROOT/$d/$1" ] && { echo "$SYSROOT/$d/$1"; return 0; }; done
  return 1
}
resolve() { # follow symlinks inside the sysroot (absolute link targets are relative to $SYSROOT)
  local p=$1 t i=0
  while [ -L "$p" ] && [ $i -lt 20 ]; do
    t=$(readlink "$p"); i=$((i+1))
    case $t in /*) p=$SYSROOT$t;; *) p=$(dirname "$p")/$t;; esac
  done
  [ -e "$p" ] || { echo "mkinitrd.sh: $1 does not resolve inside $SYSROOT" >&2; return 1; }
  echo "$p"
}
copy_file() { # sysroot path -> same path in the image, symlinks resolved (inside the sysroot)
  local src rel=${1#"$SYSROOT"}
  src=$(resolve "$1") || exit 1
  mkdir -p "$R$(dirname "$rel")"
  cp "$src" "$R$rel"
}
copy_deps() { # ELF file -> its interpreter and NEEDED libraries, recursively
  local f=$1 interp lib p
  interp=$(readelf -lW "$f" 2>/dev/null | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
  if [ -n "$interp" ] && [ -z "${SEEN[$interp]:-}" ]; then
    SEEN[$interp]=1; copy_file "$SYSROOT$interp"
  fi
  for lib in $(readelf -dW "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    [ -z "${SEEN[$lib]:-}" ] || continue
    SEEN[$lib]=1
    p=$(find_in_sysroot "$lib") || { echo "mkinitrd.sh: $f needs $lib, not found under $SYSROOT" >&2; exit 1; }
    copy_file "$p"; copy_deps "$p"
  done
}
for t in $TOOLS; do
  src=
  for d in usr/sbin usr/bin sbin bin; do [ -e "$SYSROOT/$d/$t" ] && { src=$SYSROOT/$d/$t; break; }; done
  [ -n "$src" ] || { echo "mkinitrd.sh: $t not found in $SYSROOT (install it: see tests/vm/README.md)" >&2; exit 1; }
  src=$(resolve "$src") || exit 1
  cp "$src" "$R/usr/sbin/$t"
  rm -f "$R/bin/$t"   # busybox ash would otherwise run its own applet
  copy_deps "$src"
done
for f in etc/protocols etc/services; do [ -f "$SYSROOT/$f" ] && cp "$SYSROOT/$f" "$R/$f"; done
echo "root:x:0:0:root:/root:/bin/sh" > "$R/etc/passwd"
echo "root:x:0:" > "$R/etc/group"
printf '127.0.0.1 localhost\n' > "$R/etc/hosts"

# Modules: resolve dependencies from each module's .modinfo "depends=" (the .deb ships no modules.dep),
# decompress, and write the load order (dependencies first) to /lib/modules/load.list.
declare -A MODPATH=() LOADED=()
while IFS= read -r p; do n=$(basename "$p"); n=${n%%.ko*}; MODPATH[$n]=$p; MODPATH[${n//-/_}]=$p; done \
  < <(find "$MODDIR/kernel" -name '*.ko*')
decompress() { case $1 in *.xz) xz -dc "$1";; *.zst) zstd -dcq "$1";; *.gz) gzip -dc "$1";; *) cat "$1";; esac; }
add_module() {
  local m=${1//-/_} p deps d
  [ -z "${LOADED[$m]:-}" ] || return 0
  p=${MODPATH[$m]:-}
  if [ -z "$p" ]; then
    grep -qE "/$1\.ko" "$MODDIR/modules.builtin" 2>/dev/null && return 0
    echo "mkinitrd.sh: module $1 not found under $MODDIR" >&2; exit 1
  fi
  LOADED[$m]=1
  decompress "$p" > "$R/lib/modules/$m.ko"
  deps=$(tr '\0' '\n' < "$R/lib/modules/$m.ko" | sed -n 's/^depends=//p' | head -1)
  for d in ${deps//,/ }; do add_module "$d"; done
  echo "$m" >> "$R/lib/modules/load.list"
}
: > "$R/lib/modules/load.list"
for m in $VM_MODULES; do add_module "$m"; done

for o in "$@"; do
  cp -a "$o/." "$R/"
  while IFS= read -r f; do
    head -c4 "$f" | grep -q 'ELF' && copy_deps "$f"
  done < <(find "$o" -type f)
done
cp "$ROOT"/tests/vm/guest/*.sh "$R/guest/"

cat > "$R/init" <<'INIT'
#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -t tracefs tracefs /sys/kernel/tracing; mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t bpf bpf /sys/fs/bpf; mount -t tmpfs tmpfs /run; mount -t tmpfs tmpfs /tmp
mkdir -p /run/netns
for m in $(cat /lib/modules/load.list); do
  insmod /lib/modules/$m.ko || echo "@@MODULE FAIL $m"
done
ip link set lo up
echo "@@GUEST kernel=$(uname -r) arch=$(uname -m) cpus=$(nproc) uptime=$(cut -d' ' -f1 /proc/uptime)"
sh /guest/main.sh
echo "@@GUEST_END rc=$?"
poweroff -f
INIT
chmod +x "$R/init"
(cd "$R" && find . | cpio -o -H newc --quiet | gzip -1) > "$OUT"
echo "mkinitrd.sh: $OUT ($(du -h "$OUT" | cut -f1), modules: $(tr '\n' ' ' < "$R/lib/modules/load.list"))"
