#!/bin/sh
# Guest scenario runner: all scenarios in one boot. /guest/plan.env (written by run.sh) sets
#   BACKEND         backend for the scenarios (kprobe-multi on 6.12 amd64, kprobe elsewhere)
#   EXTRA_BACKENDS  backends scenario 1 also runs with
#   AUTO_EXPECT     what --backend auto must pick on this kernel
#   SCENARIOS       which scenario functions to run (default: all)
#   EXTRA_SCENARIOS more s_<name> functions to run after them (from /guest/scen-*.sh)
#   TRACE_ALL_FUNC  optional --filter-func for the all-functions run (default: every skb function)
#   PAYLOAD         scenarios | bench | trivial
. /guest/lib.sh
. /guest/plan.env
# Extra scenario files (e.g. scen-arm64.sh from the arm64 engineer) define more s_<name> functions; they run
# after the default list when named in EXTRA_SCENARIOS.
for f in /guest/scen-*.sh; do [ -f "$f" ] && . "$f"; done
TRACKED='icmp_rcv|ip_rcv|ip_local_deliver|ip_output|ip_finish_output2|__ip_local_out|__dev_queue_xmit|dev_queue_xmit|dev_hard_start_xmit|__netif_receive_skb_core|__netif_rx|netif_rx|icmp_echo|kfree_skbmem|consume_skb|udp_rcv|__udp4_lib_rcv|nf_hook_slow|kfree_skb_reason|sk_skb_reason_drop|ip_rcv_core|ip_rcv_finish|__ip_finish_output|ip_send_skb|ip_push_pending_frames|ip_finish_output'
REQ=$(tup '10.0.0.1:0->10.0.0.2:0(icmp)')
REP=$(tup '10.0.0.2:0->10.0.0.1:0(icmp)')

# 1 + 2 + 5: every skb function attached; a ping, UDP to a closed port and UDP that netfilter drops.
s_trace_all() {
  be=$1; SCEN="trace-all[$be]"
  base=$(footprint)
  # TRACE_ALL_FUNC (VM_TRACE_ALL_FUNC) narrows the functions, for slow guests (arm64 TCG); default: every one.
  tracer_start "all-$be" --backend "$be" ${TRACE_ALL_FUNC:+--filter-func "$TRACE_ALL_FUNC"} || return
  echo "info: $(grep -c 'attaching' "$ERR") attach line(s): $(grep 'attaching\|attached' "$ERR" | tr '\n' ' ')"
  expect_attached "$base" "$be"
  $PING -c1 -W5 10.0.0.2 > /dev/null || fail "ping 10.0.0.2 failed while tracing"
  $UDPSEND 10.0.0.2 9 3 40000 > /dev/null
  $UDPSEND 10.0.0.2 7777 3 40001 > /dev/null
  settle
  echo "info: $(events | wc -l) events in all-$be"
  SCEN="1-ping[$be]"
  expect "request received in ns1 (ip_rcv/icmp_rcv, netns $NS_1)" "$(fn 'ip_rcv|icmp_rcv')" "$REQ" "$(ns $NS_1)"
  expect "request sent from the root netns (dev_queue_xmit, netns $NS_ROOT)" "$(fn '__dev_queue_xmit|dev_queue_xmit')" "$REQ" "$(ns $NS_ROOT)"
  expect "reply sent from ns1 (dev_queue_xmit, netns $NS_1)" "$(fn '__dev_queue_xmit|dev_queue_xmit')" "$REP" "$(ns $NS_1)"
  expect "reply received in the root netns (icmp_rcv, netns $NS_ROOT)" "$(fn 'icmp_rcv')" "$REP" "$(ns $NS_ROOT)"
  expect "echo request answered by icmp_echo in ns1" "$(fn 'icmp_echo')" "$REQ" "$(ns $NS_1)"
  expect_none "request never shows the wrong netns in ip_rcv" "$(fn 'ip_rcv')" "$REQ" "$(ns $NS_ROOT)"
  SCEN="2-drop[$be]"
  expect "UDP to a closed port dropped with NO_SOCKET" \
    '(kfree_skb_reason|sk_skb_reason_drop)\((SKB_DROP_REASON_)?NO_SOCKET\)' "$(tup '10.0.0.1:40000->10.0.0.2:9(udp)')" "$(ns $NS_1)"
  expect "UDP dropped by nftables with NETFILTER_DROP" \
    '(kfree_skb_reason|sk_skb_reason_drop)\((SKB_DROP_REASON_)?NETFILTER_DROP\)' "$(tup '10.0.0.1:40001->10.0.0.2:7777(udp)')" "$(ns $NS_1)"
  expect_none "the nft-dropped datagram is not reported as NO_SOCKET" 'NO_SOCKET' "$(tup '->10.0.0.2:7777(udp)')"
  SCEN="5-cleanup[$be]"
  SECOND_SIGNAL=1 tracer_stop
  # Only a detach that outlasts the second signal can answer it (kprobe-multi detaches within the second).
  if [ -n "$SECOND_SENT" ] && awk "BEGIN{exit !($T_STOP > 3)}"; then
    grep -q 'SIGINT: still detaching, [0-9]* of [0-9]* probes left' "$ERR" \
      && pass "a second Ctrl-C while detaching says what is left ($(grep -o 'still detaching, [0-9]* of [0-9]*' "$ERR" | head -1))" \
      || { fail "a second Ctrl-C while detaching said nothing"; show_err; }
  fi
  # Plain kprobes are removed with expedited RCU grace periods (the setting is back to 0 in expect_clean's footprint).
  if [ "$be" = kprobe ]; then
    [ -n "$SAW_EXPEDITED" ] && pass "rcu_expedited was 1 while the kprobes were removed" \
      || fail "rcu_expedited never read 1 while the kprobes were removed"
  else
    [ -z "$SAW_EXPEDITED" ] && pass "rcu_expedited stayed 0 ($be)" || fail "rcu_expedited was set ($be)"
  fi
  expect_clean "$base"
}

