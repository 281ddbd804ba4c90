//! What attaching and detaching report.
#[cfg(doc)]
use super::Tracer;
use crate::backend::tracepoint::TracepointStats;
use crate::progs::ProgsReport;
use std::time::Duration;

/// A probe target the kernel refused, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ignored {
    /// The function or tracepoint.
    pub name: String,
    /// The kernel's answer, in one line.
    pub reason: String,
}

/// The outcome of [`Tracer::attach`].
#[derive(Clone, Debug, Default)]
pub struct AttachStats {
    /// Functions and tracepoints that are being traced.
    pub attached: usize,
    /// Targets the kernel refused (not fatal).
    pub ignored: Vec<Ignored>,
    /// How the tracepoints were attached.
    pub tracepoints: TracepointStats,
    /// How long attaching took.
    pub elapsed: Duration,
    /// [`Tracer::attach_until`] stopped before every target was tried.
    pub cancelled: bool,
    /// tc/XDP program tracing, when asked for.
    pub progs: Option<ProgsReport>,
}

/// What a tracer holds in the kernel, by id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelIds {
    /// Program ids (ours, and those behind our links).
    pub programs: Vec<u32>,
    /// BPF link ids (perf-event kprobes are not BPF links and have none).
    pub links: Vec<u32>,
}

/// The outcome of [`Tracer::detach`].
#[derive(Clone, Copy, Debug, Default)]
pub struct DetachStats {
    /// Links and perf events closed.
    pub closed: usize,
    /// How long detaching took.
    pub elapsed: Duration,
    /// Events produced, read after the links were closed (final).
    pub produced: u64,
    /// Events lost, read after the links were closed (final).
    pub lost: u64,
    /// [`Tracer::summed`], final.
    pub summed: u64,
    /// [`Tracer::recursion_misses`], final.
    pub recursion_misses: u64,
}
