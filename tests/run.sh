#!/usr/bin/env bash
# Runs every pwru test: the one command CI (.ci/run) runs. Needs root: the tests load BPF programs into the
# running kernel, create network namespaces, and boot Debian kernels in qemu to test kprobes.
# Each part is timed; a failed part does not stop the others, but makes the whole run fail.
# PARTS="unit vm-amd64" limits the run to some parts (default: all).
set -uo pipefail
cd "$(dirname "$0")/.."
# `vms` runs both architectures' VM scenarios at once (each qemu is single-threaded TCG, one core each); the parts
# vm-amd64 and arm64 (all arm64 steps, its VMs included) still run on their own with PARTS.
ALL_PARTS="setup bpf-objects fmt clippy doc cargo-test fuzz arm64-build vms"
PARTS=${PARTS:-$ALL_PARTS}
export CARGO_TERM_COLOR=never
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}

part_setup()       { bash tests/setup.sh; }
part_bpf-objects() { bash probes/bpf/build.sh --check && bash testkit/bpf/build.sh --check; }
part_fmt()         { cargo fmt --all -- --check; }
part_clippy()      { cargo clippy --workspace --all-targets -q -- -D warnings; }
# Every public item of the library crates is documented (deny(missing_docs)) and rustdoc finds no broken link.
part_doc()         { RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps -q; }
# Tests that drive the real binary (cilium, tui, pcap) take it from PWRU_BIN instead of building their own.
# --include-ignored: the tests a plain `cargo test` leaves out (root, the kernel, tools beyond cargo) run here, and
# fail when they cannot do their check.
part_cargo-test()  {
  cargo build --release -p pwru -q &&
    PWRU_BIN=$CARGO_TARGET_DIR/release/pwru cargo test --workspace --no-fail-fast -- --include-ignored
}
# Coverage-guided fuzzing (fuzz/README.md): replay of the committed corpora, then 15 s of AFL++ per harness (a smoke
# run that keeps CI under its budget; the long runs are `fuzz/run.sh campaign`).
part_fuzz()        { SHORT_SECS=${SHORT_SECS:-15} bash fuzz/run.sh short; }
part_vm-amd64()    { bash tests/vm/run.sh amd64; }
part_arm64()       { bash tests/arm64/run.sh; }
part_arm64-build() { STEPS="setup build release unit" bash tests/arm64/run.sh; }
# Each side's lines carry its name; a side fails the part with its own exit status (pipefail).
part_vms() {
  local amd arm rc=0
  bash tests/vm/run.sh amd64 2>&1 | sed -u 's/^/[vm-amd64] /' & amd=$!
  STEPS=vm bash tests/arm64/run.sh 2>&1 | sed -u 's/^/[vm-arm64] /' & arm=$!
  wait $amd || { echo "=== vms: amd64 failed"; rc=1; }
  wait $arm || { echo "=== vms: arm64 failed"; rc=1; }
  return $rc
}

passed=0; failed=0; failures=(); summary=()
t_all=$(date +%s)
for p in $PARTS; do
  echo "=== [$p] start $(date -u +%H:%M:%S)"
  t0=$(date +%s)
  if "part_$p"; then r=ok; passed=$((passed+1)); else r=FAILED; failed=$((failed+1)); failures+=("$p"); fi
  dt=$(( $(date +%s) - t0 ))
  summary+=("$(printf '%-12s %-6s %5ss' "$p" "$r" "$dt")")
  echo "=== [$p] $r in ${dt}s"
done
echo
echo "=== summary (total $(( $(date +%s) - t_all ))s)"
printf '%s\n' "${summary[@]}"
[ $failed -eq 0 ] || echo "failed parts: ${failures[*]}"
echo "parts: $passed passed, $failed failed"
[ $failed -eq 0 ]