# 12: Ctrl-C while the kprobes are being attached: pwru stops attaching, detaches what it had, prints the summary line
# and exits 130; nothing is left behind.
s_ctrl_c_attach() {
  SCEN="ctrl-c-attach"; base=$(footprint)
  LABEL=attachint; ERR=/tmp/$LABEL.err; rm -f "$ERR"
  "$TRACER" --backend kprobe --output-file /dev/null > /dev/null 2> "$ERR" &
  TPID=$!
  i=0; while ! grep -q 'attaching' "$ERR" 2>/dev/null && alive $TPID && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
  sleep 1
  if ! alive $TPID || grep -q ' attached, ' "$ERR"; then fail "pwru was not attaching any more"; show_err; return; fi
  t=$(now); kill -INT $TPID; wait $TPID; rc=$?; TPID=
  timing ctrl_c_attach.exit "$(since $t)"
  [ $rc -eq 130 ] && pass "exit 130 after Ctrl-C while attaching" || { fail "exit $rc"; show_err; }
  grep -q 'interrupted (SIGINT) while attaching the probes' "$ERR" && pass "says it was interrupted while attaching" \
    || { fail "no 'interrupted while attaching' line"; show_err; }
  grep -qE '[0-9]+ events produced, [0-9]+ lost, [0-9]+ printed' "$ERR" && pass "prints the summary line" \
    || { fail "no summary line"; show_err; }
  grep 'attached,' "$ERR" | sed 's/^/info: /'
  expect_clean "$base"
}

# --backend auto must pick kprobe-multi where the kernel has it, kprobe otherwise.
s_auto() {
  SCEN="auto-backend"; base=$(footprint)
  tracer_start auto --filter-func 'ip_rcv|icmp_rcv' || return
  expect_attached "$base" "$AUTO_EXPECT"
  tracer_stop; expect_clean "$base"
}

s_filter_netns() {
  SCEN="3-filter-netns"
  tracer_start netns --backend "$BACKEND" --filter-func "$TRACKED" --filter-netns "inode:$NS_1" || return
  $PING -c2 -W5 10.0.0.2 > /dev/null; settle; tracer_stop
  expect "ns1 events included" "$(ns $NS_1)" "$REQ"
  expect_all "every event is in ns1" "$(ns $NS_1)"
  expect_none "root-netns events excluded" "$(ns $NS_ROOT)"
}
s_filter_mark() {
  SCEN="3-filter-mark"
  tracer_start mark --backend "$BACKEND" --filter-func "$TRACKED" --filter-mark 0x42 || return
  $PING -c2 -m 66 -W5 10.0.0.2 > /dev/null || fail "marked ping failed"  # 0x42; iputils reads -m as decimal
  $PING -c2 -W5 10.0.0.5 > /dev/null           # unmarked
  settle; tracer_stop
  expect "marked ping included" "$REQ"
  expect_all "every event carries mark 0x42" '[ ](0x)?42[ ]'
  expect_none "unmarked ping excluded" "$(lit '10.0.0.5')"
}
s_filter_ifname() {
  SCEN="3-filter-ifname"
  tracer_start ifname --backend "$BACKEND" --filter-func "$TRACKED" --filter-ifname veth0 || return
  $PING -c2 -W5 10.0.0.2 > /dev/null
  $PING -c2 -W5 127.0.0.1 > /dev/null
  settle; tracer_stop
  expect "veth0 traffic included" "$REQ" 'veth0'
  expect_none "loopback traffic excluded" "$(lit '127.0.0.1')"
  expect_all "every event is on veth0" 'veth0|[ ]3[ ]'
}
s_filter_func() {
  SCEN="3-filter-func"
  tracer_start func --backend "$BACKEND" --filter-func 'icmp_rcv|ip_rcv' || return
  $PING -c2 -W5 10.0.0.2 > /dev/null; settle; tracer_stop
  expect "icmp_rcv included" "$(fn icmp_rcv)" "$REQ"
  expect "ip_rcv included" "$(fn ip_rcv)" "$REQ"
  expect_all "only icmp_rcv and ip_rcv" "$(fn 'icmp_rcv|ip_rcv')"
}

