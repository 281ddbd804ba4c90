#!/usr/bin/env bash
# Compiles progs.c and late.c (the tc/XDP programs the tests trace) for x86_64 and arm64 into the committed
# objects obj/{progs,late}-{x86,arm64}.o, reproducibly (as probes/bpf/build.sh does; BTF is kept: the tests need it).
#   build.sh           rebuild the committed objects
#   build.sh --check   rebuild into a temporary directory and fail if any object differs from the committed one
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
mode=build
case "${1:-}" in
"") ;;
--check) mode=check ;;
*) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
clang="${CLANG:-clang}"
strip="${LLVM_STRIP:-llvm-strip}"
if ! "$clang" --version | grep -q 'clang version 14\.'; then
	echo "build.sh: need clang 14 (Debian bookworm's clang), found: $("$clang" --version | head -1)" >&2
	exit 1
fi
asm_inc=/usr/include/$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)
[ -d "$asm_inc" ] || asm_inc=/usr/include/x86_64-linux-gnu
out="$here/obj"
if [ "$mode" = check ]; then
	out="$(mktemp -d)"
	trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"
objs=(progs late)
for obj in "${objs[@]}"; do
	for arch in x86 arm64; do
		"$clang" -O2 -g -target bpf -mcpu=v2 -fno-addrsig -fdebug-compilation-dir=. \
			-ffile-prefix-map="$here"=. \
			-D__TARGET_ARCH_"$arch" -I"$asm_inc" -Wall -Werror \
			-c "$obj.c" -o "$out/$obj-$arch.o"
		"$strip" -g "$out/$obj-$arch.o"
	done
done
if [ "$mode" = check ]; then
	rc=0
	for obj in "${objs[@]}"; do
		for arch in x86 arm64; do
			if ! cmp -s "$out/$obj-$arch.o" "$here/obj/$obj-$arch.o"; then
				echo "build.sh --check: testkit/bpf/obj/$obj-$arch.o differs from a fresh build of $obj.c (run testkit/bpf/build.sh and commit)" >&2
				rc=1
			fi
		done
	done
	[ $rc = 0 ] && echo "build.sh --check: objects are up to date"
	exit $rc
fi
ls -l "$out"/*.o
