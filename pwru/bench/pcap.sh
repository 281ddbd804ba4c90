#!/usr/bin/env bash
# What --output-pcap costs, on the host (tracepoint backend) under a 5 s ping flood between two netns (1000-byte
# payload): per pwru configuration, the packets/s the flood reached, events produced per second, events lost, the
# kernel's ns per program run (BPF stats: run_time_ns / run_cnt of pwru's programs) and the bytes written. Rows: no
# pcapng (today's cost, the reference), then --output-pcap with --snaplen 0, 256 and 1500. Run as root:
#   bash pwru/bench/pcap.sh [path/to/pwru]   (default: release build in $CARGO_TARGET_DIR or target/)
set -euo pipefail
cd "$(dirname "$0")/../.."
T=${CARGO_TARGET_DIR:-$PWD/target}
BIN=${1:-$T/release/pwru}
[ -x "$BIN" ] || cargo build --release -p pwru -q
for t in bpftool jq; do command -v $t >/dev/null || { echo "pcap.sh: needs $t" >&2; exit 1; }; done
SECS=${SECS:-5}
A=pwru-pbench-a B=pwru-pbench-b
stats_was=$(sysctl -n kernel.bpf_stats_enabled)
work=
cleanup() {
  ip netns del $A 2>/dev/null || true; ip netns del $B 2>/dev/null || true
  [ -n "$work" ] && rm -rf "$work"
  sysctl -qw kernel.bpf_stats_enabled="$stats_was"
}
trap cleanup EXIT
cleanup; work=$(mktemp -d)
sysctl -qw kernel.bpf_stats_enabled=1
ip netns add $A; ip netns add $B
ip -n $A link add pwpbena type veth peer name pwpbenb netns $B
ip -n $A addr add 10.251.0.1/24 dev pwpbena; ip -n $B addr add 10.251.0.2/24 dev pwpbenb
ip -n $A link set pwpbena up; ip -n $B link set pwpbenb up; ip -n $A link set lo up; ip -n $B link set lo up
ip netns exec $A ping -c1 -W2 10.251.0.2 >/dev/null

flood() { ip netns exec $A ping -f -q -s 1000 -w "$SECS" 10.251.0.2 2>&1 | awk '/packets transmitted/ {print $1}'; }

# Sum of run_time_ns and run_cnt over the programs process $1 holds (their ids from its fds' fdinfo).
kstats() {
  local ids
  ids=$(grep -h '^prog_id:' /proc/"$1"/fdinfo/* 2>/dev/null | awk '{print $2}' | sort -u)
  for id in $ids; do bpftool prog show id "$id" -j; done \
    | jq -s -r '"\(map(.run_time_ns // 0) | add // 0) \(map(.run_cnt // 0) | add // 0)"'
}

base=$(flood)
row() { # name, pwru args...
  local name=$1; shift
  local out=${OUT:-$work/out}
  "$BIN" --backend tracepoint --ready-file "$work/ready" --output-file "$out" "$@" 2>"$work/err" &
  local pid=$!
  while [ ! -e "$work/ready" ]; do sleep 0.05; kill -0 $pid 2>/dev/null || { cat "$work/err"; exit 1; }; done
  read -r t0 c0 < <(kstats $pid)
  local sent; sent=$(flood)
  read -r t1 c1 < <(kstats $pid)
  sleep 1; kill -INT $pid; wait $pid
  local line produced lost bytes
  line=$(grep 'events produced' "$work/err")
  produced=$(sed -E 's/.* ([0-9]+) events produced.*/\1/' <<<"$line")
  lost=$(sed -E 's/.* ([0-9]+) lost.*/\1/' <<<"$line")
  bytes=0
  for f in "$out" "$work/p.pcapng"; do [ -f "$f" ] && bytes=$((bytes + $(stat -c %s "$f"))); done
  printf '| %-30s | %8s | %10s | %8s | %6s | %9s | %9s |\n' "$name" "$((sent / SECS))" "$((produced / SECS))" "$lost" \
    "$(awk -v l="$lost" -v p="$produced" 'BEGIN { printf "%.1f%%", p ? 100*l/p : 0 }')" \
    "$(awk -v t=$((t1 - t0)) -v c=$((c1 - c0)) 'BEGIN { printf "%.0f", c ? t/c : 0 }')" \
    "$((bytes / 1024 / 1024)) MiB"
  rm -f "$work/ready" "$work/out" "$work/p.pcapng"
}
echo "host $(uname -r), $(nproc) CPUs, ping -f -s 1000 for ${SECS}s between two netns over veth; without pwru: $((base / SECS)) pps"
echo
printf '| %-30s | %8s | %10s | %8s | %6s | %9s | %9s |\n' "pwru options" "pps" "events/s" "lost" "lost%" "kernel ns" "written"
echo "|---|---|---|---|---|---|---|"
row "text (today: no packet bytes)"
row "text + pcapng, --snaplen 0" --output-pcap "$work/p.pcapng" --snaplen 0
row "text + pcapng, --snaplen 256" --output-pcap "$work/p.pcapng" --snaplen 256
row "text + pcapng, --snaplen 1500" --output-pcap "$work/p.pcapng" --snaplen 1500
OUT=/dev/null row "pcapng only, --snaplen 256" --output-pcap "$work/p.pcapng" --snaplen 256
echo
echo "kernel ns: mean time of one run of pwru's programs (kernel.bpf_stats_enabled), copying the bytes included."
