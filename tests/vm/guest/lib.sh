# Helpers for the guest scenario scripts (busybox ash). Sourced by main.sh / bench.sh.
# Markers on the serial console, parsed by tests/vm/run.sh:
#   @@CHECK PASS|FAIL <scenario>: <what>     one assertion
#   @@TIME <name> <seconds>                   a timed step
# busybox ash runs its own applets before $PATH, so the real iproute2/iputils/nftables are called by full path.
IP=/usr/sbin/ip; PING=/usr/sbin/ping; NFT=/usr/sbin/nft; BPFTOOL=/usr/sbin/bpftool; UDPSEND=/usr/bin/udpsend
TRACER=${TRACER:-/usr/bin/pwru}
READY_TIMEOUT=${READY_TIMEOUT:-400}   # s; all-function kprobe attach under TCG is slow
STOP_TIMEOUT=${STOP_TIMEOUT:-400}
FAILS=0; CHECKS=0; SCEN=setup

now() { cut -d' ' -f1 /proc/uptime; }
since() { awk "BEGIN{printf \"%.2f\", $(now) - $1}"; }
# ERE-escape a literal string (tuples contain . ( ) and >).
lit() { printf '%s' "$1" | sed 's/[].[*^$()+?{}|\\]/\\&/g'; }
pass() { CHECKS=$((CHECKS+1)); echo "@@CHECK PASS $SCEN: $*"; }
fail() { CHECKS=$((CHECKS+1)); FAILS=$((FAILS+1)); echo "@@CHECK FAIL $SCEN: $*"; }
timing() { echo "@@TIME $1 $2"; }
alive() { [ -e /proc/$1/stat ] && ! grep -q ') Z ' /proc/$1/stat; }

setup_net() {
  $IP netns add ns1
  $IP link add veth0 type veth peer name veth1
  $IP link set veth1 netns ns1
  $IP addr add 10.0.0.1/24 dev veth0
  $IP link set veth0 up
  $IP -n ns1 addr add 10.0.0.2/24 dev veth1
  $IP -n ns1 addr add 10.0.0.5/24 dev veth1
  $IP -n ns1 link set veth1 up
  $IP -n ns1 link set lo up
  # Resolve the neighbour now so that a traced ping takes the plain path.
  $PING -c1 -W5 10.0.0.2 >/dev/null && $PING -c1 -W5 10.0.0.5 >/dev/null || echo "@@CHECK FAIL setup: ping over veth"
  NS_ROOT=$(stat -L -c %i /proc/self/ns/net)
  NS_1=$(stat -L -c %i /run/netns/ns1)
  echo "netns: root=$NS_ROOT ns1=$NS_1"
  # ns1 drops UDP to port 7777 in netfilter (NETFILTER_DROP); port 9 is closed (NO_SOCKET).
  cat > /tmp/drop.nft <<'NFT'
table inet vmtest {
  chain input { type filter hook input priority 0; policy accept; udp dport 7777 drop; }
}
NFT
  $IP netns exec ns1 $NFT -f /tmp/drop.nft || echo "@@CHECK FAIL setup: nft drop rule"
}

# tracer_start LABEL ARGS...: starts the tracer with --ready-file/--output-file and waits for the ready file.
# Sets TPID, OUT, ERR, T_START; returns 1 (after a FAIL) if it exits or does not get ready.
tracer_start() {
  local i rc
  LABEL=$1; shift
  OUT=/tmp/$LABEL.out; ERR=/tmp/$LABEL.err; READY=/tmp/$LABEL.ready
  rm -f "$OUT" "$ERR" "$READY"
  echo "--- [$SCEN] $TRACER --ready-file $READY --output-file $OUT $*"
  T_START=$(now)
  "$TRACER" --ready-file "$READY" --output-file "$OUT" "$@" > /tmp/$LABEL.stdout 2> "$ERR" &
  TPID=$!
  i=0
  while [ ! -e "$READY" ]; do
    if ! alive $TPID; then
      wait $TPID; rc=$?
      fail "$LABEL: tracer exited (rc=$rc) before it was ready, after $(since $T_START)s"
      show_err; TPID=; return 1
    fi
    i=$((i+1))
    if [ $i -gt $((READY_TIMEOUT*10)) ]; then
      fail "$LABEL: not ready after ${READY_TIMEOUT}s"; show_err; kill -9 $TPID; wait $TPID; TPID=; return 1
    fi
    sleep 0.1
  done
  T_READY=$(since $T_START)
  timing "$LABEL.ready" "$T_READY"
  RSS_KB=$(awk '/VmRSS/ {print $2}' /proc/$TPID/status)
  return 0
}
# tracer_stop: SIGINT, wait (bounded) for a clean exit; fails on timeout or non-zero exit. Sets SAW_EXPEDITED when
# /sys/kernel/rcu_expedited read 1 meanwhile (pwru expedites grace periods while removing plain kprobes). With SECOND_SIGNAL set,
# a second SIGINT follows after 1 s if the tracer is still running (SECOND_SENT says whether it was).
tracer_stop() {
  local t i rc
  [ -n "$TPID" ] || return 1
  t=$(now); kill -INT $TPID
  i=0; SECOND_SENT=; SAW_EXPEDITED=
  while alive $TPID; do
    [ "$(cat /sys/kernel/rcu_expedited 2>/dev/null)" = 1 ] && SAW_EXPEDITED=1
    if [ -n "${SECOND_SIGNAL:-}" ] && [ -z "$SECOND_SENT" ] && [ $i -eq 10 ]; then kill -INT $TPID; SECOND_SENT=1; fi
    i=$((i+1))
    if [ $i -gt $((STOP_TIMEOUT*10)) ]; then
      fail "$LABEL: still running ${STOP_TIMEOUT}s after SIGINT"; show_err; kill -9 $TPID; break
    fi
    sleep 0.1
  done
  wait $TPID; rc=$?
  T_STOP=$(since $t)
  timing "$LABEL.detach" "$T_STOP"
  if [ $rc -eq 0 ]; then pass "$LABEL: exits 0 after SIGINT (${T_STOP}s)"; else fail "$LABEL: exit code $rc after SIGINT"; show_err; fi
  TPID=
}
show_err() { echo "  | stderr of $LABEL (tail):"; tail -n 15 "$ERR" 2>/dev/null | sed 's/^/  | /'; }
show_out() { echo "  | output of $LABEL ($(events | wc -l) events, first ${1:-25}):"; events | head -n ${1:-25} | sed 's/^/  | /'; }
# Waits until the output file stops growing (events still in flight in the ring buffer), at most 20 s.
settle() {
  local last same i c
  last=-1; same=0; i=0
  while [ $same -lt 2 ] && [ $i -lt 20 ]; do
    c=$(wc -c < "$OUT" 2>/dev/null || echo 0)
    if [ "$c" = "$last" ]; then same=$((same+1)); else same=0; fi
    last=$c; i=$((i+1)); sleep 1
  done
}

