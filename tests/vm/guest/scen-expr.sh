# Scenario 8, BTF expressions (issue 11) under the kprobe backends: --filter-skb-expr selects in the kernel, compiled
# on the guest kernel's BTF; --output-skb-metadata and --output-skb print what the probes read. The setup of
# main.sh: veth0 (root netns, 10.0.0.1) <-> veth1 (ns1, 10.0.0.2 and .5).

# len COLUMN of every event line (SKB CPU PROCESS NETNS MARK IFACE PROTO MTU LEN ...).
lens() { events | awk '{print $9}'; }

s_btf_expr() {
  SCEN="8-skb-expr-ifindex"
  IF0=$(cat /sys/class/net/veth0/ifindex)
  if tracer_start expr-ifindex --backend "$BACKEND" --filter-func "$TRACKED" --filter-skb-expr "skb->dev->ifindex == $IF0"; then
    $PING -c2 -W5 10.0.0.2 > /dev/null; $PING -c2 -W5 127.0.0.1 > /dev/null
    settle; tracer_stop
    expect "veth0's packets kept" "$REQ" "veth0:$IF0"
    expect_all "every event is on veth0 (ifindex $IF0)" "[ ]veth0:$IF0[ ]"
    expect_none "loopback traffic excluded" "$(lit '127.0.0.1')"
  fi
  SCEN="8-skb-expr-len"
  if tracer_start expr-len --backend "$BACKEND" --filter-func "$TRACKED" --filter-skb-expr 'skb->len > 1000'; then
    $PING -c2 -s 1200 -W5 10.0.0.2 > /dev/null; $PING -c2 -s 100 -W5 10.0.0.2 > /dev/null
    settle; tracer_stop
    expect "the big pings kept" "$REQ" "$(fn 'ip_rcv|icmp_rcv')" "$(ns $NS_1)"
    expect "their replies kept" "$REP"
    small=$(lens | awk '$1 <= 1000' | wc -l); total=$(events | wc -l)
    [ "$total" -gt 0 ] && [ "$small" -eq 0 ] && pass "every LEN > 1000 ($total events)" \
      || { fail "$small of $total events have LEN <= 1000"; show_out 10; }
  fi
  SCEN="8-skb-expr-mark"
  # With the values and the struct of each event: the mark read by the expression is the SO_MARK of ping -m, and
  # the kernel's .len under each line is its LEN column.
  if tracer_start expr-mark --backend "$BACKEND" --filter-func "$TRACKED" --filter-skb-expr 'skb->mark == 0x42' \
      --output-skb-metadata 'skb->mark,skb->dev->name' --output-skb; then
    $PING -c2 -m 66 -W5 10.0.0.2 > /dev/null; $PING -c2 -W5 10.0.0.5 > /dev/null
    settle; tracer_stop
    expect "the marked ping kept" "$REQ"
    expect_all "every event carries mark 0x42" '[ ](0x)?42[ ]'
    expect_none "the unmarked ping excluded" "$(lit '10.0.0.5')"
    expect_all "the values follow each line" ' skb->mark=0x42 skb->dev->name=("veth[01]"|<null>)$'
    set -- $(awk '/^0x[0-9a-f]+ /{len=$9; ev++; next}
      /^ [.]len = [(]unsigned int[)][0-9]+,$/{v=$0; sub(/.*[)]/, "", v); sub(/,/, "", v); n++; if (v != len) bad++}
      END{print ev+0, n+0, bad+0}' "$OUT")
    [ "$1" -gt 0 ] && [ "$2" -eq "$1" ] && [ "$3" -eq 0 ] && pass "--output-skb: .len = LEN under each of $1 events" \
      || { fail "--output-skb: $1 events, $2 dumps with .len, $3 differ"; show_out 10; }
  fi
  SCEN="8-skb-expr-name"
  if tracer_start expr-name --backend "$BACKEND" --filter-func "$TRACKED" --filter-skb-expr 'skb->dev->name == "veth1" && skb->len > 0'; then
    $PING -c2 -W5 10.0.0.2 > /dev/null
    settle; tracer_stop
    expect "the request arriving on veth1 kept" "$REQ" "$(ns $NS_1)" 'veth1:'
    expect_all "every event is on veth1" '[ ]veth1:[0-9]+[ ]'
  fi
}
