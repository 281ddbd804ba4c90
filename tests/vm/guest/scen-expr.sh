# Scenario 11, BTF expressions (issue 11) under the kprobe backends: --filter-skb-expr selects in the kernel, compiled
# on the guest kernel's BTF; --output-skb-metadata and --output-skb print what the probes read. Two tracer runs on a
# few functions keep it short under TCG. The setup of main.sh: veth0 (root netns, 10.0.0.1) <-> veth1 (ns1,
# 10.0.0.2 and .5).

EXPR_FUNCS='ip_rcv|icmp_rcv|ip_output|__dev_queue_xmit|__netif_receive_skb_core|consume_skb'

s_btf_expr() {
  SCEN="11-skb-expr-dev"
  IF0=$(cat /sys/class/net/veth0/ifindex)
  # The device by ifindex (veth0, sending) or by name (veth1, receiving); loopback by neither.
  if tracer_start expr-dev --backend "$BACKEND" --filter-func "$EXPR_FUNCS" \
      --filter-skb-expr "skb->dev->ifindex == $IF0 || skb->dev->name == \"veth1\""; then
    $PING -c2 -W5 10.0.0.2 > /dev/null; $PING -c2 -W5 127.0.0.1 > /dev/null
    settle; tracer_stop
    expect "veth0's packets kept (by ifindex $IF0)" "$REQ" "veth0:$IF0"
    expect "veth1's packets kept (by name)" "$REQ" 'veth1:' "$(ns $NS_1)"
    expect_all "every event is on veth0 or veth1" "[ ](veth0:$IF0|veth1:[0-9]+)[ ]"
    expect_none "loopback traffic excluded" "$(lit '127.0.0.1')"
  fi
  SCEN="11-skb-expr-len-mark"
  # Big pings by length, a small one by its SO_MARK (ping -m), another small one by neither; the values read by
  # the expressions follow each line, and the kernel's .len under it is its LEN column. With --output-pcap each
  # record holds all three kinds: the values, then the packet, then the dump (Linux 6.1's verifier has to bound
  # each write in that order).
  if tracer_start expr-len-mark --backend "$BACKEND" --filter-func "$EXPR_FUNCS" \
      --filter-skb-expr 'skb->len > 1000 || skb->mark == 0x42' \
      --output-skb-metadata 'skb->mark,skb->dev->name' --output-skb --output-pcap /tmp/expr.pcapng; then
    $PING -c2 -s 1200 -W5 10.0.0.2 > /dev/null; $PING -c2 -m 66 -W5 10.0.0.2 > /dev/null
    $PING -c2 -W5 10.0.0.5 > /dev/null
    settle; tracer_stop
    n=$($TRACER filter --read /tmp/expr.pcapng 'icmp' | wc -l)
    [ "$n" -eq "$(events | wc -l)" ] && [ "$n" -ge 8 ] && pass "--output-pcap beside the values and the dump: a packet per event ($n)" ||
      fail "--output-pcap beside the values and the dump: $n ICMP packets for $(events | wc -l) events"
    expect "the big pings kept" "$REQ" "$(fn 'ip_rcv|icmp_rcv')" "$(ns $NS_1)"
    expect "their replies kept" "$REP"
    expect "the small marked ping kept" "$REQ" '[ ](0x)?42[ ]' ' skb->mark=0x42 '
    expect_none "the unmarked small ping excluded" "$(lit '10.0.0.5')"
    set -- $(events | awk '{ if ($9 > 1000) big++; else if ($0 ~ / skb->mark=0x42 /) marked++; else bad++ }
      END{print big+0, marked+0, bad+0}')
    [ "$1" -gt 0 ] && [ "$2" -gt 0 ] && [ "$3" -eq 0 ] && pass "every event is big ($1) or marked ($2)" \
      || { fail "$1 big, $2 marked, $3 neither"; show_out 10; }
    expect_all "the values follow each line" ' skb->mark=0x[0-9a-f]+ skb->dev->name=("veth[01]"|"lo"|<null>)$'
    set -- $(awk '/^0x[0-9a-f]+ /{len=$9; ev++; next}
      /^ [.]len = [(]unsigned int[)][0-9]+,$/{v=$0; sub(/.*[)]/, "", v); sub(/,/, "", v); n++; if (v != len) bad++}
      END{print ev+0, n+0, bad+0}' "$OUT")
    [ "$1" -gt 0 ] && [ "$2" -eq "$1" ] && [ "$3" -eq 0 ] && pass "--output-skb: .len = LEN under each of $1 events" \
      || { fail "--output-skb: $1 events, $2 dumps with .len, $3 differ"; show_out 10; }
  fi
  s_btf_expr_tc
}

# On traced tc programs (scenario 9's, from scen-tc.sh): the expression selects their skbs as it does on kernel
# functions, and --output-skb-metadata reads them there too.
s_btf_expr_tc() {
  SCEN="11-skb-expr-tc"
  tc_setup || { tc_teardown; return; }
  if tracer_start expr-tc --backend "$BACKEND" --filter-func 'icmp_rcv' --filter-trace-tc \
      --output-skb-cb=false --filter-skb-expr 'skb->len > 1000' --output-skb-metadata 'skb->len'; then
    $PING -c2 -s 1200 -W5 10.0.0.2 > /dev/null; $PING -c2 -W5 10.0.0.2 > /dev/null
    settle; tracer_stop
    expect "the big pings at the egress program's entry" "$(lit ' pwru_test_pass_egress(tc)')" "$REQ"
    expect "and at its exit" "$(lit 'pwru_test_pass_egress(tc)=TC_ACT_OK')" "$REQ"
    # LEN and the value skb->len=0x... (last field) of every event: all big, the value is the column.
    set -- $(events | awk '{ v = $NF; sub(/^skb->len=/, "", v); if ($9 > 1000) big++; else small++;
      if (v != sprintf("0x%x", $9)) bad++ } END{print big+0, small+0, bad+0}')
    [ "$1" -gt 0 ] && [ "$2" -eq 0 ] && pass "every event is a big packet ($1), no small one" \
      || { fail "$1 big, $2 small events"; show_out 10; }
    [ "$3" -eq 0 ] && pass "skb->len=... equals LEN on every event" || { fail "$3 events where skb->len differs"; show_out 10; }
  fi
  tc_teardown
}
