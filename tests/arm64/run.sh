#!/usr/bin/env bash
# arm64 tests: cross build, the arm64 build's unit tests under qemu-user, and end-to-end kprobe scenarios with the
# arm64 static binary in arm64 VMs (Debian cloud-arm64 kernels 6.1 and 6.12, qemu-system-aarch64 TCG), through the
# shared VM harness in tests/vm.
#   tests/arm64/run.sh              all steps
#   STEPS="build unit" tests/arm64/run.sh     (steps: setup build release unit vm)
#   VM_KERNELS=6.12 tests/arm64/run.sh        (one arm64 kernel instead of 6.1 and 6.12)
# Needs root (apt-get in setup). Each step is timed; any failure fails the run (the other steps still run).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
ALL_STEPS="setup build release unit vm"
STEPS=${STEPS:-$ALL_STEPS}
TRIPLE=aarch64-unknown-linux-gnu
export CARGO_TERM_COLOR=never
# Own target dir: the arm64 build uses another rustc (Debian's 1.96), whose artifacts would only crowd the host's.
export CARGO_TARGET_DIR=${ARM64_TARGET_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/arm64}
NICE=${NICE:-nice -n 10}
XCARGO=("$ROOT/tests/arm64/xcargo")
# crt-static comes from .cargo/config.toml's target section; a RUSTFLAGS variable would replace it.
unset RUSTFLAGS

# Unit tests that run under qemu-user: bpf() is ENOSYS there, and there is no netns/root of our own, so this is an
# explicit list of test targets that need no kernel (agreed in NOTES.md: kernel-needing tests live in integration
# test files, or are named kernel_* and skipped by name; --include-ignored runs the rest of what a plain `cargo test`
# leaves out, such as debian_kernels). Each line is one cargo invocation: "packages : targets".
# --test NAME applies to every selected package, so test names used by two packages (errors: pcap-filter's is
# pure, probes' needs bpf()) get their own line.
# Only the crates whose results can differ on arm64 are here: the C/Rust event layouts, records and their decode
# (probes, event), the bpf() attr layouts (bpf-sys), BTF/ELF parsing (symbols), and the filter compiler and
# interpreter (pcap-filter). cilium, tui and pwru have no arch-dependent code (no cfg(target_arch), no repr(C)
# reads: their decoders and formatters work on byte slices with explicit byte order); the build step compiles them
# for arm64, the amd64 cargo-test part runs their tests, and the VM step runs the arm64 pwru end to end. Their test
# builds were most of this step's time (compiling pwru's tests alone takes minutes in release mode).
UNIT_SETS=(
  "event pcap-filter symbols probes bpf-sys : --lib --test format --test packet --test btf_blobs --test fuzz_blobs
   --test type_graph --test text_formats --test debian_kernels --test layout"
  "pcap-filter : --test errors --test fuzz --test capture"
)
# The property tests (pcap-filter fuzz, symbols fuzz_blobs) run 3000/2000 cases natively; under qemu-user each case
# is ~10-20x slower, and the arm64 question they answer (does the compiler/parser behave the same on this arch) is
# settled by far fewer: the amd64 run keeps the full counts.
export PROPTEST_CASES=${PROPTEST_CASES:-300}
# Not here, on purpose: tests that need the kernel's bpf(), root, netns or host tools built for x86-64
# (symbols host, probes load_kprobes/tracepoint_host, cilium node_maps, pcap-filter libpcap_oracle (links the
# host's libpcap), pwru host_*, tui tmux_e2e). The amd64 cargo-test part runs them; the arm64 VM step covers the
# arm64 kernel side end to end.

step_setup() { bash tests/arm64/setup.sh; }

# Release profile for everything: the VM runs the binary we ship, and the unit tests share most of its dependencies
# (dev-dependencies turn on features of a few, such as hashbrown and syn, and those are built again).
step_build() {
  $NICE "${XCARGO[@]}" build --release --workspace --target $TRIPLE || return 1
  local bin=$CARGO_TARGET_DIR/$TRIPLE/release/pwru
  file -b "$bin" | grep -q 'ARM aarch64.*statically linked' || { echo "arm64: $bin is not a static aarch64 binary: $(file -b "$bin")"; return 1; }
  echo "arm64: $(file -b "$bin" | cut -d, -f1-5)"
  echo "arm64: size $(stat -c %s "$bin") bytes"
}

step_unit() {
  local log rc=0 total bins set pkgs targets
  log=$(mktemp)
  for set in "${UNIT_SETS[@]}"; do
    pkgs=${set%%:*}; targets=${set#*:}
    echo "--- arm64 unit: packages $pkgs; targets" $targets
    # shellcheck disable=SC2046,SC2086
    $NICE "${XCARGO[@]}" test --release --target $TRIPLE --no-fail-fast $(printf -- '-p %s ' $pkgs) $targets \
      -- --include-ignored --skip kernel_ 2>&1 | tee -a "$log"
    [ "${PIPESTATUS[0]}" = 0 ] || rc=1
  done
  total=$(sed -n 's/^test result: .* \([0-9]*\) passed.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
  bins=$(grep -c '^     Running ' "$log")
  rm -f "$log"
  echo "arm64 unit: $total tests passed in $bins test binaries under qemu-aarch64-static (rc=$rc)"
  [ "$total" -gt 0 ] || { echo "arm64 unit: no test ran"; return 1; }
  return "$rc"
}

# The release artifact from the build above: stripped, static, embeds pwru-arm64.o and not pwru-x86.o, runs
# (--version under qemu-user). RELEASE_ARCHES="amd64 arm64" also builds and checks the static amd64 binary.
step_release() {
  local d; d=$(mktemp -d)
  ARCHES=${RELEASE_ARCHES:-arm64} DIST=$d ARM64_TARGET_DIR=$CARGO_TARGET_DIR bash scripts/release.sh
  local rc=$?; rm -rf "$d"; return $rc
}

step_vm() {
  bash tests/arm64/vm.sh "$CARGO_TARGET_DIR/$TRIPLE/release/pwru"
}

declare -a summary=(); failed=0
t_all=$(date +%s)
for s in $STEPS; do
  echo "=== arm64 [$s] start $(date -u +%H:%M:%S)"
  t0=$(date +%s)
  if "step_$s"; then r=ok; else r=FAILED; failed=$((failed + 1)); fi
  dt=$(( $(date +%s) - t0 ))
  summary+=("$(printf 'arm64 %-6s %-6s %5ss' "$s" "$r" "$dt")")
  echo "=== arm64 [$s] $r in ${dt}s"
done
echo "=== arm64 summary (total $(( $(date +%s) - t_all ))s)"
printf '%s\n' "${summary[@]}"
[ $failed -eq 0 ]