# 4: a pcap filter on the pre-DNAT destination plus --filter-track-skb keeps following the skb after the rewrite.
s_track_skb() {
  SCEN="4-track-skb"
  cat > /tmp/dnat.nft <<'NFT'
table ip vmnat {
  chain out { type nat hook output priority -100; policy accept; ip daddr 10.0.0.3 dnat to 10.0.0.2; }
}
NFT
  $NFT -f /tmp/dnat.nft || { fail "nft dnat rule"; return; }
  PRE=$(tup '10.0.0.1:0->10.0.0.3:0(icmp)')
  if tracer_start track --backend "$BACKEND" --filter-func "$TRACKED" --filter-track-skb 'host 10.0.0.3'; then
    $PING -c1 -W5 10.0.0.3 > /dev/null || fail "ping 10.0.0.3 (DNAT to 10.0.0.2) failed"
    settle; tracer_stop
    expect "events before the rewrite show 10.0.0.3" "$PRE"
    expect "the same skb is followed after DNAT into ns1 (ip_rcv/icmp_rcv, 10.0.0.2)" "$(fn 'ip_rcv|icmp_rcv')" "$REQ" "$(ns $NS_1)"
    skb=$(events | grep -E -- "$PRE" | head -1 | cut -d' ' -f1)
    expect "the post-DNAT events have the pre-DNAT skb address" "^$skb " "$REQ"
  fi
  # Control: without tracking, the rewritten packet no longer matches the filter.
  SCEN="4-track-skb-control"
  if tracer_start notrack --backend "$BACKEND" --filter-func "$TRACKED" 'host 10.0.0.3'; then
    $PING -c1 -W5 10.0.0.3 > /dev/null
    settle; tracer_stop
    expect "without tracking, pre-DNAT events still shown" "$PRE"
    expect_none "without tracking, post-DNAT events are filtered out" "$REQ"
  fi
  $NFT delete table ip vmnat
}

# 14: --filter-track-skb-by-stackid. The filter selects only the echo request; ns1 builds the reply, a new skb,
# while the request is being processed by the same task, and that is followed (then by skb tracking back into the
# root netns). --filter-non-skb-funcs fib_table_lookup (no skb argument) reports the route lookups made for the
# request as the request. Control: without stack tracking, no reply event.
s_track_stack() {
  SCEN="14-track-stack"
  ECHO='icmp[icmptype] == icmp-echo'
  if tracer_start stack --backend "$BACKEND" --filter-func "$TRACKED" --filter-track-skb --filter-track-skb-by-stackid \
      --filter-non-skb-funcs fib_table_lookup,no_such_func_14 "$ECHO"; then
    $PING -c1 -W5 10.0.0.2 > /dev/null || fail "ping 10.0.0.2 failed while tracing"
    settle; tracer_stop
    expect "the echo request is traced into ns1 (icmp_rcv)" "$(fn icmp_rcv)" "$REQ" "$(ns $NS_1)"
    expect "the reply, a new skb, is followed where ns1 sends it (dev_queue_xmit)" "$(fn '__dev_queue_xmit|dev_queue_xmit')" "$REP" "$(ns $NS_1)"
    expect "the reply is followed on into the root netns (icmp_rcv)" "$(fn icmp_rcv)" "$REP" "$(ns $NS_ROOT)"
    req=$(events | grep -E -- "$REQ" | head -1 | cut -d' ' -f1)
    rep=$(events | grep -E -- "$REP" | head -1 | cut -d' ' -f1)
    if [ -n "$req" ] && [ -n "$rep" ] && [ "$req" != "$rep" ]; then pass "request and reply are two skbs ($req, $rep)"
    else fail "request skb '$req', reply skb '$rep': expected two different skbs"; fi
    expect "fib_table_lookup (no skb argument) is reported as the request in ns1" "$(fn fib_table_lookup)" "$REQ" "$(ns $NS_1)"
    grep -q 'no_such_func_14 is not a probe-able function' "$ERR" && pass "an unknown non-skb function is skipped with a note" \
      || { fail "no note for the unknown non-skb function"; show_err; }
  fi
  SCEN="14-track-stack-control"
  if tracer_start nostack --backend "$BACKEND" --filter-func "$TRACKED" --filter-track-skb "$ECHO"; then
    $PING -c1 -W5 10.0.0.2 > /dev/null || fail "ping 10.0.0.2 failed while tracing"
    settle; tracer_stop
    expect "without stack tracking the request is traced (icmp_rcv)" "$(fn icmp_rcv)" "$REQ" "$(ns $NS_1)"
    # The reply's path is what stack tracking adds. (On 6.12 one consume_skb of a reply-tuple skb in ping's receive
    # was seen without stack tracking once, cause not found; it is not part of this check.)
    expect_none "without stack tracking the reply is not followed (dev_queue_xmit in ns1, ip_rcv/icmp_rcv)" \
      "$(fn '__dev_queue_xmit|dev_queue_xmit|ip_rcv|icmp_rcv')" "$REP"
  fi
}

