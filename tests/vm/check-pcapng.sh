#!/usr/bin/env bash
# Host-side checks of the pcapng files a guest scenario sent through the serial log (`@@FILE NAME EVENTS`, base64
# lines, `@@FILE-END`): tshark reads each without a warning and finds one packet per event, every comment naming its
# function, the nftables drop, the ping's payload as sent, Ethernet and raw-IP interfaces with their names; and with
# one link type (`pwru replay --output-pcap-ethernet`), `pwru filter --read` and `tcpdump -r` select alike.
# Usage: check-pcapng.sh LOG PWRU (a pwru that runs on this host). Prints @@CHECK lines like the guest's.
set -uo pipefail
LOG=$1; PWRU=$2
DIR=${LOG%.log}-files; mkdir -p "$DIR"
pass() { echo "@@CHECK PASS host-pcapng $name: $*"; }
fail() { echo "@@CHECK FAIL host-pcapng $name: $*"; }
# tshark FILE ARGS...: its stdout; a warning (anything on stderr but the notice about running as root) fails.
ts() {
  local f=$1; shift
  tshark -r "$f" "$@" 2> "$DIR/tshark.err"
  local rc=$?
  if [ $rc -ne 0 ] || grep -qv '^Running as user "root"' "$DIR/tshark.err"; then
    # On stderr: callers take stdout in $(...).
    fail "tshark -r $f $* (rc $rc): $(head -c 300 "$DIR/tshark.err")" >&2
  fi
}
for t in tshark tcpdump base64; do command -v $t > /dev/null || { echo "@@CHECK FAIL host-pcapng: $t is not installed"; exit 0; }; done
found=0
while read -r _ name n; do
  found=1
  f=$DIR/$name
  awk -v n="$name" '$0 == "@@FILE-END" {p=0} p {print} $1 == "@@FILE" && $2 == n {p=1}' "$LOG" | base64 -d > "$f" \
    || { fail "cannot decode the base64 from the log"; continue; }
  frames=$(ts "$f" -T fields -e frame.number | wc -l)
  [ "$frames" -eq "$n" ] && pass "tshark reads $frames packets, one per event" || fail "$frames packets for $n events"
  bad=$(ts "$f" -T fields -e frame.comment | grep -cvE '^[A-Za-z0-9_.:]+(\([A-Z0-9_]+\))? skb=0x[0-9a-f]+ netns=[0-9]+ mark=0x')
  [ "$bad" -eq 0 ] && pass "every comment names its function, skb, netns and mark" || fail "$bad comments without function/skb/netns/mark"
  ts "$f" -Y 'frame.comment contains "NETFILTER_DROP"' -T fields -e udp.dstport | grep -qx 7777 \
    && pass "the nftables drop's comment carries NETFILTER_DROP" || fail "no NETFILTER_DROP comment on the UDP to 7777"
  req=$(ts "$f" -Y 'icmp.type == 8' -T fields -e data.data | grep -c '70777275707772757077727570777275$')
  [ "$req" -gt 0 ] && pass "$req echo requests carry the payload ping sent" || fail "no echo request with the ping's payload"
  encaps=$(ts "$f" -T fields -e frame.encap_type | sort -u | tr '\n' ' ')
  case " $encaps" in *" 1 "*) case " $encaps" in *" 7 "*) pass "Ethernet (1) and raw IP (7) packets: $encaps" ;;
    *) fail "link types $encaps: no raw IP (7)" ;; esac ;; *) fail "link types $encaps: no Ethernet (1)" ;; esac
  names=$(ts "$f" -T fields -e frame.interface_name | sort -u | tr '\n' ' ')
  case " $names" in *" veth0 "*) case " $names" in *" veth1 "*) pass "interfaces named $names" ;; *) fail "interfaces $names: no veth1" ;; esac ;;
    *) fail "interfaces $names: no veth0" ;; esac
  e=$DIR/${name%.pcapng}-ethernet.pcapng
  if "$PWRU" replay --output-file /dev/null --output-pcap "$e" --output-pcap-ethernet "$f" 2> "$DIR/replay.err"; then
    for expr in icmp 'udp port 7777' 'icmp[icmptype] == icmp-echo' 'ip dst 10.0.0.2 and not udp' 'len > 80'; do
      ours=$("$PWRU" filter --read "$e" "$expr" | wc -l)
      theirs=$(tcpdump -nn -r "$e" "$expr" 2> /dev/null | wc -l)
      [ "$ours" -eq "$theirs" ] && pass "'$expr': pwru filter --read and tcpdump -r both select $ours" \
        || fail "'$expr': pwru filter --read selects $ours, tcpdump -r $theirs"
    done
  else
    fail "pwru replay --output-pcap-ethernet: $(tail -n 2 "$DIR/replay.err")"
  fi
done < <(grep -aE '^@@FILE [^ ]+ [0-9]+$' "$LOG")
[ $found -eq 1 ] || echo "@@CHECK FAIL host-pcapng: the guest sent no pcapng file"
