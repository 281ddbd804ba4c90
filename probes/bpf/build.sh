#!/usr/bin/env bash
# Compiles pwru.bpf.c (which includes the other files here: one object, shared maps) for x86_64 and arm64 into
# the committed objects obj/pwru-{x86,arm64}.o.
#   build.sh           rebuild the committed objects
#   build.sh --check   rebuild into a temporary directory and fail if any object differs from the committed one
# Needs Debian's clang 14 and libbpf-dev (bpf/bpf_helpers.h). The output does not depend on the checkout path:
# -ffile-prefix-map rewrites the source directory in the BTF/DWARF strings.
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

for arch in x86 arm64; do
	"$clang" -O2 -g -target bpf -mcpu=v2 -fno-addrsig -fdebug-compilation-dir=. \
		-ffile-prefix-map="$here"=. \
		-D__TARGET_ARCH_"$arch" -I. -I"$asm_inc" -Wall -Werror \
		-c pwru.bpf.c -o "$out/pwru-$arch.o"
	# DWARF is only needed to produce BTF; drop it to keep the committed objects small.
	"$strip" -g "$out/pwru-$arch.o"
done

if [ "$mode" = check ]; then
	rc=0
	for arch in x86 arm64; do
		if ! cmp -s "$out/pwru-$arch.o" "$here/obj/pwru-$arch.o"; then
			echo "build.sh --check: probes/bpf/obj/pwru-$arch.o differs from a fresh build of pwru.bpf.c (run probes/bpf/build.sh and commit)" >&2
			rc=1
		fi
	done
	[ $rc = 0 ] && echo "build.sh --check: objects are up to date"
	exit $rc
fi
ls -l "$out"/pwru-*.o
