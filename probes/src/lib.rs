//! pwru's BPF programs and their loader: backends, attach/detach, events.
//!
//! ```text
//! let mut t = Tracer::load(Config { backend, kprobes, tracepoints, .. })?;  // maps + verified programs
//! let stats = t.attach(|done, total, ignored| ..)?;                         // links, in parallel
//! let mut ring = t.take_ring().unwrap();                                    // Records
//! while ring.poll(timeout)? { while let Some(ev) = ring.next_event() { ev.packet(); .. } }
//! t.lost(); t.produced(); t.stack(ev.stack_id);
//! t.detach();                                                               // fast, parallel
//! ```
#![deny(missing_docs)]
mod backend;
mod btf_ext;
mod btf_subset;
pub mod config;
pub mod contract;
pub mod error;
pub mod event;
pub mod filter_check;
pub mod filters;
pub mod kernel_btf;
#[doc(hidden)]
pub mod limit;
mod linked;
mod maps;
pub mod objects;
mod parallel;
mod patch;
pub mod progs;
pub mod ringbuf;
pub mod splice;
pub mod support;
pub mod tracer;
mod variant;

/// Hooks for tests that must reach code paths the host kernel would not take on its own.
#[doc(hidden)]
pub mod testing {
    /// Makes the tracepoint backend use raw_tp instead of tp_btf (for all tracers in this process).
    pub fn force_raw_tracepoints(on: bool) {
        crate::backend::tracepoint::FORCE_RAW_TP.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Makes tracers load one program per variant (kprobes) or per tracepoint, as on kernels without BPF
    /// cookies (for all tracers in this process).
    pub fn without_cookies(on: bool) {
        crate::support::NO_COOKIES.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Makes `--filter-trace-tc/-xdp` hold each program (the two references its fentry/fexit links would take)
    /// instead of tracing it, and skip the tail-call test, so that the inventory and the watcher (programs picked up
    /// and let go) can be tested on a kernel that refuses fentry on BPF programs (for all tracers in this process).
    pub fn hold_programs(on: bool) {
        crate::progs::HOLD_ONLY.store(on, std::sync::atomic::Ordering::Relaxed);
    }
}

pub use config::{
    ArgIndex, Backend, Config, Dumps, FetchCode, FilterCode, KernelSummary, KprobePlacement,
    MapFuncTarget, MapOpKind, ProgTracing, StackConfig, StackFunc, Target, TracepointTarget,
    TunnelConfig,
};
pub use error::{ConfigError, ObjectError, ProbeError};
pub use event::{Packet, PacketStart, RawEvent, Record};
pub use kernel_btf::KernelBtf;
pub use ringbuf::RingReader;
pub use support::{Support, snprintf_btf, support};
pub use tracer::{AttachStats, DetachStats, Ignored, Loading, TracepointStats, Tracer};
