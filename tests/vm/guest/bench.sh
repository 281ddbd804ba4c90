# Benchmark payload (sourced by main.sh when PAYLOAD=bench). Per backend, in this one boot: the limit program
# (/usr/bin/pwru-limit: the same functions, the same backend code, a program that only counts) and then pwru,
# each timed from start to ready, with RSS, and from SIGINT to exit; pwru also gets one ping and a ping flood.
# Prints "@@BENCH key=value ..." lines for bench/vm-bench.sh, and pwru's start-up phases (PWRU_STARTUP_TIMES). Not a test: nothing here fails the run.
#   BENCH_FILTER      pcap filter (default icmp; empty: none)
#   BENCH_PLACEMENTS  more kprobe placements to measure, limit and pwru each (e.g. "entry past-ftrace")
#   BENCH_ROUNDS      how many times the default runs are repeated (alternating limit and pwru; default 1)
#   BENCH_MECHANISMS  limit mechanisms to measure too, once each after the rounds (pwru/examples/limit.rs
#                     --mechanism; e.g. "rcu-expedited"): kind=limit-mech lines
FLOOD_S=${FLOOD_S:-5}
BENCH_FILTER=${BENCH_FILTER-icmp}
LIMIT=${LIMIT:-/usr/bin/pwru-limit}
setup_net
flood_pkts() { # ping -f for FLOOD_S seconds; prints packets transmitted
  $PING -f -q -w "$FLOOD_S" 10.0.0.2 2>&1 | sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p'
}
base_pkts=$(flood_pkts)
echo "@@BENCH kind=baseline flood_pkts=$base_pkts"

# bench_one KIND BIN BACKEND PLACEMENT FLOOD [MECHANISM]: one start -> ready -> (ping, flood) -> SIGINT -> exit.
bench_one() {
  local kind=$1 bin=$2 be=$3 pl=$4 flood=$5 mech=${6:-} t0 tp t1 funcs rss_attach per_ping l0 l1 l2 l3 tf tf1 pkts rss_peak \
    rss_end ts td rc summary produced lost extra
  LABEL=bench-$kind-$be-$pl; SCEN="bench[$kind $be $pl${mech:+ $mech}]"
  OUT=/tmp/$LABEL.out; ERR=/tmp/$LABEL.err; READY=/tmp/$LABEL.ready; rm -f "$OUT" "$ERR" "$READY"
  extra=; [ "$be" = kprobe ] && [ "$pl" != default ] && extra="--kprobe-placement $pl"
  [ -n "$mech" ] && extra="--mechanism $mech $extra"
  echo "--- [$SCEN] $bin $extra --backend $be --ready-file $READY --output-file $OUT $BENCH_FILTER"
  t0=$(now); tp=
  PWRU_STARTUP_TIMES=1 "$bin" $extra --backend "$be" --ready-file "$READY" --output-file "$OUT" $BENCH_FILTER 2> "$ERR" &
  TPID=$!
  while [ ! -e "$READY" ] && alive $TPID; do
    [ -z "$tp" ] && grep -q 'attaching' "$ERR" && tp=$(now)
    sleep 0.05
  done
  if ! alive $TPID; then
    wait $TPID; echo "@@BENCH kind=$kind backend=$be placement=$pl error=exited"; show_err; return
  fi
  t1=$(now); [ -n "$tp" ] || tp=$t1
  funcs=$(sed -n 's/.*attaching \([0-9]*\) .*/\1/p' "$ERR" | head -1)
  rss_attach=$(awk '/VmRSS/ {print $2}' /proc/$TPID/status)
  per_ping=-; pkts=-; l1=0; l2=0; l3=0; tf=0; tf1=0
  if [ "$flood" = yes ]; then
    sleep 1
    l0=$(events | wc -l)
    $PING -c1 -W5 10.0.0.2 > /dev/null; settle
    per_ping=$(( $(events | wc -l) - l0 ))
    l1=$(events | wc -l); tf=$(now)
    pkts=$(flood_pkts)
    tf1=$(now); l2=$(events | wc -l)
    settle; l3=$(events | wc -l)
  fi
  rss_peak=$(awk '/VmHWM/ {print $2}' /proc/$TPID/status)
  rss_end=$(awk '/VmRSS/ {print $2}' /proc/$TPID/status)
  ts=$(now); kill -INT $TPID; wait $TPID; rc=$?; td=$(now)
  summary=$(grep 'events produced' "$ERR" | tail -1)
  produced=$(echo "$summary" | sed -n 's/.*pwru: \([0-9]*\) events produced.*/\1/p')
  lost=$(echo "$summary" | sed -n 's/.* \([0-9]*\) lost.*/\1/p')
  echo "@@BENCH kind=$kind backend=$be placement=$pl${mech:+ mechanism=$mech} funcs=${funcs:-?} prepare_s=$(awk "BEGIN{printf \"%.2f\", $tp-$t0}") attach_s=$(awk "BEGIN{printf \"%.2f\", $t1-$tp}") ready_s=$(awk "BEGIN{printf \"%.2f\", $t1-$t0}") detach_s=$(awk "BEGIN{printf \"%.2f\", $td-$ts}") rc=$rc rss_attach_kb=$rss_attach rss_peak_kb=$rss_peak rss_end_kb=$rss_end events_per_ping=$per_ping flood_s=$(awk "BEGIN{printf \"%.2f\", $tf1-$tf}") flood_pkts=$pkts events_during=$((l2-l1)) events_total=$((l3-l1)) produced=${produced:-?} lost=${lost:-?}"
  grep 'start-up' "$ERR" | sed 's/^/  | /'
  tail -n 3 "$ERR" | sed 's/^/  | /'
}

for be in $BACKEND $EXTRA_BACKENDS; do
  r=0
  while [ $r -lt "${BENCH_ROUNDS:-1}" ]; do
    r=$((r+1))
    [ -x "$LIMIT" ] && bench_one limit "$LIMIT" "$be" default no
    bench_one tracer "$TRACER" "$be" default yes
  done
  if [ -x "$LIMIT" ]; then
    for m in $BENCH_MECHANISMS; do bench_one limit-mech "$LIMIT" "$be" default no "$m"; done
  fi
  if [ "$be" = kprobe ]; then
    for pl in $BENCH_PLACEMENTS; do
      [ -x "$LIMIT" ] && bench_one limit "$LIMIT" "$be" "$pl" no
      bench_one tracer "$TRACER" "$be" "$pl" no
    done
  fi
done
