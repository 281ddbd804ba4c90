#!/usr/bin/env bash
# Compiles progs.c and late.c (the tc/XDP programs the tests trace) into the committed objects
# obj/{progs,late}-{x86,arm64}.o, with the build of every BPF object in the tree (probes/bpf/build.sh).
#   build.sh           rebuild the committed objects
#   build.sh --check   rebuild into a temporary directory and fail if any object differs from the committed one
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
case "${1:-}" in
"" | --check) ;;
*) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
exec bash "$here/../../probes/bpf/build.sh" "$@" "$here" progs.c late.c