# 5: --output-limit-lines makes the tracer exit by itself, cleanly.
s_limit_lines() {
  SCEN="5-limit-lines"; base=$(footprint)
  tracer_start limit --backend "$BACKEND" --filter-func "$TRACKED" --output-limit-lines 5 || return
  T_LIM=$(now)
  $PING -c3 -i 0.2 -W5 10.0.0.2 > /dev/null
  i=0; while alive $TPID && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
  if alive $TPID; then fail "still running 30s after the traffic"; tracer_stop; return; fi
  wait $TPID; rc=$?; TPID=
  timing limit.exit "$(since $T_LIM)"
  [ $rc -eq 0 ] && pass "exits 0 by itself" || { fail "exit code $rc"; show_err; }
  n=$(events | wc -l)
  [ "$n" -eq 5 ] && pass "exactly 5 events written" || { fail "$n events written, expected 5"; show_out; }
  expect_clean "$base"
}

# 6: the pcap filter selects exactly the matching packets.
s_pcap() {
  SCEN="6-pcap"
  if tracer_start pcap --backend "$BACKEND" --filter-func "$TRACKED" 'icmp and host 10.0.0.2'; then
    $PING -c2 -W5 10.0.0.2 > /dev/null; $PING -c2 -W5 10.0.0.5 > /dev/null
    $UDPSEND 10.0.0.2 9 2 40002 > /dev/null
    settle; tracer_stop
    expect "pings to 10.0.0.2 selected" "$REQ"
    expect "their replies selected" "$REP"
    expect_all "every event is icmp to/from 10.0.0.2" "$(lit '10.0.0.2:0(icmp)')|$(lit '10.0.0.2:0->')[^ ]*\(icmp\)"
    expect_none "UDP excluded" '\(udp\)'
    expect_none "pings to 10.0.0.5 excluded" "$(lit '10.0.0.5')"
  fi
  SCEN="6-pcap-nomatch"
  if tracer_start pcapnone --backend "$BACKEND" --filter-func "$TRACKED" 'icmp and host 10.9.9.9'; then
    $PING -c2 -W5 10.0.0.2 > /dev/null; $UDPSEND 10.0.0.2 9 2 40003 > /dev/null
    settle; tracer_stop
    n=$(events | wc -l)
    [ "$n" -eq 0 ] && pass "a filter that matches nothing yields no events" || { fail "$n events for a filter matching nothing"; show_out 5; }
  fi
}

