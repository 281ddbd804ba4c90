# Scenario tc: --filter-trace-tc/--filter-trace-xdp/--filter-track-bpf-helpers/--output-skb-cb on programs of our
# own (testkit/bpf/progs.c, late.c; copied to /guest/*.o by run.sh), in the roles of Cilium's datapath:
#   veth0 egress (root):  pwru_test_pass_egress        TC_ACT_OK
#   veth1 ingress (ns1):  pwru_test_drop_udp_ingress   UDP 7001 -> TC_ACT_SHOT, else TC_ACT_UNSPEC, then
#                         pwru_test_tail_entry         tail call -> pwru_test_tail_callee: UDP 7002 -> TC_ACT_SHOT
#   veth1 XDP (native):   pwru_test_xdp_udp            UDP 7003 -> XDP_DROP; 7004 -> rewritten to 7005, XDP_PASS
#   veth0 ingress (root): pwru_test_late_pass          attached while the tracer runs, then released
# Pinned in a bpffs of its own: `ip netns exec` mounts a fresh /sys, which would hide /sys/fs/bpf.
TC=/usr/sbin/tc
TC_BPFFS=/tmp/bpffs
PROGS=$TC_BPFFS/pwru_test
TC_FUNCS='kfree_skb_reason|sk_skb_reason_drop|__netif_receive_skb_core|ip_rcv|udp_rcv|__udp4_lib_rcv|veth_xmit|__dev_queue_xmit'

tc_setup() {
  mkdir -p $TC_BPFFS && mount -t bpf bpf $TC_BPFFS || { fail "mount a bpffs at $TC_BPFFS"; return 1; }
  $BPFTOOL prog loadall /guest/progs.o $PROGS pinmaps $PROGS/maps || { fail "bpftool prog loadall progs.o"; return 1; }
  $BPFTOOL map update pinned $PROGS/maps/pwru_test_jmp key 0 0 0 0 value pinned $PROGS/pwru_test_tail_callee \
    || { fail "fill the tail-call map"; return 1; }
  $TC qdisc add dev veth0 clsact &&
    $TC filter add dev veth0 egress prio 1 bpf da pinned $PROGS/pwru_test_pass_egress &&
    $IP netns exec ns1 $TC qdisc add dev veth1 clsact &&
    $IP netns exec ns1 $TC filter add dev veth1 ingress prio 1 bpf da pinned $PROGS/pwru_test_drop_udp_ingress &&
    $IP netns exec ns1 $TC filter add dev veth1 ingress prio 2 bpf da pinned $PROGS/pwru_test_tail_entry &&
    $IP -n ns1 link set dev veth1 xdpdrv pinned $PROGS/pwru_test_xdp_udp || { fail "attach the test programs"; return 1; }
  echo 1 > /proc/sys/kernel/bpf_stats_enabled
  pass "test programs attached: $($BPFTOOL prog show | grep -c 'name pwru_test_') pwru_test_* programs"
}

tc_teardown() {
  $IP -n ns1 link set dev veth1 xdpdrv off 2>/dev/null
  $IP netns exec ns1 $TC qdisc del dev veth1 clsact 2>/dev/null
  $TC qdisc del dev veth0 clsact 2>/dev/null
  echo 0 > /proc/sys/kernel/bpf_stats_enabled
  rm -rf $PROGS; umount $TC_BPFFS
}

# run_cnt of a pinned program (bpf_stats_enabled).
runs() { $BPFTOOL prog show pinned "$1" | sed -n 's/.*run_cnt \([0-9]*\).*/\1/p'; }
# The skb column of the first event matching every ERE.
skb_of() { count "$@" > /dev/null; head -1 /tmp/sel | cut -d' ' -f1; }
# wait_err PATTERN: up to 10 s for a stderr line of the tracer.
wait_err() { i=0; while ! grep -qE -- "$1" "$ERR" && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; grep -E -- "$1" "$ERR" | head -1; }

