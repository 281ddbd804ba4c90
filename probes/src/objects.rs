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

/// Drops the object's pages from this process's memory once a loader has its own copy: they are clean pages of
/// the executable file (the kernel reads them in again if the object is used again), but mapped they count in
/// pwru's resident memory for the whole trace.
pub fn release() {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
    let start = (OBJECT.as_ptr() as usize).next_multiple_of(page);
    let end = (OBJECT.as_ptr() as usize + OBJECT.len()) / page * page;
    if end > start {
        // SAFETY: whole pages inside OBJECT, a read-only static of the executable that no relocation touches:
        // after MADV_DONTNEED a read faults the same bytes in from the file.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
}