# 8: --output-pcap beside the JSON lines: a packet per event; replay of the pcapng rebuilds the live events exactly;
# pwru filter --read on its bytes selects what the tuples say. The file goes to the host through the serial log
# (@@FILE, base64), where tests/vm/check-pcapng.sh reads it with tshark and tcpdump.
s_pcapng() {
  SCEN="8-pcapng"
  P=/tmp/trace.pcapng
  tracer_start pcapng --backend "$BACKEND" --filter-func "$TRACKED" --output-json --output-pcap $P 'host 10.0.0.2' || return
  $PING -c2 -W5 -s 48 -p 70777275 10.0.0.2 > /dev/null || fail "ping 10.0.0.2 failed while tracing"
  $UDPSEND 10.0.0.2 7777 1 40020 > /dev/null
  settle; tracer_stop
  n=$(grep -c '^{' "$OUT")
  [ "$n" -gt 10 ] && pass "$n JSON events" || fail "only $n JSON events"
  if $TRACER replay --output-json $P > /tmp/replay.json 2> /tmp/replay.err && cmp -s "$OUT" /tmp/replay.json; then
    pass "replay of the pcapng prints the $n live JSON lines exactly"
  else
    fail "replay of the pcapng differs from the live JSON lines"; tail -n 3 /tmp/replay.err | sed 's/^/  | /'
    diff "$OUT" /tmp/replay.json | head -n 6 | sed 's/^/  | /'
  fi
  $TRACER replay "$OUT" > /tmp/replay-json.txt 2> /dev/null; $TRACER replay $P > /tmp/replay-pcap.txt 2> /dev/null
  cmp -s /tmp/replay-json.txt /tmp/replay-pcap.txt && pass "JSON and pcapng replay into the same text" \
    || fail "the JSON and pcapng traces replay into different text"
  icmp=$(grep -c '"tuple":{[^}]*"proto":1,' "$OUT")
  m=$($TRACER filter --read $P icmp | wc -l)
  [ "$m" -eq "$icmp" ] && [ "$m" -gt 0 ] && pass "filter --read icmp on the bytes: $m packets, as many as icmp events" \
    || fail "filter --read icmp: $m packets, $icmp icmp events"
  grep -q '"start":"l3"' "$OUT" && pass "some events carry bytes from the network header (no MAC header yet)" \
    || fail "no event with bytes from the network header"
  echo "@@FILE trace-$KSERIES.pcapng $n"; base64 $P; echo "@@FILE-END"
}

# Module functions: --kmods reads the module's split BTF and attaches to veth's own functions.
s_kmods() {
  SCEN="kmods"
  tracer_start kmods --backend "$BACKEND" --kmods veth --filter-func 'veth_xmit' || return
  $PING -c2 -W5 10.0.0.2 > /dev/null; settle; tracer_stop
  expect "veth_xmit (module veth) traced with the request tuple" "$(fn 'veth_xmit')" "$REQ" "$(ns $NS_ROOT)"
  expect "veth_xmit traced with the reply tuple in ns1" "$(fn 'veth_xmit')" "$REP" "$(ns $NS_1)"
}