s_tc() {
  SCEN="tc-setup"
  base0=$(footprint)
  tc_setup || { tc_teardown; return; }
  base=$(footprint)
  SCEN="tc"
  D="dst port 7001 or dst port 7002 or dst port 7003 or dst port 7004"
  if ! tracer_start tc --backend "$BACKEND" --filter-func "$TC_FUNCS" --filter-trace-tc --filter-trace-xdp \
      --filter-track-bpf-helpers --filter-track-skb "udp and ($D)"; then
    tc_teardown; return
  fi
  sed 's/^/  | /' "$ERR"
  l=$(grep -E 'tracing [0-9]+ BPF programs in [0-9]+ ms' "$ERR")
  n=$(echo "$l" | sed -n 's/.*tracing \([0-9]*\) BPF programs in \([0-9]*\) ms.*/\1/p')
  ms=$(echo "$l" | sed -n 's/.*tracing \([0-9]*\) BPF programs in \([0-9]*\) ms.*/\2/p')
  if [ "${n:-0}" -ge 5 ]; then pass "5 test programs traced at start ($l)"; else fail "tracing line: '$l'"; fi
  [ -n "$n" ] && [ "$n" -gt 0 ] && echo "info: attach: $n programs in $ms ms ($((ms / n)) ms per program, tail-call test and iterator included)"
  grep -q '__sk_buff->cb\[\]' "$OUT" && pass "cb column in the header (on by default with --filter-trace-tc)" || fail "no cb column"
  grep -q 'tail-call target' "$ERR" && pass "tail-call line: $(grep 'tail-call target' "$ERR")" || fail "no tail-call line"

  $UDPSEND 10.0.0.2 7001 1 41001 > /dev/null
  $UDPSEND 10.0.0.2 7002 1 41002 > /dev/null
  $UDPSEND 10.0.0.2 7003 1 41003 > /dev/null
  $UDPSEND 10.0.0.2 7004 1 41004 > /dev/null
  settle
  T1=$(tup '10.0.0.1:41001->10.0.0.2:7001(udp)')
  T2=$(tup '10.0.0.1:41002->10.0.0.2:7002(udp)')
  T3=$(tup '10.0.0.1:41003->10.0.0.2:7003(udp)')
  T4=$(tup '10.0.0.1:41004->10.0.0.2:7004(udp)')
  T5=$(tup '10.0.0.1:41004->10.0.0.2:7005(udp)')
  DROP='(kfree_skb_reason|sk_skb_reason_drop)\((SKB_DROP_REASON_)?TC_INGRESS\)'

  SCEN="tc-drop"
  expect "entry of the dropping program, by its BTF name" "$(lit ' pwru_test_drop_udp_ingress(tc)')\$" "$T1"
  expect "its verdict TC_ACT_SHOT" "$(lit 'pwru_test_drop_udp_ingress(tc)=TC_ACT_SHOT')" "$T1" "$(ns $NS_1)"
  s1=$(skb_of "$(lit '=TC_ACT_SHOT')" "$T1")
  expect "the kernel's drop TC_INGRESS on the same skb ($s1)" "^$s1 " "$DROP"
  vl=$(events | grep -nE -- "$(lit '=TC_ACT_SHOT')" | grep -E -- "$T1" | head -1 | cut -d: -f1)
  dl=$(events | grep -nE -- "^$s1 .*$DROP" | head -1 | cut -d: -f1)
  [ -n "$vl" ] && [ -n "$dl" ] && [ "$vl" -lt "$dl" ] && pass "verdict (line $vl) before the kernel's drop (line $dl)" || fail "order: verdict line '$vl', drop line '$dl'"
  expect "the skb's cb words are shown" "$(lit '=TC_ACT_SHOT')" '\[0x[0-9A-F]{8}(,0x[0-9A-F]{8}){4}\]' "$T1"
  expect "egress program passes it (veth0, root netns)" "$(lit 'pwru_test_pass_egress(tc)=TC_ACT_OK')" "$T1" "$(ns $NS_ROOT)"
  echo "info: events for the one 7001 datagram: $(count "$T1")"

  SCEN="tc-tailcall"
  expect "first filter lets 7002 through with TC_ACT_UNSPEC" "$(lit 'pwru_test_drop_udp_ingress(tc)=TC_ACT_UNSPEC')" "$T2"
  expect "the tail-call chain returns TC_ACT_SHOT at its entry program" "$(lit 'pwru_test_tail_entry(tc)=TC_ACT_SHOT')" "$T2"
  s2=$(skb_of "$(lit 'pwru_test_tail_entry(tc)=TC_ACT_SHOT')" "$T2")
  expect "the kernel's drop TC_INGRESS on the same skb ($s2)" "^$s2 " "$DROP"
  expect "the tail-called program's helper call, named by its caller" "$(lit 'bpf_skb_load_bytes@pwru_test_tail_callee')" "^$s2 "
  if grep -q 'does not run fentry on tail-called' "$ERR"; then
    expect_none "no fentry event of the tail-called program (as the kernel said)" "$(lit 'pwru_test_tail_callee(tc)')"
    echo "info: tail calls: fentry does not fire on tail-called programs on $(uname -r) $(uname -m)"
  else
    expect "the tail-called program's own events" "$(lit 'pwru_test_tail_callee(tc)=TC_ACT_SHOT')" "$T2"
    echo "info: tail calls: fentry fires on tail-called programs on $(uname -r) $(uname -m)"
  fi

  SCEN="tc-xdp"
  expect "XDP drop of 7003" "$(lit 'pwru_test_xdp_udp(xdp)=XDP_DROP')" "$T3" "$(ns $NS_1)"
  expect_none "no tc program in ns1 saw the XDP-dropped datagram" "$(lit '(tc)')" "$T3" "$(ns $NS_1)"
  expect "XDP sees 7004 at entry" "$(lit ' pwru_test_xdp_udp(xdp)')\$" "$T4"
  expect "and passes it rewritten to 7005 (the verdict event shows the packet as the program left it)" \
    "$(lit 'pwru_test_xdp_udp(xdp)=XDP_PASS')" "$T5"
  expect "the skb built on the passed buffer is followed: 7005 after the rewrite" "$(fn 'ip_rcv|udp_rcv|__udp4_lib_rcv|__netif_receive_skb_core|kfree_skb_reason|sk_skb_reason_drop')" "$T5"

  SCEN="tc-late"
  $BPFTOOL prog load /guest/late.o $TC_BPFFS/late type classifier &&
    $TC filter add dev veth0 ingress prio 1 bpf da pinned $TC_BPFFS/late || fail "attach the late program"
  l=$(wait_err 'tracing tc program pwru_test_late_pass \(id [0-9]+\), loaded while tracing')
  [ -n "$l" ] && pass "picked up: $l" || { fail "the late program was not picked up"; show_err; }
  $IP netns exec ns1 $UDPSEND 10.0.0.1 7004 1 41007 > /dev/null
  settle
  expect "the late program's verdict" "$(lit 'pwru_test_late_pass(tc)=TC_ACT_OK')" "$(tup '10.0.0.2:41007->10.0.0.1:7004(udp)')"
  $TC filter del dev veth0 ingress prio 1; rm -f $TC_BPFFS/late
  l=$(wait_err 'pwru_test_late_pass \(id [0-9]+\) was released by its owner: let go')
  [ -n "$l" ] && pass "let go: $l" || { fail "the released program was not let go"; show_err; }
  held=$($BPFTOOL prog show | grep -c 'name pwru_test_late_pass')
  [ "$held" -eq 0 ] && pass "the released program is gone from the kernel" || fail "the released program is still loaded"

  SCEN="tc-cleanup"
  tracer_stop
  expect_clean "$base"
  n=$($BPFTOOL prog show | grep -cE 'name pwru_(fentry|fexit|prog_refs|tailtest)')
  [ "$n" -eq 0 ] && pass "no fentry/fexit/iterator program of ours left" || fail "$n programs of ours left"

  # The verdicts as drops: --drops-only prints the shot packets' paths ending at the verdict, --summary counts each
  # once under the verdict and the program (not again at the kernel's TC_INGRESS free or the veth free of the skb
  # XDP ran on). Same programs, a short second run (no helpers, the drop functions only).
  SCEN="tc-drops"
  if tracer_start tcdrops --backend "$BACKEND" --filter-func 'kfree_skb_reason|sk_skb_reason_drop' \
      --filter-trace-tc --filter-trace-xdp --filter-track-skb --drops-only --summary 'udp and (dst port 7001 or dst port 7003)'; then
    $UDPSEND 10.0.0.2 7001 2 41011 > /dev/null
    $UDPSEND 10.0.0.2 7003 1 41013 > /dev/null
    settle
    tracer_stop
    echo "info: --drops-only --summary output:"; sed 's/^/  | /' "$OUT"
    S1=$(tup '10.0.0.1:41011->10.0.0.2:7001(udp)'); S3=$(tup '10.0.0.1:41013->10.0.0.2:7003(udp)')
    n=$(count "$(lit 'pwru_test_drop_udp_ingress(tc)=TC_ACT_SHOT')" "$S1")
    [ "$n" -eq 2 ] && pass "--drops-only: both shot datagrams' paths end at the verdict" || fail "$n TC_ACT_SHOT events of 7001, expected 2"
    # (veth with XDP on its peer hands a copy of the skb to veth1: the paths start at the ingress program.)
    n=$(count "$(lit ' pwru_test_drop_udp_ingress(tc)')\$" "$S1")
    [ "$n" -eq 2 ] && pass "--drops-only: each path from the program's entry" || fail "$n entries of the program for 7001, expected 2"
    expect "--drops-only: the XDP drop" "$(lit 'pwru_test_xdp_udp(xdp)=XDP_DROP')" "$S3"
    echo "info: the kernel's free of the skb XDP dropped, printed as part of that drop: $(count 'NOT_SPECIFIED' "$S3") events"
    grep -qE '^ +[0-9]+  (SKB_DROP_REASON_)?(NOT_SPECIFIED|TC_INGRESS) ' "$OUT" &&
      fail "--summary counts the kernel's free after a verdict" || pass "--summary: no row for the kernel's free after a verdict"
    expect_none "--drops-only: nothing after the verdict (the kernel's free is the same drop)" "$DROP"
    row() { grep -E "^ +$1  $(lit "$2") +$(lit "$3") +$4 +" "$OUT" > /dev/null; }
    row 2 'TC_ACT_SHOT by pwru_test_drop_udp_ingress' pwru_test_drop_udp_ingress veth1 &&
      pass "--summary: 2 TC_ACT_SHOT by pwru_test_drop_udp_ingress on veth1" || fail "--summary: no row of 2 TC_ACT_SHOT"
    row 1 'XDP_DROP by pwru_test_xdp_udp' pwru_test_xdp_udp '[^ ]+' &&
      pass "--summary: 1 XDP_DROP by pwru_test_xdp_udp" || fail "--summary: no row of 1 XDP_DROP"
    grep -qE '^pwru summary after [0-9.]+ s: [0-9]+ events, [0-9]+ packets, 3 dropped;' "$OUT" &&
      pass "--summary: 3 dropped, each packet once" || fail "--summary: not 3 dropped: $(grep '^pwru summary' "$OUT")"
  fi
  t=$(now); tc_xdp_expr; timing tc.xdp_expr "$(since $t)"
  SCEN="tc-cleanup"
  r0=$(runs $PROGS/pwru_test_drop_udp_ingress); x0=$(runs $PROGS/pwru_test_xdp_udp)
  $UDPSEND 10.0.0.2 7001 1 41001 > /dev/null
  sleep 0.5
  r=$(runs $PROGS/pwru_test_drop_udp_ingress); x=$(runs $PROGS/pwru_test_xdp_udp)
  [ "${r:-0}" -gt "${r0:-0}" ] && [ "${x:-0}" -gt "${x0:-0}" ] && pass "the traced programs still run after the tracer exited (run_cnt tc ${r0} -> $r, xdp ${x0} -> $x)" || fail "run_cnt tc ${r0} -> $r, xdp ${x0} -> $x"
  tc_teardown
  expect_clean "$base0"
}

