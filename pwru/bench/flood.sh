#!/usr/bin/env bash
# Loss under a 5 s ping flood on the host (tracepoint backend): packets/s without and with pwru, and pwru's
# exit figures (events produced by the kernel side, lost in the ring buffer, printed or counted), events handled per
# second (produced - lost, over the flood) and pwru's peak memory (VmHWM), for the plain text run beside --drops-only
# and --summary alone (counted in the kernel; and, for comparison, in userspace). (ping -f's echo replies are freed with NO_SOCKET by the kernel once the raw socket has its copy,
# so --drops-only prints every reply's path; the echo-request rows have no drop at all.) A second table gives the CPU
# cost per event at a steady 1000 pps (PACED_PPS), where nothing is lost. Run as root:
#   bash pwru/bench/flood.sh [path/to/pwru]   (default: release build in $CARGO_TARGET_DIR or target/)
set -euo pipefail
cd "$(dirname "$0")/../.."
T=${CARGO_TARGET_DIR:-$PWD/target}
# Without a binary argument, build the current tree (a no-op when it is up to date; a stale binary would lack flags).
if [ -n "${1:-}" ]; then BIN=$1; else cargo build --release -p pwru -q; BIN=$T/release/pwru; fi
SECS=${SECS:-5}
A=pwru-bench-a B=pwru-bench-b
work=$(mktemp -d)
cleanup() {
  ip netns del $A 2>/dev/null || true; ip netns del $B 2>/dev/null || true; rm -rf "$work"
  if [ -n "${stats:-}" ]; then sysctl -qw kernel.bpf_stats_enabled="$stats"; fi
}
trap cleanup EXIT
cleanup; work=$(mktemp -d)
ip netns add $A; ip netns add $B
ip -n $A link add pwbena type veth peer name pwbenb netns $B
ip -n $A addr add 10.250.0.1/24 dev pwbena; ip -n $B addr add 10.250.0.2/24 dev pwbenb
ip -n $A link set pwbena up; ip -n $B link set pwbenb up; ip -n $A link set lo up; ip -n $B link set lo up
ip netns exec $A ping -c1 -W2 10.250.0.2 >/dev/null

flood() { ip netns exec $A ping -f -q -w "$SECS" 10.250.0.2 2>&1 | awk '/packets transmitted/ {print $1}'; }

base=$(flood)
# The limit: every probe runs and its filter rejects every packet, so nothing is counted or shipped (measured first;
# each row's pps is given as a share of it). Beside the peak memory, cilium/pwru's under its own ping flood
# (VmHWM 90.6 MB, /work/shared/research/pwru-baseline.md).
limit_pps=
PWRU_HWM_MB=90.6
row() { # name, pwru args...
  local name=$1; shift
  "$BIN" --backend tracepoint --ready-file "$work/ready" --output-file "$work/out" "$@" 2>"$work/err" &
  local pid=$!
  while [ ! -e "$work/ready" ]; do sleep 0.05; kill -0 $pid 2>/dev/null || { cat "$work/err"; exit 1; }; done
  local sent; sent=$(flood)
  sleep 1
  local hwm; hwm=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' /proc/$pid/status)
  kill -INT $pid; wait $pid
  local line; line=$(grep 'events produced' "$work/err")
  local produced lost printed
  produced=$(sed -E 's/.* ([0-9]+) events produced.*/\1/' <<<"$line")
  lost=$(sed -E 's/.* ([0-9]+) lost.*/\1/' <<<"$line")
  printed=$(sed -E 's/.* ([0-9]+) (printed|counted).*/\1/' <<<"$line")
  local pps=$((sent / SECS)); limit_pps=${limit_pps:-$pps}
  printf '| %-28s | %9s | %8s | %6s | %10s | %10s | %10s | %6s | %9s | %7s | %6s |\n' "$name" "$sent" "$pps" \
    "$(awk -v p="$pps" -v l="$limit_pps" 'BEGIN { printf "%.2f", l ? p / l : 0 }')" "$produced" \
    "$lost" "$printed" "$(awk -v l="$lost" -v p="$produced" 'BEGIN { printf "%.1f%%", p ? 100*l/p : 0 }')" \
    "$(( (produced - lost) / SECS ))" "$hwm" "$(awk -v h="$hwm" -v p="$PWRU_HWM_MB" 'BEGIN { printf "%.2f", h / p }')"
  rm -f "$work/ready" "$work/out"
}
echo "host $(uname -r), $(nproc) CPUs, ping -f for ${SECS}s between two netns over veth; without pwru: $base packets ($((base / SECS)) pps)"
echo
printf '| %-28s | %9s | %8s | %6s | %10s | %10s | %10s | %6s | %9s | %7s | %6s |\n' "pwru options" "packets" "pps" \
  "/limit" "produced" "lost" "printed" "lost%" "handled/s" "peak MB" "/pwru"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
