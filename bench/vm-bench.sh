#!/usr/bin/env bash
# VM benchmark (not a test): boots each Debian kernel once (tests/vm/run.sh with the bench payload) and prints one
# table per kernel and backend: this tree, the limit (a program that only counts, attached to the same functions
# by the same backend code: pwru/examples/limit.rs, run in the same boot) and cilium/pwru's published figures
# from the same harness (research/pwru-baseline.md), with ratios.
# Usage: bench/vm-bench.sh [amd64|arm64] [--no-run]
#   Sets itself up on a fresh machine (tests/setup.sh as root for the apt packages, kernels downloaded by
#   tests/vm/kernels.sh). Env as tests/vm/run.sh (VM_CACHE, VM_KERNELS, ...), plus
#   BENCH_FILTER      pcap filter (default icmp)        BENCH_ROUNDS      repeat pwru and the limit (default 1)
#   BENCH_PLACEMENTS  more kprobe placements to measure (entry, past-ftrace; the default is symbol)
#   BENCH_MECHANISMS  limit mechanisms to measure too (pwru/examples/limit.rs --mechanism: rcu-expedited)
#   BENCH_LOGS        where the serial logs go and are read from (default target/vm-bench; --no-run only reads)
# TCG numbers are noisy (the pwru baseline varied 2x between runs): compare ratios within one boot.
set -uo pipefail
ARCH=${1:-amd64}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${VM_CACHE:-$ROOT/tests/.cache}
LOGS=${BENCH_LOGS:-${CARGO_TARGET_DIR:-$ROOT/target}/vm-bench}
# cilium/pwru's figures were taken with multi-threaded TCG; measure the same way (tests use thread=single).
export VM_TCG_THREAD=${VM_TCG_THREAD:-multi}
if [ "${2:-}" != --no-run ]; then
  need=(qemu-system-x86_64 busybox cpio zstd xz bpftool)
  [ "$ARCH" = arm64 ] && need+=(qemu-system-aarch64)
  for t in "${need[@]}"; do
    command -v "$t" > /dev/null 2>&1 && continue
    [ "$(id -u)" = 0 ] || { echo "vm-bench.sh: $t is missing; run as root once so tests/setup.sh can install it" >&2; exit 1; }
    echo "vm-bench.sh: $t missing: running tests/setup.sh"
    bash "$ROOT/tests/setup.sh" || exit 1
    break
  done
  mkdir -p "$CACHE" "$LOGS"
  VM_PAYLOAD=bench VM_CACHE=$CACHE VM_LOGS=$LOGS bash "$ROOT/tests/vm/run.sh" "$ARCH" > "$LOGS/run.log" 2>&1
  rc=$?
  grep -E '^(kernels.sh|run.sh|===|  \|)' "$LOGS/run.log"
  [ $rc -eq 0 ] || echo "(tests/vm/run.sh exited $rc; see $LOGS/run.log)"
fi

