#!/usr/bin/env bash
# Coverage-guided fuzzing of pwru's parsers with cargo-afl (AFL++), on the stable toolchain. See fuzz/README.md.
#   fuzz/run.sh short                      build, replay every committed corpus file, then fuzz each target 30 s
#   fuzz/run.sh campaign [EXECS]           fuzz each target in turn for EXECS executions (default 10 M)
#   fuzz/run.sh fuzz TARGET SECS|-EXECS    one target, for SECS seconds or (with a minus) EXECS executions
#   fuzz/run.sh replay [TARGET...]         run the corpus through the harnesses (no AFL), fail on any crash
#   fuzz/run.sh cmin TARGET DIR            minimise the inputs in DIR into fuzz/corpus/TARGET
# Exits non-zero on any crash or hang, or when it cannot install or build what it needs (it never skips).
# FUZZ_CACHE (default tests/.cache/fuzz) holds cargo-afl, the AFL++ it builds, the harness builds and the runs.
# SHORT_SECS (default 30) sets the short run's seconds per target; FROM=DIR starts `fuzz` from DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGETS="filter capture btf cilium"
CARGO_AFL_VERSION=0.18.2 # = the afl crate's version in fuzz/Cargo.toml
FUZZ_CACHE=$(mkdir -p "${FUZZ_CACHE:-tests/.cache/fuzz}" && cd "${FUZZ_CACHE:-tests/.cache/fuzz}" && pwd)
export PATH="$FUZZ_CACHE/cargo-afl/bin:$PATH" XDG_DATA_HOME="$FUZZ_CACHE/data" CARGO_TARGET_DIR="$FUZZ_CACHE/target"
# A shared machine: no CPU pinning, no frequency or core-pattern demands, no screen UI.
export AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
BIN="$CARGO_TARGET_DIR/release"

setup() {
  if ! cargo afl --version 2>/dev/null | grep -q "$CARGO_AFL_VERSION"; then
    echo "fuzz: installing cargo-afl $CARGO_AFL_VERSION into $FUZZ_CACHE/cargo-afl"
    nice cargo install cargo-afl --locked --version "$CARGO_AFL_VERSION" --root "$FUZZ_CACHE/cargo-afl" -q
  fi
  # AFL++ itself, built from the source cargo-afl ships.
  if ! ls "$XDG_DATA_HOME"/afl.rs/rustc-*/afl.rs-"$CARGO_AFL_VERSION"/afl/bin/afl-fuzz >/dev/null 2>&1; then
    echo "fuzz: building AFL++ (cargo afl config --build)"
    nice cargo afl config --build --force >/dev/null
  fi
  # The workspace's lock file pins what the harnesses share with pwru; cargo adds afl's own dependencies to it.
  cp Cargo.lock fuzz/Cargo.lock
  nice cargo afl build --release -q --manifest-path fuzz/Cargo.toml
}

replay() {
  local t f n crashed=0 targets=${*:-$TARGETS}
  for t in $targets; do
    n=0
    for f in fuzz/corpus/"$t"/*; do
      n=$((n + 1))
      if ! timeout 10 "$BIN/$t" <"$f" >/dev/null 2>"$FUZZ_CACHE/replay.err"; then
        echo "fuzz: $t crashes on $f: $(grep -m1 -A1 panicked "$FUZZ_CACHE/replay.err" | tail -1)"
        crashed=1
      fi
    done
    [ "$n" -gt 0 ] || { echo "fuzz: no corpus for $t"; crashed=1; }
    echo "fuzz: replay $t: $n inputs"
  done
  return $crashed
}

stat() { sed -n "s/^$2 *: //p" "$1/default/fuzzer_stats"; }

# fuzz TARGET SECS|-EXECS: one AFL++ run from the committed corpus (or from $FROM, e.g. an earlier run's queue, to
# go on where it stopped); reports executions, corpus size, findings.
fuzz() {
  local t=$1 limit=$2 out="$FUZZ_CACHE/out/$1"
  rm -rf "$out"
  mkdir -p "$out"
  local stop=(-V "$limit")
  [ "${limit#-}" = "$limit" ] || stop=(-E "${limit#-}")
  nice -n 19 cargo afl fuzz -i "${FROM:-fuzz/corpus/$t}" -o "$out" "${stop[@]}" -- "$BIN/$t" >"$out/log" 2>&1 || {
    tail -20 "$out/log"
    echo "fuzz: afl-fuzz failed on $t"
    return 1
  }
  local crashes hangs
  crashes=$(find "$out/default/crashes" -type f -name 'id:*' | wc -l)
  hangs=$(find "$out/default/hangs" -type f -name 'id:*' | wc -l)
  printf 'fuzz: %-8s %10s execs in %5ss (%s/s), corpus %s -> %s, crashes %s, hangs %s\n' "$t" \
    "$(stat "$out" execs_done)" "$(stat "$out" run_time)" "$(stat "$out" execs_per_sec)" \
    "$(find "${FROM:-fuzz/corpus/$t}" -type f | wc -l)" "$(stat "$out" corpus_count)" "$crashes" "$hangs"
  if [ "$crashes" -gt 0 ] || [ "$hangs" -gt 0 ]; then
    echo "fuzz: findings of $t are in $out/default/{crashes,hangs}"
    return 1
  fi
}

# All of it in a function, so that bash has read the whole script before a long run starts (an edit of this
# file during a run then cannot change what the run does).
main() {
  cmd=${1:-short}
  shift || true
  case $cmd in
    short)
      setup
      replay
      rc=0
      for t in $TARGETS; do fuzz "$t" "${SHORT_SECS:-30}" || rc=1; done
      exit $rc ;;
    campaign)
      setup
      rc=0
      for t in $TARGETS; do fuzz "$t" "-${1:-10000000}" || rc=1; done
      exit $rc ;;
    fuzz) setup; fuzz "$1" "$2" ;;
    replay) setup; replay "$@" ;;
    cmin)
      setup
      rm -rf "fuzz/corpus/$1.new"
      # afl-cmin.bash: the Python afl-cmin of this AFL++ finds no tuples for stdin-fed persistent targets.
      afl=$(dirname "$(ls "$XDG_DATA_HOME"/afl.rs/rustc-*/afl.rs-"$CARGO_AFL_VERSION"/afl/bin/afl-fuzz | head -1)")
      PATH="$afl:$PATH" nice "$afl/afl-cmin.bash" -i "$2" -o "fuzz/corpus/$1.new" -- "$BIN/$1" >"$FUZZ_CACHE/cmin.log" 2>&1 || {
        tail -5 "$FUZZ_CACHE/cmin.log"
        exit 1
      }
      rm -rf "fuzz/corpus/$1" && mv "fuzz/corpus/$1.new" "fuzz/corpus/$1"
      echo "fuzz: corpus $1: $(find "fuzz/corpus/$1" -type f | wc -l) files, $(du -sh "fuzz/corpus/$1" | cut -f1)" ;;
    *) sed -n '2,12p' "$0"; exit 2 ;;
  esac
}
main "$@"
