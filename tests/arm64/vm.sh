#!/usr/bin/env bash
# arm64 end to end: the shared VM harness (tests/vm/run.sh arm64: Debian cloud-arm64 6.1 and 6.12 under
# qemu-system-aarch64 TCG, kprobe backend, every scenario in tests/vm/guest) with our static arm64 build.
# Usage: tests/arm64/vm.sh PWRU_BIN        (tests/arm64/run.sh passes its cross build)
# Before booting, checks in each kernel's BTF that the skb argument positions the skb_args scenario relies on
# (tests/vm/guest/scen-skb-args.sh) are still those, so a kernel change is not mistaken for a tracer bug.
set -euo pipefail
BIN=${1:?usage: tests/arm64/vm.sh PWRU_BIN}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${VM_CACHE:-$ROOT/tests/.cache}
[ -x "$BIN" ] || { echo "arm64 vm: no binary at $BIN" >&2; exit 1; }
file -b "$BIN" | grep -q 'ARM aarch64.*statically linked' || { echo "arm64 vm: $BIN: $(file -b "$BIN")" >&2; exit 1; }

bash "$ROOT/tests/vm/kernels.sh" arm64
SKB_ARGS="ip_rcv=1 ip_protocol_deliver_rcu=2 ip_rcv_finish=3 ip_local_deliver_finish=3 ip_route_output_key_hash_rcu=4
          ip6_pol_route_input=4 ip6_pol_route=5"
while read -r series kver vmlinuz _; do
  case " ${VM_KERNELS:-6.1 6.12} " in *" $series "*) ;; *) continue ;; esac
  echo "arm64 vm: skb argument positions in $kver's BTF:"
  python3 "$ROOT/tests/arm64/btf_skb_args.py" "$vmlinuz" $SKB_ARGS | sed 's/^/  /'
done < "$CACHE/kernels/arm64.list"

VM_EXTRA_SCENARIOS=${VM_EXTRA_SCENARIOS-"skb_args stack ping_events"} PWRU_BIN=$BIN bash "$ROOT/tests/vm/run.sh" arm64