# cilium/pwru on the same harness (pwru-baseline.md, medians of its runs; TCG, -smp 2):
# series/backend -> ready_s attach_s detach_s rss_attach_mb rss_peak_mb events_per_s_during_flood
pwru_ref() {
  case $1 in
    6.1/kprobe)        echo "59.9 41.5 62.0 97 105 8400" ;;
    6.12/kprobe-multi) echo "7.2 0.40 0.70 86 92 13500" ;;
    6.12/kprobe)       echo "48.7 42.4 59.6 86 92 7100" ;;
    *)                 echo "- - - - - -" ;;
  esac
}
# `ping -f -w 5` packets without any tracer in the VM where the pwru figures were taken: how fast that VM was.
pwru_vm_pkts() { case $1 in 6.1) echo 80634;; 6.12) echo 128677;; *) echo 0;; esac; }
get() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
num() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; }
# median of the values of key $2 over the lines in $1
median() { echo "$1" | while read -r l; do get "$l" "$2"; done | sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2); else print "-" }'; }
div() { awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN{ if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf f, a / b; else printf "-" }'; }
mb() { num "$1" && awk -v k="$1" 'BEGIN{printf "%.1f", k / 1024}' || echo -; }
row() { printf '| %-26s | %10s | %10s | %10s | %10s | %10s |\n' "$@"; }

echo
echo "=== VM benchmark ($ARCH, TCG thread=$VM_TCG_THREAD, -smp 2, pcap filter '${BENCH_FILTER-icmp}')"
echo "'tree/limit': this tree's time over the limit's (1.00 = the kernel's own cost); 'pwru/tree': how many times"
echo "better than cilium/pwru's published figure (> 1 is better). Times are medians over BENCH_ROUNDS."
while read -r series kver _ _; do
  log=$LOGS/$ARCH-$kver.log
  [ -f "$log" ] || continue
  base=$(grep -a '^@@BENCH kind=baseline' "$log" | head -1)
  for be in $(grep -a '^@@BENCH kind=tracer' "$log" | sed -n 's/.* backend=\([^ ]*\) .*/\1/p' | awk '!s[$0]++'); do
    for pl in $(grep -a "^@@BENCH kind=tracer backend=$be " "$log" | sed -n 's/.* placement=\([^ ]*\) .*/\1/p' | awk '!s[$0]++'); do
      T=$(grep -a "^@@BENCH kind=tracer backend=$be placement=$pl " "$log" | grep -v error=)
      L=$(grep -a "^@@BENCH kind=limit backend=$be placement=$pl " "$log" | grep -v error=)
      [ -n "$T" ] || { echo; echo "$kver $be ($pl): the tracer failed to start"; continue; }
      read -r pready pattach pdetach prss ppeak prate <<< "$(pwru_ref "$series/$be")"
      [ "$pl" = default ] || { pready=-; pattach=-; pdetach=-; prss=-; ppeak=-; prate=-; }
      echo
      echo "--- $kver, $be${pl:+ (placement $pl)}: $(median "$T" funcs) functions, $(echo "$T" | wc -l) run(s)"
      row figure "this tree" limit pwru tree/limit pwru/tree
      echo "|---|---|---|---|---|---|"
      for f in ready_s:"start → ready (s)":$pready attach_s:"attach (s)":$pattach detach_s:"SIGINT → exit (s)":$pdetach; do
        k=${f%%:*}; rest=${f#*:}; name=${rest%%:*}; p=${rest#*:}
        t=$(median "$T" "$k"); l=$( [ -n "$L" ] && median "$L" "$k" || echo -)
        row "$name" "$t" "$l" "$p" "$(div "$t" "$l")" "$(div "$p" "$t" '%.1fx')"
      done
      t=$(mb "$(median "$T" rss_attach_kb)"); l=$( [ -n "$L" ] && mb "$(median "$L" rss_attach_kb)" || echo -)
      row "RSS after attach (MB)" "$t" "$l" "$prss" "-" "$(div "$prss" "$t" '%.1fx')"
      t=$(mb "$(median "$T" rss_peak_kb)")
      row "peak RSS (MB)" "$t" "-" "$ppeak" "-" "$(div "$ppeak" "$t" '%.1fx')"
      t=$(mb "$(median "$T" rss_end_kb)")
      row "RSS after the flood (MB)" "$t" "-" "-" "-" "-"
      if [ "$pl" = default ]; then
        l1=$(echo "$T" | head -1)
        during=$(get "$l1" events_during); fs=$(get "$l1" flood_s)
        rate=$(div "$during" "$fs" '%.0f')
        row "events/s during a ping -f" "$rate" "-" "$prate" "-" "$(div "$rate" "$prate" '%.1fx')"
        row "events for one ping" "$(get "$l1" events_per_ping)" "-" "115-119" "-" "-"
        row "produced / lost (counted)" "$(get "$l1" produced) / $(get "$l1" lost)" "-" "not counted" "-" "-"
      fi
    done
    # The limit by other mechanisms (BENCH_MECHANISMS), against the limit's default and this tree in the same boot.
    L=$(grep -a "^@@BENCH kind=limit backend=$be placement=default " "$log" | grep -v error=)
    T=$(grep -a "^@@BENCH kind=tracer backend=$be placement=default " "$log" | grep -v error=)
    for m in $(grep -a "^@@BENCH kind=limit-mech backend=$be " "$log" | sed -n 's/.* mechanism=\([^ ]*\) .*/\1/p' | awk '!s[$0]++'); do
      M=$(grep -a "^@@BENCH kind=limit-mech backend=$be placement=default mechanism=$m " "$log" | grep -v error=)
      [ -n "$M" ] || { echo "  ($kver $be: the limit with --mechanism $m failed to start)"; continue; }
      echo "  ($kver $be, the limit with --mechanism $m: ready $(median "$M" ready_s) s ($(div "$(median "$M" ready_s)" "$(median "$L" ready_s)") of the default's)," \
           "detach $(median "$M" detach_s) s ($(div "$(median "$M" detach_s)" "$(median "$L" detach_s)")); tree/this limit:" \
           "ready $(div "$(median "$T" ready_s)" "$(median "$M" ready_s)"), detach $(div "$(median "$T" detach_s)" "$(median "$M" detach_s)"))"
    done
  done
  bp=$(get "$base" flood_pkts); rp=$(pwru_vm_pkts "$series")
  echo "  ($kver: ping -f without tracer: $bp packets in 5 s; the VM of the pwru figures did $rp, so this VM ran at" \
       "$(awk -v a="$bp" -v b="$rp" 'BEGIN{ if (b > 0) printf "%.0f%%", 100 * a / b; else print "?" }') of its speed)"
done < "$CACHE/kernels/$ARCH.list"
echo
echo "cilium/pwru reference (pwru-baseline.md): 6.1 kprobe ready 42-81 s, attach 27-57 s, detach 56-64 s;"
echo "6.12 kprobe-multi prepare 5-8 s, attach 0.13-0.66 s, detach 0.63-0.76 s; 7-16 % of events delivered, losses never reported."