# --output-xdp-metadata and --filter-xdp-expr: the XDP program also on veth0 (generic XDP, root netns), a 7003
# datagram dropped by it each way. Run 1 (text) prints each veth's ifindex and name after its own XDP events; run 2
# (JSON) keeps veth0's only, by an expression on its ifindex, each with veth0's values in "metadata".
tc_xdp_expr() {
  SCEN="tc-xdp-expr"
  local if0 if1 in0 in1 x meta v0 v1 n k
  if0=$(cat /sys/class/net/veth0/ifindex); if1=$($IP -n ns1 -o link show veth1 | cut -d: -f1)
  $IP link set dev veth0 xdpgeneric pinned $PROGS/pwru_test_xdp_udp || { fail "attach generic XDP to veth0"; return; }
  x=$(lit 'pwru_test_xdp_udp(xdp)')
  in1=$(tup '10.0.0.1:41021->10.0.0.2:7003(udp)'); in0=$(tup '10.0.0.2:41023->10.0.0.1:7003(udp)')
  meta="xdp->rxq->dev->ifindex,xdp->rxq->dev->name"
  v1=$(lit "xdp->rxq->dev->ifindex=$if1 xdp->rxq->dev->name=\"veth1\"")
  v0=$(lit "xdp->rxq->dev->ifindex=$if0 xdp->rxq->dev->name=\"veth0\"")
  xdp_expr_send() {
    $UDPSEND 10.0.0.2 7003 1 41021 > /dev/null
    $IP netns exec ns1 $UDPSEND 10.0.0.1 7003 1 41023 > /dev/null
    settle
    tracer_stop
  }
  if tracer_start xdpmeta --backend "$BACKEND" --filter-func ip_rcv --filter-trace-xdp --output-xdp-metadata "$meta" \
      --output-pcap /tmp/xdpmeta.pcapng 'udp and dst port 7003'; then
    xdp_expr_send
    grep -q 'tracing 1 BPF program' "$ERR" || sed 's/^/  | /' "$ERR" | head -8
    # The packet section follows the values section in these events.
    n=$($TRACER filter --read /tmp/xdpmeta.pcapng 'udp and dst port 7003' | wc -l)
    [ "$n" -eq "$(events | wc -l)" ] && [ "$n" -ge 4 ] && pass "--output-pcap beside the values: a packet per event ($n)" ||
      fail "--output-pcap beside the values: $n packets of 'udp and dst port 7003' for $(events | wc -l) events"
    expect "veth1's XDP entry with veth1's ifindex $if1 and name" "$x $v1\$" "$in1"
    expect "veth1's XDP drop with them" "$x=XDP_DROP $v1\$" "$in1"
    expect "veth0's XDP drop with veth0's ifindex $if0 and name" "$x=XDP_DROP $v0\$" "$in0"
    expect_all "every event is an XDP event with its own veth's values" "$in1.* $x(=XDP_DROP)? $v1\$|$in0.* $x(=XDP_DROP)? $v0\$"
  fi
  if tracer_start xdpmeta-json --backend "$BACKEND" --filter-func ip_rcv --filter-trace-xdp --output-json \
      --filter-xdp-expr "xdp->rxq->dev->ifindex == $if0" --output-xdp-metadata "$meta" 'udp and dst port 7003'; then
    xdp_expr_send
    n=$(grep -c '"pwru_test_xdp_udp' "$OUT")
    k=$(grep '"pwru_test_xdp_udp' "$OUT" | grep -cF "\"metadata\":{\"xdp->rxq->dev->ifindex\":$if0,\"xdp->rxq->dev->name\":\"veth0\"}")
    [ "$n" -ge 2 ] && [ "$k" -eq "$n" ] &&
      pass "JSON, xdp->rxq->dev->ifindex == $if0: only veth0's XDP events ($n), each with veth0's metadata" ||
      { fail "JSON: $k of $n XDP events have veth0's metadata (want all, at least 2)"; head -3 "$OUT" | sed 's/^/  | /'; }
  fi
  $IP link set dev veth0 xdpgeneric off
}