# 7: --drops-only, --summary and --metrics with every skb function: UDP to a closed port (NO_SOCKET) and to a port
# nftables drops, among datagrams a listener takes. Only the dropped packets' paths are printed, each whole (from the
# send in the root netns to the drop in ns1, many functions long); the summary and the scraped metrics count them.
s_drops() {
  SCEN="7-drops[$BACKEND]"; base=$(footprint)
  $IP link set lo up   # the metrics endpoint listens on 127.0.0.1
  # The listener lives where 10.0.0.2 is (ns1); the tracer's start gives it ample time to bind, but wait for it.
  $IP netns exec ns1 $UDPSEND -l 7000 & LPID=$!
  i=0; until $IP netns exec ns1 grep -q ':1B58 ' /proc/net/udp || [ $i -ge 50 ]; do sleep 0.1; i=$((i + 1)); done
  [ $i -lt 50 ] || fail "the listener on ns1 port 7000 did not bind"
  # kprobe-multi attaches every skb function at once (paths 50+ functions long); the kprobe backend (6.1, arm64)
  # takes one probe per function, minutes for all of them, so it traces the TRACKED set (paths 15+ long).
  if [ -n "$TRACE_ALL_FUNC" ]; then funcs=$TRACE_ALL_FUNC; minlen=15
  elif [ "$BACKEND" = kprobe-multi ]; then funcs=; minlen=30
  else funcs=$TRACKED; minlen=15; fi
  if ! tracer_start drops --backend "$BACKEND" --drops-only --summary --metrics 127.0.0.1:9464 \
      ${funcs:+--filter-func "$funcs"} 'udp and host 10.0.0.2'; then
    kill $LPID; return
  fi
  $UDPSEND 10.0.0.2 7000 4 40030 > /dev/null
  $UDPSEND 10.0.0.2 9 3 40031 > /dev/null
  $UDPSEND 10.0.0.2 7777 2 40032 > /dev/null
  $UDPSEND 10.0.0.2 7000 4 40033 > /dev/null
  settle; sleep 1.5  # the tracer's counters reach the endpoint once a second
  busybox wget -q -O /tmp/metrics.txt http://127.0.0.1:9464/metrics || fail "GET /metrics failed"
  tracer_stop; kill $LPID; wait $LPID 2>/dev/null
  # Cut the printed events into paths (consecutive lines of one skb): "skb first_netns last_netns n last_func tuple".
  # A path also ends at its drop (the next packet may reuse the address at once).
  events | awk '{ if ($1 != skb || f ~ /_reason(_drop)?\(/) { if (n) print skb, ns0, ns, n, f, t; skb = $1; ns0 = $4; n = 0 }
                  ns = $4; f = $NF; t = $(NF-1); n++ }
                END { if (n) print skb, ns0, ns, n, f, t }' > /tmp/paths
  echo "info: drop paths:"; sed 's/^/  | /' /tmp/paths
  npaths() { grep -cE -- "$1" /tmp/paths; }
  DROPFN='(kfree_skb_reason|sk_skb_reason_drop)'
  n=$(npaths "$(lit ':40031->10.0.0.2:9(udp)')\$"); [ "$n" -eq 3 ] && pass "3 NO_SOCKET paths" || fail "$n paths to port 9, expected 3"
  n=$(npaths "$(lit ':40032->10.0.0.2:7777(udp)')\$"); [ "$n" -eq 2 ] && pass "2 NETFILTER_DROP paths" || fail "$n paths to port 7777, expected 2"
  n=$(wc -l < /tmp/paths); [ "$n" -eq 5 ] && pass "nothing but the 5 dropped packets printed" || fail "$n paths printed, expected 5"
  expect_none "the delivered datagrams are not printed" "$(lit '10.0.0.2:7000(udp)')"
  n=$(awk -v r=$NS_ROOT -v d=$NS_1 -v m=$minlen -v fn="^$DROPFN\\\\((SKB_DROP_REASON_)?(NO_SOCKET|NETFILTER_DROP)\\\\)\$" \
        '$2 == r && $3 == d && $4 >= m && $5 ~ fn' /tmp/paths | wc -l)
  [ "$n" -eq 5 ] && pass "each path whole: sent in the root netns, $minlen+ functions, ends at the drop in ns1" ||
    fail "$n of 5 paths start in the root netns and end at the drop in ns1 after $minlen+ functions"
  for f in ip_rcv __dev_queue_xmit; do
    n=$(count "$(fn $f)" "$(lit '10.0.0.2:')(9|7777)")
    [ "$n" -eq 5 ] && pass "$f once in each path" || fail "$f in $n events of the paths, expected 5"
  done
  grep -q 'evicted (--drops-only caps)' "$ERR" && pass "summary line reports the --drops-only accounting" ||
    { fail "no --drops-only accounting on the summary line"; show_err; }
  grep -E "^ +3  (SKB_DROP_REASON_)?NO_SOCKET +$DROPFN +veth1 +$NS_1\$" "$OUT" > /dev/null &&
    pass "summary: 3 NO_SOCKET on veth1 in ns1" || { fail "summary lacks 3 NO_SOCKET"; sed -n '/pwru summary/,$p' "$OUT" | head -20; }
  grep -E "^ +2  (SKB_DROP_REASON_)?NETFILTER_DROP +$DROPFN +veth1 +$NS_1\$" "$OUT" > /dev/null &&
    pass "summary: 2 NETFILTER_DROP" || fail "summary lacks 2 NETFILTER_DROP"
  grep -E "^ +3  10\.0\.0\.1:40031->10\.0\.0\.2:9\(udp\)\$" "$OUT" > /dev/null && pass "summary: top flow" || fail "summary: no top flow 40031->9"
  m() { grep -E "^pwru_drops_total\{reason=\"(SKB_DROP_REASON_)?$1\",function=\"$DROPFN\",ifname=\"veth1\",netns=\"$NS_1\"\} $2\$" /tmp/metrics.txt > /dev/null; }
  m NO_SOCKET 3 && pass "metrics: NO_SOCKET 3" || { fail "metrics: no NO_SOCKET 3"; grep drops_total /tmp/metrics.txt | head; }
  m NETFILTER_DROP 2 && pass "metrics: NETFILTER_DROP 2" || fail "metrics: no NETFILTER_DROP 2"
  n=$(grep -c '^pwru_drops_total{' /tmp/metrics.txt); [ "$n" -eq 2 ] && pass "metrics: two drop series" || fail "metrics: $n drop series"
  grep -qE '^pwru_probes_attached\{backend="[a-z-]+"\} [1-9][0-9]+$' /tmp/metrics.txt && pass "metrics: probes attached" ||
    fail "metrics: no pwru_probes_attached"
  grep -q '^# TYPE pwru_drops_total counter$' /tmp/metrics.txt && pass "metrics: TYPE line" || fail "metrics: no TYPE line"
  # --summary alone counts in the kernel, which ships only each packet's first drop: the same drops, 5 events read.
  $IP netns exec ns1 $UDPSEND -l 7000 & LPID=$!
  i=0; until $IP netns exec ns1 grep -q ':1B58 ' /proc/net/udp || [ $i -ge 50 ]; do sleep 0.1; i=$((i + 1)); done
  if tracer_start drops-kernel --backend "$BACKEND" --summary ${funcs:+--filter-func "$funcs"} 'udp and host 10.0.0.2'; then
    $UDPSEND 10.0.0.2 7000 4 40030 > /dev/null
    $UDPSEND 10.0.0.2 9 3 40031 > /dev/null
    $UDPSEND 10.0.0.2 7777 2 40032 > /dev/null
    $UDPSEND 10.0.0.2 7000 4 40033 > /dev/null
    settle; tracer_stop
    sed -n '/pwru summary/,$p' "$OUT" | head -8 | sed 's/^/  | /'; grep 'events produced' "$ERR" | sed 's/^/  | /'
    line=$(grep 'events produced' "$ERR")
    counted=$(echo "$line" | sed -nE 's/.* lost, ([0-9]+) counted \(([0-9]+) in the kernel\).*/\1 \2/p')
    [ -n "$counted" ] && [ $(( ${counted% *} - ${counted#* } )) -eq 5 ] &&
      pass "--summary alone: counted in the kernel, the 5 drops shipped" || { fail "--summary alone: not counted in the kernel ($line)"; show_err; }
    grep -qE '^pwru summary after [0-9.]+ s: [0-9]+ events, [0-9]+ packets, 5 dropped; 0 events lost$' "$OUT" &&
      pass "--summary alone: 5 dropped, none lost" || fail "--summary alone: not 5 dropped"
    grep -E "^ +3  (SKB_DROP_REASON_)?NO_SOCKET +$DROPFN +veth1 +$NS_1\$" "$OUT" > /dev/null &&
      grep -E "^ +2  (SKB_DROP_REASON_)?NETFILTER_DROP +$DROPFN +veth1 +$NS_1\$" "$OUT" > /dev/null &&
      pass "--summary alone: 3 NO_SOCKET, 2 NETFILTER_DROP" || fail "--summary alone: drop rows differ"
    grep -E "^ +[1-9][0-9]*  ip_rcv\$" "$OUT" > /dev/null && pass "--summary alone: events per function" ||
      fail "--summary alone: no ip_rcv row"
    # The same datagrams as the --drops-only run, whose summary counted every event in userspace: the same packets.
    # (Its events may differ: with every function probed, the kernel's own work differs from one run to the next,
    # 741 against 781 seen on 6.12; pwru/tests/host_drops.rs compares two countings of one run.)
    user=$(grep -oE ' [0-9]+ packets, 5 dropped' /tmp/drops.out)
    echo "info: userspace $(grep -oE '[0-9]+ events,' /tmp/drops.out) kernel $(grep -oE '[0-9]+ events,' "$OUT")"
    grep -qF -- "$user" "$OUT" && [ -n "$user" ] && pass "--summary alone: the same packets as counted in userspace ($user)" ||
      fail "--summary alone: packets differ from userspace's ($user)"
  fi
  kill $LPID; wait $LPID 2>/dev/null
  expect_clean "$base"
}

# 10: tunnels. VXLAN and Geneve devices between the root netns and ns1 over the veth: the inner filter selects exactly
# the encapsulated pings to the inner address (not the inner UDP), and each event shows the outer tuple and, in the
# TUNNEL column, the kind, VNI and inner tuple.
s_tunnel() {
  SCEN="10-tunnel"
  $IP link add vx0 type vxlan id 42 dstport 4789 local 10.0.0.1 remote 10.0.0.2 dev veth0 \
    && $IP -n ns1 link add vx1 type vxlan id 42 dstport 4789 local 10.0.0.2 remote 10.0.0.1 dev veth1 \
    && $IP link add gn0 type geneve id 7 remote 10.0.0.2 && $IP -n ns1 link add gn1 type geneve id 7 remote 10.0.0.1 \
    || { fail "setup: vxlan/geneve devices"; return; }
  $IP addr add 192.168.77.1/24 dev vx0; $IP -n ns1 addr add 192.168.77.2/24 dev vx1
  $IP addr add 192.168.78.1/24 dev gn0; $IP -n ns1 addr add 192.168.78.2/24 dev gn1
  for d in vx0 gn0; do $IP link set $d up; done; for d in vx1 gn1; do $IP -n ns1 link set $d up; done
  # Resolve the inner neighbours first, so that the traced pings take the plain path.
  $PING -c1 -W5 192.168.77.2 > /dev/null && $PING -c1 -W5 192.168.78.2 > /dev/null || fail "setup: ping over the tunnels"
  # One tracer for both kinds (a tracer start is most of this scenario's time): the inner filter names both inner
  # destinations, and each kind's checks pick its own events by the TUNNEL column.
  SCEN="10-tunnel"
  tracer_start tun --backend "$BACKEND" --filter-func "$TRACKED" --output-tunnel \
    --filter-tunnel-pcap-l3 "icmp and (host 192.168.77.2 or host 192.168.78.2)" "udp port 4789 or udp port 6081" || { tunnel_del; return; }
  for kind in vxlan geneve; do
    case $kind in vxlan) net=192.168.77 ;; *) net=192.168.78 ;; esac
    $PING -c2 -W5 $net.2 > /dev/null || fail "ping $net.2 over $kind failed while tracing"
    $UDPSEND $net.2 9 2 40020 > /dev/null
  done
  settle; tracer_stop
  for kind in vxlan geneve; do
    case $kind in vxlan) port=4789 vni=42 net=192.168.77 ;; *) port=6081 vni=7 net=192.168.78 ;; esac
    SCEN="10-tunnel[$kind]"
    expect "the encapsulated request: outer and inner tuples" "$(lit '10.0.0.1:')[0-9]+$(lit "->10.0.0.2:$port(udp)")" \
      "$(lit "$kind:$vni $net.1:0->$net.2:0(icmp)")\$" "$(ns $NS_ROOT)"
    expect "it arrives in ns1" "$(lit "->10.0.0.2:$port(udp)")" "$(lit "$kind:$vni $net.1:0->$net.2:0(icmp)")" "$(ns $NS_1)"
    expect "the encapsulated reply" "$(lit '10.0.0.2:')[0-9]+$(lit "->10.0.0.1:$port(udp)")" \
      "$(lit "$kind:$vni $net.2:0->$net.1:0(icmp)")\$"
  done
  SCEN="10-tunnel"
  expect_all "every event is an encapsulated ping, its kind's VNI on its port" \
    "($(lit ":4789(udp)").*$(lit "vxlan:42 ")|$(lit ":6081(udp)").*$(lit "geneve:7 "))[^ ]+\(icmp\)\$"
  expect_none "the inner UDP datagrams excluded" "$(lit ":40020->")"
  tunnel_del
}
tunnel_del() { $IP link del vx0; $IP link del gn0; $IP -n ns1 link del vx1; $IP -n ns1 link del gn1; }

