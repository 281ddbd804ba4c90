//! The three ways of attaching the programs.
pub(crate) mod kprobe;
pub(crate) mod kprobe_multi;
pub(crate) mod tracepoint;

/// The attach-progress callback: (done, total, ignored so far).
pub(crate) type Progress<'a> = &'a (dyn Fn(usize, usize, usize) + Sync);