# Scenario xdp_expr: scenario 9's tc.xdp_expr part alone, on the same programs: what arm64 6.12's default list runs
# of scenario 9 (all of it costs minutes under arm64 TCG).
s_xdp_expr() {
  SCEN="xdp-expr-setup"
  base0=$(footprint)
  tc_setup || { tc_teardown; return; }
  tc_xdp_expr
  tc_teardown
  SCEN="xdp-expr-cleanup"
  expect_clean "$base0"
}

# Scenario bpfmap: --output-bpfmap on a tc program of our own (testkit/bpf/maps.c) on veth1's ingress (ns1) that
# does a Cilium datapath's map operations: hash lookups (a hit, a miss) and, in a map named and laid out like
# cilium_ct4_global, a CT lookup, the update that creates the entry and (port 7011) its delete. The CT entries are
# shown decoded (the tuple, RevNAT=7), the others in hex; no map of the tracer's own is shown.
s_bpfmap() {
  SCEN="bpfmap-setup"
  base0=$(footprint)
  M=$TC_BPFFS/maps
  mkdir -p $TC_BPFFS && mount -t bpf bpf $TC_BPFFS || { fail "mount a bpffs at $TC_BPFFS"; return; }
  if ! { $BPFTOOL prog loadall /guest/maps.o $M pinmaps $M/m &&
      $BPFTOOL map update pinned $M/m/pwru_test_hash key 10 0 0 2 value 0 0 0 0 0 0 0 0 &&
      $IP netns exec ns1 $TC qdisc add dev veth1 clsact &&
      $IP netns exec ns1 $TC filter add dev veth1 ingress prio 1 bpf da pinned $M/pwru_test_maps; }; then
    fail "load and attach maps.o"; bpfmap_teardown; return
  fi
  SCEN="bpfmap"
  if ! tracer_start bpfmap --backend "$BACKEND" --filter-func 'ip_rcv' --filter-trace-tc --output-bpfmap \
      'udp and (dst port 7010 or dst port 7011)'; then
    bpfmap_teardown; return
  fi
  $UDPSEND 10.0.0.2 7010 2 41010 > /dev/null
  $UDPSEND 10.0.0.2 7011 1 41011 > /dev/null
  settle
  B=/tmp/bpfmap.maps; grep -E '^    bpfmap ' "$OUT" > $B
  CT10=$(lit 'cilium_ct4_global')' \(id [0-9]+\) '; K10=$(lit 'UDP OUT 10.0.0.1:41010 -> 10.0.0.2:7010')
  K11=$(lit 'UDP OUT 10.0.0.1:41011 -> 10.0.0.2:7011')
  has() { # has WHAT N ERE: exactly N bpfmap lines match
    local n; n=$(grep -cE -- "$3" $B)
    [ "$n" -eq "$2" ] && pass "$1 ($n lines)" || { fail "$1: $n lines match '$3', want $2"; sed 's/^/  | /' $B | head -20; }
  }
  has "hash lookup of the destination: a hit, the counter's value in hex" 3 \
    "pwru_test_hash \(id [0-9]+\) lookup key 0a000002 → hit, value [0-9a-f]{16}\$"
  has "hash lookup of the source: a miss" 3 "pwru_test_hash \(id [0-9]+\) lookup key 0a000001 → miss\$"
  has "the first 7010 datagram's CT lookup misses (the key decoded)" 1 "${CT10}lookup $K10 → miss\$"
  has "the update creates the entry, decoded (RevNAT=7)" 1 "${CT10}update $K10 = .*RevNAT=7 "
  has "the second 7010 datagram's CT lookup hits, the entry decoded" 1 "${CT10}lookup $K10 → hit, .*Packets=1 .*RevNAT=7 "
  has "7011: lookup, update and delete of its entry" 3 "${CT10}(lookup|update|delete) $K11"
  has "the delete" 1 "${CT10}delete $K11\$"
  has "no map of the tracer's own" 0 'bpfmap [A-Z_]+ \(id'
  ev=$(grep -B1 -E "${CT10}delete" "$OUT" | head -1)
  echo "$ev" | grep -qE "^0x[0-9a-f]+ .*$(lit '10.0.0.1:41011->10.0.0.2:7011(udp)').* [a-z_]*delete_elem@pwru_test_maps" &&
    pass "the operation's event line: the packet's tuple, the map function and the program ($ev)" ||
    { fail "event line before the delete: '$ev'"; show_out; }
  tracer_stop
  bpfmap_teardown
  expect_clean "$base0"
}

bpfmap_teardown() {
  $IP netns exec ns1 $TC qdisc del dev veth1 clsact 2>/dev/null
  rm -rf $TC_BPFFS/maps; umount $TC_BPFFS 2>/dev/null
}
