#!/usr/bin/env bash
# Compiles BPF C for x86_64 and arm64 into committed objects, reproducibly: the one build of every BPF object in
# the tree. Without DIR it builds pwru.bpf.c here (which includes the other files here: one object, shared maps)
# into obj/pwru-{x86,arm64}.o; testkit/bpf/build.sh passes its own directory and sources.
#   build.sh [DIR SOURCE.c...]           rebuild DIR/obj/NAME-{x86,arm64}.o (NAME: SOURCE without .bpf.c or .c)
#   build.sh --check [DIR SOURCE.c...]   rebuild into a temporary directory and fail if any object differs from the
#                                        committed one
# Needs Debian's clang 14 and libbpf-dev (bpf/bpf_helpers.h). The output does not depend on the checkout path:
# -ffile-prefix-map rewrites the source directory in the BTF/DWARF strings.
set -euo pipefail

self="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$self/../.." && pwd)"

mode=build
case "${1:-}" in
--check) mode=check; shift ;;
-*) echo "usage: $0 [--check] [DIR SOURCE.c...]" >&2; exit 2 ;;
esac
if [ $# -eq 0 ]; then
	set -- "$self" pwru.bpf.c
elif [ $# -lt 2 ]; then
	echo "usage: $0 [--check] [DIR SOURCE.c...]" >&2
	exit 2
fi
here="$(cd "$1" && pwd)"
shift
rel="${here#"$root"/}"
cd "$here"

clang="${CLANG:-clang}"
strip="${LLVM_STRIP:-llvm-strip}"
if ! "$clang" --version | grep -q 'clang version 14\.'; then
	echo "build.sh: need clang 14 (Debian bookworm's clang), found: $("$clang" --version | head -1)" >&2
	exit 1
fi

# Multiarch include dir for <asm/types.h> pulled in by <linux/types.h>: the same headers serve both targets
# (the BPF programs only use fixed-width UAPI types).
asm_inc=/usr/include/$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)
[ -d "$asm_inc" ] || asm_inc=/usr/include/x86_64-linux-gnu

out="$here/obj"
if [ "$mode" = check ]; then
	out="$(mktemp -d)"
	trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"

name() { local n="${1%.c}"; echo "${n%.bpf}"; }

for src in "$@"; do
	for arch in x86 arm64; do
		o="$out/$(name "$src")-$arch.o"
		"$clang" -O2 -g -target bpf -mcpu=v2 -fno-addrsig -fdebug-compilation-dir=. \
			-ffile-prefix-map="$here"=. \
			-D__TARGET_ARCH_"$arch" -I. -I"$asm_inc" -Wall -Werror \
			-c "$src" -o "$o"
		# DWARF is only needed to produce BTF (which stays: the loaders and tests read it); drop it to keep the
		# committed objects small.
		"$strip" -g "$o"
	done
done

if [ "$mode" = check ]; then
	rc=0
	for src in "$@"; do
		for arch in x86 arm64; do
			o="$(name "$src")-$arch.o"
			if ! cmp -s "$out/$o" "$here/obj/$o"; then
				echo "build.sh --check: $rel/obj/$o differs from a fresh build of $src (run $rel/build.sh and commit)" >&2
				rc=1
			fi
		done
	done
	[ $rc = 0 ] && echo "build.sh --check: $rel: objects are up to date"
	exit $rc
fi
for src in "$@"; do ls -l "$out/$(name "$src")"-*.o; done
