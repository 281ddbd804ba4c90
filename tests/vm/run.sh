#!/usr/bin/env bash
# Kprobe end-to-end tests: boots each Debian kernel once under qemu and runs every scenario in that boot.
# Usage: tests/vm/run.sh [amd64|arm64]
# Env:  PWRU_BIN     tracer binary to test (default: cargo build --release -p pwru for amd64;
#                    $CARGO_TARGET_DIR/aarch64-unknown-linux-gnu/release/pwru for arm64)
#       VM_KERNELS   series to run (default "6.1 6.12")
#       VM_SCENARIOS scenario subset (see tests/vm/guest/main.sh), VM_PAYLOAD scenarios|bench|trivial
#       VM_EXTRA_SCENARIOS more scenario functions, defined in tests/vm/guest/scen-*.sh
#       VM_TRACE_ALL_FUNC  --filter-func regex for the all-functions scenario (default: all; for slow arm64 TCG)
#       VM_TIMEOUT   per-boot timeout in seconds (default 1500)
#       VM_LOGS      where the serial logs go (default $VM_CACHE/logs; bench/vm-bench.sh reads its own there)
#       VM_EXTRA_BACKENDS  backends scenario 1 also runs with on 6.12 amd64 (default kprobe; empty: none)
#       LIMIT_BIN    the benchmarks' limit program (VM_PAYLOAD=bench; default: built from pwru/examples/limit.rs)
# Needs root only for nothing in particular, but CI runs it as root; needs qemu-system-x86/arm, busybox-static,
# iproute2, iputils-ping, nftables, bpftool, gcc, binutils, xz-utils, zstd, cpio (tests/vm/README.md).
set -uo pipefail
ARCH=${1:-amd64}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${VM_CACHE:-$ROOT/tests/.cache}
export VM_CACHE=$CACHE
LOGS=${VM_LOGS:-$CACHE/logs}; mkdir -p "$LOGS" "$CACHE/tools/$ARCH"
# Two runs for the same arch would overwrite each other's initramfs and logs (and skew each other's timings).
exec 9> "$CACHE/vm-$ARCH.lock"
if ! flock -n 9; then
  echo "run.sh: another tests/vm/run.sh $ARCH is running; waiting for it"
  flock -w 3600 9 || { echo "run.sh: still locked after 1 h" >&2; exit 1; }
fi
T_ALL=$(date +%s.%N)
TIMES=(); FAILURES=()
secs() { awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $1}"; }
record() { TIMES+=("$(printf '%-52s %8ss' "$1" "$2")"); }
die() { echo "run.sh: $*" >&2; exit 1; }

# 1. kernels
t=$(date +%s.%N)
bash "$ROOT/tests/vm/kernels.sh" "$ARCH" || die "kernel download failed"
record "download kernels ($ARCH)" "$(secs $t)"

# 2. tracer binary and the static UDP sender
t=$(date +%s.%N)
case $ARCH in
  amd64)
    if [ -z "${PWRU_BIN:-}" ]; then
      (cd "$ROOT" && cargo build --release -p pwru -q) || die "cargo build --release -p pwru failed"
      PWRU_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/pwru
    fi
    if [ "${VM_PAYLOAD:-}" = bench ] && [ -z "${LIMIT_BIN:-}" ]; then
      (cd "$ROOT" && cargo build --release -p pwru --example limit -q) || die "cargo build of the limit program failed"
      LIMIT_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/limit
    fi
    CC_STATIC=gcc ;;
  arm64)
    PWRU_BIN=${PWRU_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/aarch64-unknown-linux-gnu/release/pwru}
    LIMIT_BIN=${LIMIT_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/aarch64-unknown-linux-gnu/release/examples/limit}
    CC_STATIC=aarch64-linux-gnu-gcc
    [ -d "$CACHE/userland/arm64/usr" ] || bash "$ROOT/tests/vm/userland.sh" arm64 || die "arm64 userland failed" ;;
  *) die "arch must be amd64 or arm64" ;;
esac
[ -x "$PWRU_BIN" ] || die "no tracer binary at $PWRU_BIN"
# A pwru for this host, for the host-side checks of what the guest wrote (the arm64 tracer does not run here).
host_pwru() {
  if [ "$ARCH" = amd64 ]; then echo "$PWRU_BIN"; return; fi
  local b=${CARGO_TARGET_DIR:-$ROOT/target}/release/pwru
  [ -x "$b" ] || (cd "$ROOT" && cargo build --release -p pwru -q) >&2
  echo "$b"
}
# Named by its source's hash: worktrees sharing one VM_CACHE may hold different udpsend.c (mtimes do not tell).
UDPSEND=$CACHE/tools/$ARCH/udpsend-$(sha256sum "$ROOT/tests/vm/tools/udpsend.c" | cut -c1-12)
if [ ! -x "$UDPSEND" ]; then
  $CC_STATIC -O2 -static -o "$UDPSEND" "$ROOT/tests/vm/tools/udpsend.c" || die "cannot build udpsend with $CC_STATIC"
fi
record "build tracer + udpsend" "$(secs $t)"
echo "run.sh: tracer $PWRU_BIN ($(du -h "$PWRU_BIN" | cut -f1))"

