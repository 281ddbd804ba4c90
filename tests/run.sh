#!/usr/bin/env bash
# Runs every pwru test: the one command CI (.ci/run) runs. Needs root: the tests load BPF programs into the
# running kernel, create network namespaces, and boot Debian kernels in qemu to test kprobes.
# Each part is timed; a failed part does not stop the others, but makes the whole run fail.
# PARTS="cargo-test vm-amd64" runs only those parts, one after the other (default: all, in STAGES).
set -uo pipefail
cd "$(dirname "$0")/.."
# Stages run in turn. A stage with lanes ("a | b c") runs its lanes side by side and the parts of a lane in turn:
# the host tests mostly wait on the kernel and on traffic, and each qemu is single-threaded TCG, so pairing them
# keeps both cores busy. The niced arm64 cross build gives way to the host tests; fuzz follows the amd64 VMs,
# which finish well before the arm64 ones.
STAGES=(setup bpf-objects fmt clippy doc "cargo-test | arm64-build" "vm-arm64 | vm-amd64 fuzz")
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
# The arm64 parts together are every step of tests/arm64/run.sh; `arm64` runs them all at once.
part_arm64-build() { STEPS="setup build release unit" bash tests/arm64/run.sh; }
part_vm-arm64()    { STEPS=vm bash tests/arm64/run.sh; }
part_arm64()       { bash tests/arm64/run.sh; }

RESULTS=$(mktemp -d); trap 'rm -rf "$RESULTS"' EXIT
# Runs one part and records "ok|FAILED seconds" for the summary (lanes run in subshells, so a file, not a variable).
run_part() {
  local p=$1 t0 r dt
  declare -F "part_$p" >/dev/null || { echo "=== no part named '$p'"; echo "FAILED 0" > "$RESULTS/$p"; return 1; }
  echo "=== [$p] start $(date -u +%H:%M:%S)"
  t0=$(date +%s)
  if "part_$p"; then r=ok; else r=FAILED; fi
  dt=$(( $(date +%s) - t0 ))
  echo "$r $dt" > "$RESULTS/$p"
  echo "=== [$p] $r in ${dt}s"
}
run_stage() {
  local stage=$1 lane t0
  case $stage in *'|'*) ;; *) run_part "$stage"; return ;; esac
  t0=$(date +%s)
  IFS='|' read -ra lanes <<< "$stage"
  for lane in "${lanes[@]}"; do
    # Each line carries the name of its part; the lane's own exit status does not matter (results are in files).
    # shellcheck disable=SC2086  # a lane is a space-separated list of part names
    ( for p in $lane; do run_part "$p" 2>&1 | sed -u "s/^/[$p] /"; done ) &
  done
  wait
  echo "=== side by side ($stage): ${#lanes[@]} lanes in $(( $(date +%s) - t0 ))s"
}

t_all=$(date +%s)
order=()
if [ -n "${PARTS:-}" ]; then
  # shellcheck disable=SC2086
  for p in $PARTS; do order+=("$p"); run_part "$p"; done
else
  for s in "${STAGES[@]}"; do
    # shellcheck disable=SC2086
    for p in ${s//|/ }; do order+=("$p"); done
    run_stage "$s"
  done
fi
passed=0; failed=0; failures=()
echo
echo "=== summary (total $(( $(date +%s) - t_all ))s)"
for p in "${order[@]}"; do
  read -r r dt < "$RESULTS/$p" 2>/dev/null || { r=FAILED; dt=0; }
  printf '%-12s %-6s %5ss\n' "$p" "$r" "$dt"
  if [ "$r" = ok ]; then passed=$((passed+1)); else failed=$((failed+1)); failures+=("$p"); fi
done
[ $failed -eq 0 ] || echo "failed parts: ${failures[*]}"
echo "parts: $passed passed, $failed failed"
[ $failed -eq 0 ]