# Event lines: pwru's text format starts each event with the skb address.
events() { grep -E '^0x[0-9a-f]+ ' "$OUT" 2>/dev/null; }
# count PAT...: events matching every ERE.
count() {
  events > /tmp/sel
  for p in "$@"; do grep -E -- "$p" /tmp/sel > /tmp/sel2; mv /tmp/sel2 /tmp/sel; done
  wc -l < /tmp/sel
}
# Column patterns (the text columns are space separated).
fn() { echo "[ ]($1)([ (]|\$)"; }      # FUNC column: name, then space, "(" (drop reason) or end
ns() { echo "[ ]$1[ ]"; }
tup() { lit "$1"; }
expect() { # expect WHAT PAT...: at least one event matches all patterns
  what=$1; shift; n=$(count "$@")
  if [ "$n" -gt 0 ]; then pass "$what ($n events)"; else fail "$what: no event matches $*"; show_out; fi
}
expect_none() { # expect_none WHAT PAT...: no event matches all patterns
  what=$1; shift; n=$(count "$@")
  if [ "$n" -eq 0 ]; then pass "$what"; else fail "$what: $n events match $*"; head -5 /tmp/sel | sed 's/^/  | /'; fi
}
expect_all() { # expect_all WHAT PAT: there are events and every one matches PAT
  what=$1; total=$(events | wc -l); n=$(count "$2")
  if [ "$total" -gt 0 ] && [ "$n" -eq "$total" ]; then pass "$what (all $total events)"
  else fail "$what: $n of $total events match $2"; events | grep -vE -- "$2" | head -5 | sed 's/^/  | /'; fi
}

# Kernel-side footprint: kprobes (debugfs list + kprobe_events), ftrace-enabled functions (kprobe-multi uses
# fprobe/ftrace), BPF programs, links and maps, and the RCU setting pwru changes while detaching.
footprint() {
  kp=$(grep -c . /sys/kernel/debug/kprobes/list 2>/dev/null); ke=$(grep -c . /sys/kernel/tracing/kprobe_events 2>/dev/null)
  ef=$(grep -c . /sys/kernel/tracing/enabled_functions 2>/dev/null)
  pr=$($BPFTOOL prog show 2>/dev/null | grep -cE '^[0-9]+:'); li=$($BPFTOOL link show 2>/dev/null | grep -cE '^[0-9]+:')
  ma=$($BPFTOOL map show 2>/dev/null | grep -cE '^[0-9]+:')
  rx=$(cat /sys/kernel/rcu_expedited 2>/dev/null)
  echo "kprobes=${kp:-NA} kprobe_events=${ke:-NA} ftrace_funcs=${ef:-NA} progs=${pr:-NA} links=${li:-NA} maps=${ma:-NA} rcu_expedited=${rx:-NA}"
}
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
# expect_clean BASELINE: the footprint returns to BASELINE (BPF objects are freed after an RCU grace period).
expect_clean() {
  local i fp
  i=0; fp=$(footprint)
  while [ "$fp" != "$1" ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); fp=$(footprint); done
  if [ "$fp" = "$1" ]; then pass "$LABEL: nothing left behind ($fp)"; else fail "$LABEL: left behind: now '$fp', before '$1'"; fi
}
# expect_attached BASELINE BACKEND: while running, the tracer's probes are visible where BACKEND puts them.
expect_attached() {
  local fp k0 k1 p0 p1
  fp=$(footprint)
  case $2 in
    kprobe) k0=$(field "$1" kprobes); k1=$(field "$fp" kprobes);;
    *) k0=$(field "$1" ftrace_funcs); k1=$(field "$fp" ftrace_funcs);;
  esac
  p0=$(field "$1" progs); p1=$(field "$fp" progs)
  if [ "$k1" -gt "$k0" ] && [ "$p1" -gt "$p0" ]; then pass "$LABEL: $2 probes visible while running ($fp)"
  else fail "$LABEL: no $2 probes visible while running: '$fp' vs before '$1'"; fi
}