# 3. one boot per kernel
while read -r series kver vmlinuz moddir; do
  case " ${VM_KERNELS:-6.1 6.12} " in *" $series "*) ;; *) continue ;; esac
  case $ARCH/$series in
    amd64/6.12) backend=kprobe-multi; extra=${VM_EXTRA_BACKENDS-kprobe}; auto=kprobe-multi ;;
    *)          backend=kprobe; extra=; auto=kprobe ;;
  esac
  ov=$(mktemp -d /tmp/pwru-vm-overlay.XXXXXX)
  mkdir -p "$ov/usr/bin" "$ov/guest"
  cp "$PWRU_BIN" "$ov/usr/bin/pwru"; cp "$UDPSEND" "$ov/usr/bin/udpsend"
  [ "${VM_PAYLOAD:-}" = bench ] && [ -x "${LIMIT_BIN:-}" ] && cp "$LIMIT_BIN" "$ov/usr/bin/pwru-limit"
  # The tc/XDP programs scenarios tc and bpfmap trace (testkit/bpf, objects committed).
  for o in progs late maps; do cp "$ROOT/testkit/bpf/obj/$o-${ARCH/amd64/x86}.o" "$ov/guest/$o.o"; done
  cat > "$ov/guest/plan.env" <<PLAN
KSERIES=$series
BACKEND=$backend
EXTRA_BACKENDS="$extra"
AUTO_EXPECT=$auto
SCENARIOS="${VM_SCENARIOS:-}"
EXTRA_SCENARIOS="${VM_EXTRA_SCENARIOS:-}"
TRACE_ALL_FUNC='${VM_TRACE_ALL_FUNC:-}'
BENCH_FILTER='${BENCH_FILTER-icmp}'
BENCH_PLACEMENTS='${BENCH_PLACEMENTS:-}'
BENCH_MECHANISMS='${BENCH_MECHANISMS:-}'
BENCH_ROUNDS='${BENCH_ROUNDS:-1}'

PAYLOAD=${VM_PAYLOAD:-scenarios}
PLAN
  initrd=$CACHE/initrd-$ARCH-$kver.gz
  t=$(date +%s.%N)
  bash "$ROOT/tests/vm/mkinitrd.sh" "$ARCH" "$moddir" "$initrd" "$ov" || { FAILURES+=("$kver: initramfs build"); rm -rf "$ov"; continue; }
  rm -rf "$ov"
  record "$kver: initramfs" "$(secs $t)"
  log=$LOGS/$ARCH-$kver.log
  echo "=== boot $kver ($ARCH, backend $backend${extra:+, also $extra}); log: $log"
  t=$(date +%s.%N)
  bash "$ROOT/tests/vm/boot.sh" "$ARCH" "$vmlinuz" "$initrd" "${VM_TIMEOUT:-1500}" < /dev/null 2>&1 \
    | sed -u 's/\r$//' | tee "$log" | grep -a --line-buffered -E '^(@@|---|  \||info:)|BUG:|Oops|panic|WARNING:'
  record "$kver: boot + all scenarios" "$(secs $t)"
  while read -r _ name s; do record "  $kver $name" "$s"; done < <(grep -aE '^@@TIME ' "$log")
  while IFS= read -r l; do FAILURES+=("$kver: ${l#@@CHECK FAIL }"); done < <(grep -aE '^@@CHECK FAIL ' "$log")
  grep -aq '^@@GUEST_END' "$log" || FAILURES+=("$kver: guest did not finish (timeout or crash); see $log")
  grep -aqE '^@@SUMMARY' "$log" || [ "${VM_PAYLOAD:-scenarios}" != scenarios ] || FAILURES+=("$kver: no scenario summary")
  grep -aqE 'BUG:|Oops:|Kernel panic|general protection fault' "$log" && FAILURES+=("$kver: kernel oops/panic in $log")
  grep -aE '^@@MODULE FAIL' "$log" | while read -r l; do echo "warning: $kver $l"; done
  # The pcapng files the guest sent: read on the host by tshark and tcpdump (not in the guest).
  if grep -aq '^@@CHECK [A-Z]* 8-pcapng' "$log"; then
    t=$(date +%s.%N)
    bash "$ROOT/tests/vm/check-pcapng.sh" "$log" "$(host_pwru)" > "$log.host" 2>&1
    grep -aE '^@@CHECK' "$log.host"
    while IFS= read -r l; do FAILURES+=("$kver: ${l#@@CHECK FAIL }"); done < <(grep -aE '^@@CHECK FAIL ' "$log.host")
    record "  $kver host pcapng checks" "$(secs $t)"
  fi
  echo "$kver: $(grep -ac '^@@CHECK PASS' "$log") checks passed, $(grep -ac '^@@CHECK FAIL' "$log") failed"
done < "$CACHE/kernels/$ARCH.list"

echo
echo "=== vm timings ($ARCH)"
printf '%s\n' "${TIMES[@]}"
printf '%-52s %8ss\n' "total" "$(secs "$T_ALL")"
if [ ${#FAILURES[@]} -gt 0 ]; then
  echo; echo "=== vm FAILURES (${#FAILURES[@]})"; printf '  %s\n' "${FAILURES[@]}"; exit 1
fi
echo "=== vm: all checks passed"
