# Extra scenarios of the arm64 engineer (sourced by main.sh, helpers from lib.sh; run with
# VM_EXTRA_SCENARIOS="skb_args stack ping_events"). They matter most on arm64 but are arch-neutral.
#
# skb_args: the skb is read right whatever
# argument it is. The probes take argument N from pt_regs: on arm64 x0..x4, on x86-64 di, si, dx, cx, r8; a wrong
# register or offset reads some other pointer, which shows as a missing event or a wrong tuple.
# Positions (same C prototypes on every arch; tests/arm64/vm.sh checks them against each arm64 kernel's BTF):
#   1 ip_rcv(skb, dev, pt, orig_dev)                2 ip_protocol_deliver_rcu(net, skb, protocol)
#   3 ip_rcv_finish(net, sk, skb)                   3 ip_local_deliver_finish(net, sk, skb)
#   4 ip_route_output_key_hash_rcu(net, fl4, res, skb)   via icmp_send() for the UDP that hits a closed port
#   4 ip6_pol_route_input(net, table, fl6, skb, flags)  IPv6 input route lookup (called through a pointer, so
#                                                        never inlined; ip6_route_input_lookup is, into ip6_route_input)
#   5 ip6_pol_route(net, table, oif, fl6, skb, flags)
SKB_ARG_FUNCS='ip_rcv ip_protocol_deliver_rcu ip_rcv_finish ip_local_deliver_finish ip_route_output_key_hash_rcu ip6_pol_route_input ip6_pol_route'

s_skb_args() {
  SCEN="skb-args"
  # IPv6 on the existing veth pair (nodad: usable at once).
  $IP addr add fd00::1/64 dev veth0 nodad 2>/dev/null
  $IP -n ns1 addr add fd00::2/64 dev veth1 nodad 2>/dev/null
  $IP netns exec ns1 $PING -6 -c1 -W5 fd00::1 > /dev/null || fail "setup: IPv6 ping ns1 -> fd00::1"
  re=$(echo $SKB_ARG_FUNCS | tr ' ' '|')
  tracer_start skbargs --backend "$BACKEND" --filter-func "$re" || return
  $PING -c2 -W5 10.0.0.2 > /dev/null || fail "ping 10.0.0.2 failed while tracing"
  $UDPSEND 10.0.0.2 9 2 40010 > /dev/null
  $IP netns exec ns1 $PING -6 -c2 -W5 fd00::1 > /dev/null || fail "IPv6 ping ns1 -> fd00::1 failed while tracing"
  settle; tracer_stop
  V4REQ=$(tup '10.0.0.1:0->10.0.0.2:0(icmp)'); V4REP=$(tup '10.0.0.2:0->10.0.0.1:0(icmp)')
  UDP9=$(tup '10.0.0.1:40010->10.0.0.2:9(udp)')
  V6REQ=$(tup '[fd00::2]:0->[fd00::1]:0(icmp6)')
  expect "arg 1: ip_rcv sees the echo request in ns1" "$(fn ip_rcv)" "$V4REQ" "$(ns $NS_1)"
  expect "arg 2: ip_protocol_deliver_rcu sees the echo request in ns1" "$(fn ip_protocol_deliver_rcu)" "$V4REQ" "$(ns $NS_1)"
  expect "arg 2: ip_protocol_deliver_rcu sees the echo reply in the root netns" "$(fn ip_protocol_deliver_rcu)" "$V4REP" "$(ns $NS_ROOT)"
  expect "arg 3: ip_rcv_finish sees the echo request in ns1" "$(fn ip_rcv_finish)" "$V4REQ" "$(ns $NS_1)"
  expect "arg 3: ip_local_deliver_finish sees the echo reply" "$(fn ip_local_deliver_finish)" "$V4REP"
  expect "arg 4: ip_route_output_key_hash_rcu sees the UDP datagram icmp_send answers" "$(fn ip_route_output_key_hash_rcu)" "$UDP9" "$(ns $NS_1)"
  expect "arg 4: ip6_pol_route_input sees the IPv6 echo request" "$(fn ip6_pol_route_input)" "$V6REQ" "$(ns $NS_ROOT)"
  expect "arg 5: ip6_pol_route sees the IPv6 echo request" "$(fn ip6_pol_route)" "$V6REQ" "$(ns $NS_ROOT)"
  # Nothing read from a wrong register: every event's tuple is one of our addresses (or IPv6 link-local/multicast
  # control traffic), and every IPv4 event has the length of a real packet.
  good="$(lit '10.0.0.')[125]:|$(lit '127.0.0.1:')|$(lit '[fd00::')[12]\]:|$(lit '[fe80::')|$(lit '[ff02::')|$(lit '[::')"
  expect_all "every event has a tuple of real traffic" "[ ]($good)[^ ]*->"
}

