#!/usr/bin/env bash
# Loss under a 5 s ping flood on the host (tracepoint backend): packets/s without and with pwru, and pwru's
# exit figures (events produced by the kernel side, lost in the ring buffer, printed or counted), events handled per
# second (produced - lost, over the flood) and pwru's peak memory (VmHWM), for the plain text run beside --drops-only
# and --summary alone (counted in the kernel; and, for comparison, in userspace). (ping -f's echo replies are freed with NO_SOCKET by the kernel once the raw socket has its copy,
# so --drops-only prints every reply's path; the echo-request rows have no drop at all.) Run as root:
#   bash pwru/bench/flood.sh [path/to/pwru]   (default: release build in $CARGO_TARGET_DIR or target/)
set -euo pipefail
cd "$(dirname "$0")/../.."
T=${CARGO_TARGET_DIR:-$PWD/target}
# Without a binary argument, build the current tree (a no-op when it is up to date; a stale binary would lack flags).
if [ -n "${1:-}" ]; then BIN=$1; else cargo build --release -p pwru -q; BIN=$T/release/pwru; fi
SECS=${SECS:-5}
A=pwru-bench-a B=pwru-bench-b
work=$(mktemp -d)
cleanup() { ip netns del $A 2>/dev/null || true; ip netns del $B 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cleanup; work=$(mktemp -d)
ip netns add $A; ip netns add $B
ip -n $A link add pwbena type veth peer name pwbenb netns $B
ip -n $A addr add 10.250.0.1/24 dev pwbena; ip -n $B addr add 10.250.0.2/24 dev pwbenb
ip -n $A link set pwbena up; ip -n $B link set pwbenb up; ip -n $A link set lo up; ip -n $B link set lo up
ip netns exec $A ping -c1 -W2 10.250.0.2 >/dev/null

flood() { ip netns exec $A ping -f -q -w "$SECS" 10.250.0.2 2>&1 | awk '/packets transmitted/ {print $1}'; }

base=$(flood)
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
  printf '| %-28s | %9s | %8s | %10s | %10s | %10s | %6s | %9s | %7s |\n' "$name" "$sent" "$((sent / SECS))" "$produced" \
    "$lost" "$printed" "$(awk -v l="$lost" -v p="$produced" 'BEGIN { printf "%.1f%%", p ? 100*l/p : 0 }')" \
    "$(( (produced - lost) / SECS ))" "$hwm"
  rm -f "$work/ready" "$work/out"
}
echo "host $(uname -r), $(nproc) CPUs, ping -f for ${SECS}s between two netns over veth; without pwru: $base packets ($((base / SECS)) pps)"
echo
printf '| %-28s | %9s | %8s | %10s | %10s | %10s | %6s | %9s | %7s |\n' "pwru options" "packets" "pps" "produced" "lost" \
  "printed" "lost%" "handled/s" "peak MB"
echo "|---|---|---|---|---|---|---|---|---|"
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
# The limit of any userspace aggregation: every probe runs and its filter rejects every packet, so nothing is shipped.
row "filter rejecting all" 'host 192.0.2.1'