s_trivial() { SCEN=trivial; $TRACER --version && pass "tracer runs" || fail "tracer --version"; }

case ${PAYLOAD:-scenarios} in
  bench) . /guest/bench.sh; exit 0 ;;   # not a test
  trivial) setup_net; s_trivial ;;
  scenarios)
    setup_net
    DEFAULT="trace_all auto filter_netns filter_mark filter_ifname filter_func kmods track_skb limit_lines pcap ctrl_c_attach"
    # 7 (drops), 8 (pcapng), 9 (tc, which the host cannot test: it refuses fentry on BPF programs), 10 (tunnel),
    # 11 (btf_expr, whose last part runs on 9's tc programs), 13 (bpfmap, on a tc program) and 14 (track_stack) run on
    # amd64. Under arm64's slower TCG (its two boots are the run's longest part) 13 (bpfmap), which Cilium nodes on
    # arm64 need, is added on both kernels (23-34 s per kernel), 14 (track_stack, 36-45 s) on 6.1 only (6.12's boot
    # is already the longer one), and 10, 11 and 9's XDP expression part (xdp_expr) on 6.12 (30-34 s, 47-81 s and
    # 43-49 s there); the others run when named (9 passed there by hand: 219 s; 14 on 6.12: 35-36 s, all passed).
    if [ "$(uname -m)" != aarch64 ]; then
      DEFAULT="$DEFAULT drops pcapng tc tunnel btf_expr bpfmap track_stack"
    elif [ "$KSERIES" = 6.12 ]; then
      DEFAULT="$DEFAULT tunnel btf_expr xdp_expr bpfmap"
    else
      DEFAULT="$DEFAULT bpfmap track_stack"
    fi
    for s in ${SCENARIOS:-$DEFAULT} $EXTRA_SCENARIOS; do
      T_SCEN=$(now)
      case $s in
        trace_all) for be in $BACKEND $EXTRA_BACKENDS; do T_SCEN=$(now); s_trace_all "$be"; timing "scenario.trace_all[$be]" "$(since $T_SCEN)"; done; continue ;;
        *) "s_$s" ;;
      esac
      timing "scenario.$s" "$(since $T_SCEN)"
    done ;;
esac
echo "@@SUMMARY checks=$CHECKS failed=$FAILS"
[ $FAILS -eq 0 ]
