//! The compiled BPF object for the build's architecture (built by `bpf/build.sh`, committed).

#[cfg(target_arch = "x86_64")]
static OBJECT: &[u8] = include_bytes!("../bpf/obj/pwru-x86.o");
#[cfg(target_arch = "aarch64")]
static OBJECT: &[u8] = include_bytes!("../bpf/obj/pwru-arm64.o");
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("pwru's BPF programs are built for x86_64 and aarch64 only");

/// The ELF bytes of `pwru.bpf.c` compiled for this architecture.
pub fn object() -> &'static [u8] {
    OBJECT
}
