#!/usr/bin/env bash
# Runs examples/kprobe_smoke.rs inside one of tests/vm's qemu kernels (kprobes need a VM; the host has none).
# Usage: probes/examples/vm-smoke.sh SERIES BACKEND [EXTRA_BACKENDS]    e.g.  6.12 kprobe-multi kprobe
# Env:   ARCH=amd64|arm64 (default amd64), BIN=the kprobe_smoke binary (default: cargo build --release it; for
#        arm64 build it with tests/arm64/xcargo ... --target aarch64-unknown-linux-gnu and pass BIN).
# Needs the kernels of tests/vm/kernels.sh. Prints the @@PROBES / @@CHECK lines; the full log is in /tmp.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd); CACHE=${VM_CACHE:-$ROOT/tests/.cache}
series=$1; backend=$2; extra=${3:-}; ARCH=${ARCH:-amd64}
if [ -z "${BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release -q -p probes --example kprobe_smoke) || exit 1
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/kprobe_smoke
fi
[ -f "$CACHE/kernels/$ARCH.list" ] || bash "$ROOT/tests/vm/kernels.sh" "$ARCH" || exit 1
read -r _ kver vmlinuz moddir < <(grep "^$series " "$CACHE/kernels/$ARCH.list") || { echo "no kernel $series" >&2; exit 1; }
ov=$(mktemp -d /tmp/probes-ov.XXXXXX); trap 'rm -rf "$ov"' EXIT
mkdir -p "$ov/usr/bin" "$ov/guest"
cp "$BIN" "$ov/usr/bin/kprobe_smoke"; cp "$BIN" "$ov/usr/bin/pwru"   # the guest scripts expect a pwru binary
cp "$ROOT"/tests/vm/guest/*.sh "$ov/guest/"
cat > "$ov/guest/scen-probes.sh" <<'S'
s_probes_smoke() { SCEN=probes-smoke; for be in $BACKEND $EXTRA_BACKENDS; do /usr/bin/kprobe_smoke $be 10.0.0.2 || FAILS=$((FAILS+1)); done; }
S
printf 'KSERIES=%s\nBACKEND=%s\nEXTRA_BACKENDS="%s"\nAUTO_EXPECT=%s\nSCENARIOS=probes_smoke\nEXTRA_SCENARIOS=\nPAYLOAD=scenarios\n' \
  "$series" "$backend" "$extra" "$backend" > "$ov/guest/plan.env"
initrd=/tmp/probes-initrd-$ARCH-$kver.gz
bash "$ROOT/tests/vm/mkinitrd.sh" "$ARCH" "$moddir" "$initrd" "$ov" > /dev/null || exit 1
log=/tmp/probes-vm-$ARCH-$series.log
bash "$ROOT/tests/vm/boot.sh" "$ARCH" "$vmlinuz" "$initrd" 1500 < /dev/null 2>&1 | sed -u 's/\r$//' > "$log"
grep -E '^@@PROBES|^@@CHECK|drop NO_SOCKET|^@@GUEST_END' "$log"
! grep -q '^@@CHECK FAIL' "$log" && grep -q '^@@GUEST_END rc=0' "$log"
