#!/usr/bin/env bash
# Installs the arm64 cross toolchain on a Debian bookworm machine, as a new user would (idempotent, needs root).
#
# Rust: rustup's stable toolchain has no aarch64 std and none can be added here, so the arm64 build uses
# Debian's own rustc-web/cargo-web 1.96 (bookworm-security) plus libstd-rust-web-dev:arm64. They install as
# /usr/bin/rustc and /usr/bin/cargo; rustup's proxies in ~/.cargo/bin stay first in PATH, so the host's stable
# toolchain is untouched. tests/arm64/xcargo calls /usr/bin/cargo with RUSTC=/usr/bin/rustc explicitly, so no
# rustup link is needed (we add one, `cargo +debian-web`, for people who like it, when rustup exists).
# qemu-user-static runs the arm64 unit tests; qemu-system-arm boots arm64 kernels for the end-to-end tests.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "tests/arm64/setup.sh: run as root (dpkg, apt-get)" >&2; exit 1; }

pkgs=(rustc-web cargo-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross
      qemu-user-static qemu-system-arm file xz-utils zstd cpio busybox-static python3)
apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"; }

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
  need_update=1
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
# rustc-web 1.85 (bookworm) is too old for our lock file; 1.96 comes from bookworm-security.
if [ ${#missing[@]} -gt 0 ] || [ -n "${need_update:-}" ]; then
  apt_get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "tests/arm64/setup.sh: installing ${missing[*]}"
  apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Checks that fail loudly instead of a confusing cargo error later.
v=$(/usr/bin/rustc --version)
case "$v" in rustc\ 1.9[6-9]*|rustc\ 1.[1-9][0-9][0-9]*) ;; *)
  echo "tests/arm64/setup.sh: /usr/bin/rustc is '$v', need >= 1.96 (rustc-web from bookworm-security)" >&2; exit 1;; esac
sysroot=$(/usr/bin/rustc --print sysroot)
ls "$sysroot"/lib/rustlib/aarch64-unknown-linux-gnu/lib/libstd-*.rlib >/dev/null 2>&1 ||
  { echo "tests/arm64/setup.sh: no aarch64 std under $sysroot (libstd-rust-web-dev:arm64)" >&2; exit 1; }
command -v aarch64-linux-gnu-gcc >/dev/null || { echo "tests/arm64/setup.sh: aarch64-linux-gnu-gcc missing" >&2; exit 1; }
command -v qemu-aarch64-static >/dev/null || { echo "tests/arm64/setup.sh: qemu-aarch64-static missing" >&2; exit 1; }

if command -v rustup >/dev/null && ! rustup toolchain list 2>/dev/null | grep -q '^debian-web'; then
  rustup toolchain link debian-web /usr || true
fi
echo "tests/arm64/setup.sh: ok ($v, $(aarch64-linux-gnu-gcc --version | head -1), $(qemu-aarch64-static --version | head -1))"