# stack: --output-stack gives each event its kernel stack, every frame symbolised as name+0xoff (arm64: frame
# pointers walked by bpf_get_stackid from the kprobe's pt_regs), innermost first.
s_stack() {
  SCEN="stack"
  REQ=$(tup '10.0.0.1:0->10.0.0.2:0(icmp)')
  tracer_start stack --backend "$BACKEND" --filter-func 'icmp_rcv' --output-stack 'icmp and host 10.0.0.2' || return
  $PING -c1 -W5 10.0.0.2 > /dev/null || fail "ping 10.0.0.2 failed while tracing"
  settle; tracer_stop
  expect "icmp_rcv event for the echo request" "$(fn icmp_rcv)" "$REQ" "$(ns $NS_1)"
  # The frames of the first echo-request event: the indented lines after it, up to the next event.
  awk -v req="$(printf '%s' '10.0.0.1:0->10.0.0.2:0(icmp)')" \
    '/^0x/ { if (n) exit; if (index($0, req) && $0 ~ / icmp_rcv/) n = 1; next } n && /^    / { print }' "$OUT" > /tmp/stack
  frames=$(wc -l < /tmp/stack)
  echo "  | stack of icmp_rcv ($frames frames):"; head -12 /tmp/stack | sed 's/^/  | /'
  [ "$frames" -ge 4 ] && pass "stack has $frames frames" || fail "stack has $frames frames, expected at least 4"
  bad=$(grep -cvE '^    [A-Za-z_][A-Za-z0-9_.]*\+0x[0-9a-f]+( \[[A-Za-z0-9_]+\])?$' /tmp/stack)
  [ "$bad" -eq 0 ] && pass "every frame symbolised as name+0xoff" || { fail "$bad frames not symbolised"; grep -vE '^    [A-Za-z_]' /tmp/stack | head -3; }
  head -1 /tmp/stack | grep -qE '^    icmp_rcv\+0x' && pass "innermost frame is icmp_rcv" || fail "innermost frame is not icmp_rcv: $(head -1 /tmp/stack)"
  grep -qE '^    (ip_protocol_deliver_rcu|ip_local_deliver_finish)\+0x' /tmp/stack && pass "icmp_rcv's caller (ip_protocol_deliver_rcu/ip_local_deliver_finish) in the stack" || fail "no ip_protocol_deliver_rcu/ip_local_deliver_finish frame"
  grep -qE '^    (__netif_receive_skb[a-z_]*|process_backlog|net_rx_action)\+0x' /tmp/stack && pass "receive path (__netif_receive_skb*/process_backlog) in the stack" || fail "no __netif_receive_skb*/process_backlog frame"
}

# ping_events: how many events one ping gives with every skb function attached, from trace_all's output (the ping
# runs first there; the UDP datagrams come after it, so events before the first UDP one are the ping's).
s_ping_events() {
  SCEN="ping-events"
  f=/tmp/all-$BACKEND.out
  [ -s "$f" ] || { fail "no trace_all output ($f): run trace_all first"; return; }
  req='10.0.0.1:0->10.0.0.2:0(icmp)'; rep='10.0.0.2:0->10.0.0.1:0(icmp)'
  awk -v req="$req" -v rep="$rep" '/^0x/ { if (index($0, "(udp)")) exit; if (index($0, req)) q++; else if (index($0, rep)) p++;
      else next; fn[$NF] = 1 } END { n = 0; for (k in fn) n++; printf "%d %d %d %d\n", q + p, q, p, n }' "$f" > /tmp/pingev
  read -r total q p nf < /tmp/pingev
  echo "@@INFO one ping ($BACKEND, every skb function): $total events (request $q, reply $p) in $nf functions"
  [ "$total" -gt 0 ] && [ "$q" -gt 0 ] && [ "$p" -gt 0 ] && pass "one ping traced: $total events" || fail "one ping: request $q, reply $p events"
}
