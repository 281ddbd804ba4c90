#!/usr/bin/env bash
# Builds the release: one static pwru binary per architecture, each embedding its own arch's BPF object
# (probes/bpf/obj/pwru-{x86,arm64}.o, chosen by cfg(target_arch) in the probes crate), into dist/ with SHA256SUMS,
# and beside them the man page and the bash/zsh/fish completions the binary generates (dist/share/...).
#   scripts/release.sh            both arches (arm64 needs tests/arm64/setup.sh once)
#   ARCHES=amd64 scripts/release.sh
# Env: DIST (output dir, default dist); CARGO_TARGET_DIR (default target) for amd64; ARM64_TARGET_DIR (default
#      $CARGO_TARGET_DIR/arm64, as tests/arm64/run.sh, so a tested arm64 build is reused, not rebuilt).
# Checks every binary: `file` says statically linked, no PT_INTERP/NEEDED, it embeds its own arch's BPF object and
# not the other one, and it runs (`--version`; arm64 under qemu-user).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DIST=${DIST:-dist}
ARCHES=${ARCHES:-"amd64 arm64"}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
ARM64_TARGET_DIR=${ARM64_TARGET_DIR:-$CARGO_TARGET_DIR/arm64}
export CARGO_TERM_COLOR=never
NICE=${NICE:-nice -n 10}
die() { echo "release.sh: $*" >&2; exit 1; }

# Host proc-macros and build scripts must stay dynamic (proc-macros are dylibs), so crt-static goes only to the
# target artifacts: RUSTFLAGS with an explicit --target is not applied to host artifacts. On x86-64, crt-static
# alone gives a static-pie; relocation-model=static makes a plain static executable like the arm64 one (the
# aarch64 gnu target does not do static-pie), which `file` calls "statically linked".
build_amd64() {
  RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" $NICE cargo build --release --locked -p pwru \
    --target x86_64-unknown-linux-gnu
  echo "$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/pwru"
}
# arm64: Debian's rustc-web (tests/arm64/xcargo); crt-static comes from .cargo/config.toml's target section, which
# a RUSTFLAGS variable would replace, hence env -u.
build_arm64() {
  [ -x /usr/bin/rustc ] && [ -x /usr/bin/aarch64-linux-gnu-gcc ] ||
    die "arm64 toolchain missing: run tests/arm64/setup.sh (as root)"
  env -u RUSTFLAGS CARGO_TARGET_DIR="$ARM64_TARGET_DIR" \
    $NICE tests/arm64/xcargo build --release --locked -p pwru --target aarch64-unknown-linux-gnu
  echo "$ARM64_TARGET_DIR/aarch64-unknown-linux-gnu/release/pwru"
}

# Does file $1 contain the bytes of file $2 (include_bytes! embeds them verbatim)?
contains() { python3 - "$1" "$2" <<'PY'
import sys
hay = open(sys.argv[1], 'rb').read(); needle = open(sys.argv[2], 'rb').read()
sys.exit(0 if needle and hay.find(needle) >= 0 else 1)
PY
}

check() { # $1=arch $2=binary
  local arch=$1 bin=$2 desc own other
  desc=$(file -b "$bin")
  case $arch in
    amd64) [[ $desc == *x86-64* ]] || die "$bin: not x86-64: $desc"; own=x86; other=arm64 ;;
    arm64) [[ $desc == *aarch64* ]] || die "$bin: not aarch64: $desc"; own=arm64; other=x86 ;;
  esac
  [[ $desc == *"statically linked"* ]] || die "$bin: not statically linked: $desc"
  ! readelf -lW "$bin" | grep -q 'INTERP' || die "$bin: has a program interpreter"
  ! readelf -dW "$bin" 2>/dev/null | grep -q NEEDED || die "$bin: has NEEDED shared libraries"
  contains "$bin" "probes/bpf/obj/pwru-$own.o" || die "$bin: does not embed probes/bpf/obj/pwru-$own.o"
  ! contains "$bin" "probes/bpf/obj/pwru-$other.o" || die "$bin: embeds the other arch's probes/bpf/obj/pwru-$other.o"
  local run=()
  [ "$arch" = arm64 ] && [ "$(uname -m)" != aarch64 ] && run=(qemu-aarch64-static)
  local v; v=$("${run[@]}" "$bin" --version) || die "$bin --version failed"
  echo "  $arch: $desc"
  echo "  $arch: --version: $v"
}

for o in x86 arm64; do
  [ -s "probes/bpf/obj/pwru-$o.o" ] || die "probes/bpf/obj/pwru-$o.o missing (probes/bpf/build.sh builds it)"
done
rm -rf "$DIST"; mkdir -p "$DIST"
for arch in $ARCHES; do
  t0=$(date +%s)
  case $arch in
    amd64) bin=$(build_amd64 | tail -1) ;;
    arm64) bin=$(build_arm64 | tail -1) ;;
    *) die "unknown arch $arch (amd64, arm64)" ;;
  esac
  [ -x "$bin" ] || die "build for $arch gave no binary"
  # Stripped after the build (not -C strip) so the build shares every artifact with the tested one. Our own
  # symbols are of no use to a user: --output-stack symbolises the kernel's, from kallsyms.
  case $arch in amd64) strip=strip ;; arm64) strip=aarch64-linux-gnu-strip ;; esac
  $strip -o "$DIST/pwru-linux-$arch" "$bin"
  check "$arch" "$DIST/pwru-linux-$arch"
  echo "  $arch: built in $(( $(date +%s) - t0 ))s"
done
# The man page and completions come from the clap definition inside the binary, so they match it exactly.
gen=$DIST/pwru-linux-amd64
[ -x "$gen" ] || gen=$(ls "$DIST"/pwru-linux-* | head -1)
run=(); [[ $gen == *arm64 ]] && [ "$(uname -m)" != aarch64 ] && run=(qemu-aarch64-static)
mkdir -p "$DIST/share/man/man1" "$DIST/share/bash-completion/completions" "$DIST/share/zsh/site-functions" \
  "$DIST/share/fish/vendor_completions.d"
"${run[@]}" "$gen" man > "$DIST/share/man/man1/pwru.1"
"${run[@]}" "$gen" completions bash > "$DIST/share/bash-completion/completions/pwru"
"${run[@]}" "$gen" completions zsh > "$DIST/share/zsh/site-functions/_pwru"
"${run[@]}" "$gen" completions fish > "$DIST/share/fish/vendor_completions.d/pwru.fish"
grep -q 'drops-only' "$DIST/share/bash-completion/completions/pwru" || die "bash completions lack --drops-only"
grep -q '^\.TH pwru' "$DIST/share/man/man1/pwru.1" || die "man page has no .TH header"
(cd "$DIST" && sha256sum pwru-linux-* $(find share -type f | sort) > SHA256SUMS)
echo "release in $DIST/:"
for f in "$DIST"/pwru-linux-* $(find "$DIST/share" -type f | sort); do
  printf '  %-50s %8s bytes (%s)\n' "${f#"$DIST"/}" "$(stat -c %s "$f")" "$(du -h "$f" | cut -f1)"
done
sed 's/^/  /' "$DIST/SHA256SUMS"