row "filter rejecting all (limit)" 'host 192.0.2.1'
row "text, no filter" 
row "json, no filter" --output-json
row "text, --ringbuf-size 64MiB" --ringbuf-size 67108864
row "text, --filter-netns (b)" --filter-netns /run/netns/$B
row "text, --drops-only" --drops-only
row "text, echo requests" 'icmp[icmptype] == icmp-echo'
row "--drops-only, echo requests" --drops-only 'icmp[icmptype] == icmp-echo'
row "--summary alone" --summary
row "--summary --metrics" --summary --metrics 127.0.0.1:0
# A line limit keeps the counting in userspace (every event shipped), as it was before the kernel counted.
row "--summary, userspace counting" --summary --output-limit-lines 4000000000

# The cost at a steady rate a node might carry for hours (not a flood: nothing is lost either way): CPU time of the
# pwru process and of its BPF programs (the kernel's run_time_ns, kernel.bpf_stats_enabled on for the run) per
# event, --summary counted in the kernel against counted in userspace.
# ping paces itself down to 1 ms (1000 pps); a shorter interval is a flood.
PACED_PPS=${PACED_PPS:-1000}
paced() { ip netns exec $A ping -q -i "$(awk -v r="$PACED_PPS" 'BEGIN { printf "%.6f", 1 / r }')" \
  -c $((PACED_PPS * SECS)) 10.250.0.2 2>&1 | awk '/packets transmitted/ {print $1}'; }
# run_time_ns summed over the programs loaded since the ids in $work/ids were listed (bpftool's "pids" needs a
# bpftool built with skeletons, which Debian's is not).
prog_ids() { bpftool prog show -j | python3 -c 'import json, sys; print(" ".join(str(p["id"]) for p in json.load(sys.stdin)))'; }
bpf_ns() {
  bpftool prog show -j | python3 -c 'import json, sys
old = set(open(sys.argv[1]).read().split())
print(sum(p.get("run_time_ns", 0) for p in json.load(sys.stdin) if str(p["id"]) not in old))' "$work/ids"
}
cost_row() { # name, pwru args...
  local name=$1; shift
  prog_ids > "$work/ids"
  "$BIN" --backend tracepoint --ready-file "$work/ready" --output-file "$work/out" "$@" 2>"$work/err" &
  local pid=$!
  while [ ! -e "$work/ready" ]; do sleep 0.05; kill -0 $pid 2>/dev/null || { cat "$work/err"; exit 1; }; done
  local cpu0 bpf0 sent cpu1 bpf1
  cpu0=$(awk '{ print $14 + $15 }' /proc/$pid/stat); bpf0=$(bpf_ns)
  sent=$(paced)
  sleep 1
  cpu1=$(awk '{ print $14 + $15 }' /proc/$pid/stat); bpf1=$(bpf_ns)
  kill -INT $pid; wait $pid
  local produced lost
  produced=$(sed -nE 's/.* ([0-9]+) events produced.*/\1/p' "$work/err")
  lost=$(sed -nE 's/.* ([0-9]+) lost.*/\1/p' "$work/err")
  local ms=$(( (cpu1 - cpu0) * 1000 / $(getconf CLK_TCK) )) bms=$(( (bpf1 - bpf0) / 1000000 ))
  printf '| %-28s | %7s | %9s | %5s | %8s | %8s | %10s |\n' "$name" "$sent" "$produced" "$lost" "$ms" "$bms" \
    "$(awk -v u="$ms" -v b="$bms" -v e="$produced" 'BEGIN { printf "%.0f", e ? (u + b) * 1e6 / e : 0 }')"
  rm -f "$work/ready" "$work/out"
}
echo
echo "steady rate: ping -i $(awk -v r="$PACED_PPS" 'BEGIN { printf "%g", 1 / r }') for ${SECS}s (${PACED_PPS} pps asked)"
echo
printf '| %-28s | %7s | %9s | %5s | %8s | %8s | %10s |\n' "pwru options" "packets" "produced" "lost" "pwru ms" \
  "BPF ms" "ns/event"
echo "|---|---|---|---|---|---|---|"
stats=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1
cost_row "--summary alone (in the kernel)" --summary
cost_row "--summary, userspace counting" --summary --output-limit-lines 4000000000
cost_row "text, no filter"
