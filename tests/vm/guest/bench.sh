# Benchmark payload (sourced by main.sh when PAYLOAD=bench): per backend, prepare/attach/detach time, RSS, events
# for one ping, and events/s and losses under a ping flood. Prints "@@BENCH key=value ..." lines for
# bench/vm-bench.sh. Not a test: nothing here fails the run.
FLOOD_S=${FLOOD_S:-5}
BENCH_FILTER=${BENCH_FILTER-icmp}   # empty: no pcap filter
setup_net
flood_pkts() { # ping -f for FLOOD_S seconds; prints packets transmitted
  $PING -f -q -w "$FLOOD_S" 10.0.0.2 2>&1 | sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p'
}
base_pkts=$(flood_pkts)
echo "@@BENCH kind=baseline flood_pkts=$base_pkts"
for be in $BACKEND $EXTRA_BACKENDS; do
  SCEN="bench[$be]"; LABEL=bench-$be
  OUT=/tmp/$LABEL.out; ERR=/tmp/$LABEL.err; READY=/tmp/$LABEL.ready; rm -f "$OUT" "$ERR" "$READY"
  echo "--- [$SCEN] $TRACER --backend $be --ready-file $READY --output-file $OUT $BENCH_FILTER"
  t0=$(now); tp=
  "$TRACER" --backend "$be" --ready-file "$READY" --output-file "$OUT" $BENCH_FILTER 2> "$ERR" &
  TPID=$!
  while [ ! -e "$READY" ] && alive $TPID; do
    [ -z "$tp" ] && grep -q 'attaching' "$ERR" && tp=$(now)
    sleep 0.05
  done
  if ! alive $TPID; then wait $TPID; echo "@@BENCH kind=tracer backend=$be error=exited"; show_err; continue; fi
  t1=$(now); [ -n "$tp" ] || tp=$t1
  funcs=$(sed -n 's/.*attaching \([0-9]*\) .*/\1/p' "$ERR" | head -1)
  rss_attach=$(awk '/VmRSS/ {print $2}' /proc/$TPID/status)
  sleep 1
  l0=$(events | wc -l)
  $PING -c1 -W5 10.0.0.2 > /dev/null; settle
  per_ping=$(( $(events | wc -l) - l0 ))
  l1=$(events | wc -l); tf=$(now)
  pkts=$(flood_pkts)
  tf1=$(now); l2=$(events | wc -l)
  settle; l3=$(events | wc -l)
  rss_peak=$(awk '/VmHWM/ {print $2}' /proc/$TPID/status)
  ts=$(now); kill -INT $TPID; wait $TPID; rc=$?; td=$(now)
  summary=$(grep 'events produced' "$ERR" | tail -1)
  produced=$(echo "$summary" | sed -n 's/.*pwru: \([0-9]*\) events produced.*/\1/p')
  lost=$(echo "$summary" | sed -n 's/.* \([0-9]*\) lost.*/\1/p')
  echo "@@BENCH kind=tracer backend=$be funcs=${funcs:-?} prepare_s=$(awk "BEGIN{printf \"%.2f\", $tp-$t0}") attach_s=$(awk "BEGIN{printf \"%.2f\", $t1-$tp}") detach_s=$(awk "BEGIN{printf \"%.2f\", $td-$ts}") rc=$rc rss_attach_kb=$rss_attach rss_peak_kb=$rss_peak events_per_ping=$per_ping flood_s=$(awk "BEGIN{printf \"%.2f\", $tf1-$tf}") flood_pkts=$pkts events_during=$((l2-l1)) events_total=$((l3-l1)) produced=${produced:-?} lost=${lost:-?}"
  tail -n 3 "$ERR" | sed 's/^/  | /'
done
