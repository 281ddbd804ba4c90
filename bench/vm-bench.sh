#!/usr/bin/env bash
# VM benchmark (not a test): boots each Debian kernel once (tests/vm/run.sh with the bench payload) and prints,
# per kernel and backend, prepare/attach/detach time, RSS, events per ping and events/s + losses under a 5 s
# `ping -f`, next to cilium/pwru's figures measured on the same harness (research/pwru-baseline.md).
# Usage: bench/vm-bench.sh [amd64|arm64] [--no-run]   (env as tests/vm/run.sh; BENCH_FILTER is the pcap filter,
#        default icmp; --no-run only prints the table from the serial logs in $BENCH_LOGS, default tests/.cache/logs)
# TCG numbers are noisy (the pwru baseline varied 2x between runs): compare ratios, not absolute values.
set -uo pipefail
ARCH=${1:-amd64}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${VM_CACHE:-$ROOT/tests/.cache}
# cilium/pwru's figures were taken with multi-threaded TCG; measure the same way (tests use thread=single).
export VM_TCG_THREAD=${VM_TCG_THREAD:-multi}
LOGS=${BENCH_LOGS:-$CACHE/logs}
if [ "${2:-}" != --no-run ]; then
  VM_PAYLOAD=bench bash "$ROOT/tests/vm/run.sh" "$ARCH" > "$CACHE/vm-bench-run.log" 2>&1
  rc=$?
  grep -E '^(kernels.sh|run.sh|===|  \|)' "$CACHE/vm-bench-run.log"
  [ $rc -eq 0 ] || echo "(tests/vm/run.sh exited $rc; see $CACHE/vm-bench-run.log)"
fi

# cilium/pwru on the same harness (pwru-baseline.md; medians of the runs listed there, TCG, -smp 2):
# series/backend -> prepare_s attach_s detach_s delivered_% rss_mb rate_per_s
pwru_ref() {
  case $1 in
    6.1/kprobe)        echo "18.5 41.5 62.0 10 97 8400" ;;
    6.12/kprobe-multi) echo "6.8 0.40 0.70 7.7 86 13500" ;;
    6.12/kprobe)       echo "6.3 42.4 59.6 16 86 7100" ;;
    *)                 echo "- - - - - -" ;;
  esac
}
# `ping -f -w 5` packets without any tracer in the VM where the pwru figures were taken: how fast that VM was.
pwru_vm_pkts() { case $1 in 6.1) echo 80634;; 6.12) echo 128677;; *) echo 0;; esac; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && a > 0) printf "%.1fx", b / a; else printf "-" }'; }
get() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

echo
echo "=== VM benchmark ($ARCH, TCG thread=$VM_TCG_THREAD, -smp 2, pcap filter '${BENCH_FILTER-icmp}'; 'x pwru' = how many times better than cilium/pwru)"
printf '%-28s %-12s %6s | %8s %7s | %8s %7s | %8s %8s | %6s %9s | %7s %8s %9s %9s %7s %10s %7s\n' \
  kernel backend funcs prepare 'x pwru' attach 'x pwru' detach 'x pwru' 'RSS MB' 'peak MB' 'ev/ping' \
  'flood pk' 'ev total' 'ev/s' lost delivered 'pwru'
while read -r series kver _ _; do
  log=$LOGS/$ARCH-$kver.log
  [ -f "$log" ] || continue
  base=$(grep -a '^@@BENCH kind=baseline' "$log" | head -1)
  grep -a '^@@BENCH kind=tracer' "$log" | while read -r l; do
    be=$(get "$l" backend)
    if [ -n "$(get "$l" error)" ]; then printf '%-28s %-12s tracer failed to start\n' "$kver" "$be"; continue; fi
    read -r rp ra rd rdel _ rrate <<< "$(pwru_ref "$series/$be")"
    p=$(get "$l" prepare_s); a=$(get "$l" attach_s); d=$(get "$l" detach_s)
    pkts=$(get "$l" flood_pkts); per=$(get "$l" events_per_ping); tot=$(get "$l" events_total)
    fs=$(get "$l" flood_s); lost=$(get "$l" lost)
    rate=$(awk -v t="$tot" -v s="$fs" 'BEGIN{ if (s > 0) printf "%.0f", t / s; else print "-" }')
    # Delivered: events written / events the flood should have produced (packets x events per ping pair).
    deliv=$(awk -v t="$tot" -v p="$pkts" -v e="$per" 'BEGIN{ if (p > 0 && e > 0) printf "%.0f%%", 100 * t / (p * e); else print "-" }')
    printf '%-28s %-12s %6s | %7ss %7s | %7ss %7s | %7ss %8s | %6s %9s | %7s %8s %9s %9s %7s %10s %7s\n' \
      "$kver" "$be" "$(get "$l" funcs)" "$p" "$(ratio "$p" "$rp")" "$a" "$(ratio "$a" "$ra")" "$d" "$(ratio "$d" "$rd")" \
      "$(awk -v k="$(get "$l" rss_attach_kb)" 'BEGIN{printf "%.1f", k/1024}')" \
      "$(awk -v k="$(get "$l" rss_peak_kb)" 'BEGIN{printf "%.1f", k/1024}')" \
      "$per" "$pkts" "$tot" "$rate" "$lost" "$deliv" "${rdel}%"
  done
  bp=$(get "$base" flood_pkts); rp=$(pwru_vm_pkts "$series")
  echo "  ($kver: ping -f without tracer: $bp packets in 5 s; the VM of the pwru figures did $rp, so this VM ran at" \
       "$(awk -v a="$bp" -v b="$rp" 'BEGIN{ if (b > 0) printf "%.0f%%", 100 * a / b; else print "?" }') of its speed)"
done < "$CACHE/kernels/$ARCH.list"
echo
echo "cilium/pwru reference (pwru-baseline.md): 6.1 kprobe prepare 14-23 s, attach 27-57 s, detach 56-64 s;"
echo "6.12 kprobe-multi prepare 5-8 s, attach 0.13-0.66 s, detach 0.63-0.76 s; 7-16 % of events delivered, losses never reported;"
echo "RSS 81-103 MB after attach. 'ev/s' = events written / flood seconds; 'delivered' = events / (packets x events per ping)."
