//! The three ways of attaching the programs.
pub(crate) mod kprobe;
pub(crate) mod kprobe_multi;
pub(crate) mod placement;
pub(crate) mod tracepoint;

/// The attach-progress callback: (done, total, ignored so far).
pub(crate) type Progress<'a> = &'a (dyn Fn(usize, usize, usize) + Sync);

/// Set to stop attaching: no new target is started (see [`crate::Tracer::attach`]).
pub(crate) type Cancel<'a> = &'a std::sync::atomic::AtomicBool;

/// One line for a target the kernel refused: its errno alone, as that is all the kernel says about the name.
pub(crate) fn reason(e: &bpf_sys::Error) -> String {
    match e.errno() {
        Some(errno) => errno.to_string(),
        None => e.to_string(),
    }
}
