#!/usr/bin/env bash
# Boots a kernel + initramfs under qemu TCG; the serial console goes to stdout.
# Usage: tests/vm/boot.sh ARCH VMLINUZ INITRD [TIMEOUT_S]
# KVM guests hang on the CI host, and multi-threaded TCG oopses some 6.12 kernels at boot (qemu 7.2),
# so tests use single-threaded TCG. Env: VM_MEM (default 2G), VM_SMP (default 2), VM_APPEND (extra cmdline),
# VM_TCG_THREAD (single|multi; the benchmark uses multi, as the cilium/pwru baseline was measured with it).
# no_timer_check: on a loaded host the emulated 8254 timer can look dead to the IO-APIC check (seen: "IO-APIC +
# timer doesn't work!" panic at boot under MTTCG); the check is pointless in a VM.
set -euo pipefail
ARCH=$1; KERNEL=$2; INITRD=$3; TIMEOUT=${4:-900}
common=(-smp "${VM_SMP:-2}" -m "${VM_MEM:-2G}" -accel "tcg,thread=${VM_TCG_THREAD:-single}" -nographic -no-reboot -kernel "$KERNEL"
        -initrd "$INITRD")
case $ARCH in
  amd64) exec timeout --foreground -k 10 "$TIMEOUT" qemu-system-x86_64 -machine q35 -cpu max "${common[@]}" \
           -append "console=ttyS0 panic=-1 quiet loglevel=4 no_timer_check ${VM_APPEND:-}" ;;
  arm64) exec timeout --foreground -k 10 "$TIMEOUT" qemu-system-aarch64 -machine virt -cpu max "${common[@]}" \
           -append "console=ttyAMA0 panic=-1 quiet loglevel=4 ${VM_APPEND:-}" ;;
  *) echo "boot.sh: unknown arch $ARCH" >&2; exit 2 ;;
esac
