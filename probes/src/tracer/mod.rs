//! The tracer: loads the BPF object with the caller's configuration, attaches it with the chosen backend,
//! hands out the event stream and detaches without leaving anything behind (no pins; every program, link and
//! perf event is an fd this struct owns, closed on [`Tracer::detach`] or on drop).
//!
//! `load.rs` creates the maps and loads the programs (`ahead.rs`: while the caller still looks for its
//! targets), `attach.rs` attaches them with the backend, `reads.rs` reads back counters, stacks and ids,
//! `detach.rs` closes it all; `stats.rs` holds what they report.
mod ahead;
mod attach;
mod detach;
mod load;
mod reads;
mod stats;
use crate::config::Config;
use crate::kernel_btf::KernelTypes;
use crate::linked::Linked;
use crate::maps::Maps;
use crate::progs::{Code, Watch};
use crate::ringbuf::RingReader;
use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

pub use crate::backend::tracepoint::TracepointStats;
pub use ahead::Loading;
pub use stats::{AttachStats, DetachStats, Ignored, KernelIds};

/// Which targets get one program for all, told apart by BPF cookie.
#[derive(Clone, Copy, Debug, Default)]
struct Cookies {
    kprobe: bool,
    tracepoint: bool,
}

/// The raw_tp program for every tracepoint, with raw_tp cookies.
const TP_COOKIE_PROG: &str = "raw_tp_cookie";

fn kprobe_program(multi: bool, suffix: &str) -> String {
    if multi {
        format!("kprobe_multi_{suffix}")
    } else {
        format!("kprobe_{suffix}")
    }
}

/// The kprobe program on the kernel functions traced BPF programs call.
const HELPER_PROG: &str = "kprobe_bpf_helper";

/// The `--output-bpfmap` programs (bpf/bpfprog.c): lookup, update, delete, and the lookups' returns (of the value,
/// of a hash element).
const MAP_PROGS: [&str; 5] = [
    "kprobe_map_lookup",
    "kprobe_map_update",
    "kprobe_map_delete",
    "kretprobe_map_lookup",
    "kretprobe_map_lookup_elem",
];

/// The `--filter-non-skb-funcs` program (bpf/kprobe.c), a perf kprobe with either kprobe backend.
const NON_SKB_PROG: &str = "kprobe_non_skb";

/// Functions whose clones skb tracking follows (kprobe backends).
const CLONE_FUNCS: [&str; 2] = ["skb_clone", "skb_copy"];

/// Loaded probes: the maps, our programs and, after [`Tracer::attach`], the links that run them.
pub struct Tracer {
    /// Attached links and perf events: dropped first so nothing fires into half-freed state.
    links: Vec<OwnedFd>,
    /// Programs we loaded ourselves (kprobe and kprobe-multi variants, the cookie programs), by name.
    progs: BTreeMap<String, OwnedFd>,
    /// Programs loaded per tracepoint (without raw_tp cookies), kept to read their counters.
    tp_progs: Vec<OwnedFd>,
    /// [`Tracer::recursion_misses`] as read when the programs were closed.
    final_misses: u64,
    cookies: Cookies,
    /// Counting in the kernel ([`Config::summary`], where it can be done).
    summarizing: bool,
    ring: Ring,
    cfg: Config,
    /// The kernel's type ids (tp_btf attach, the prog iterator) and the relocated object are only needed until
    /// attach() is done; then they are dropped so a long trace does not carry them.
    btf: Option<KernelTypes>,
    linked: Option<Linked>,
    /// The maps (the ring buffer is handed to the reader).
    maps: Maps,
    /// [`Tracer::attach`] ran.
    attached: bool,
    /// Until attach(): the fentry/fexit code for tracing tc/XDP programs; then the programs' watcher.
    prog_code: Option<Code>,
    watch: Option<Watch>,
    load_time: Duration,
    load_phases: Vec<(&'static str, Duration)>,
}

/// The event ring buffer, until [`Tracer::take_ring`] hands it out.
enum Ring {
    /// Created, not mapped into this process yet.
    Unmapped(aya::maps::Map),
    Mapped(RingReader),
    Taken,
}

/// Times the phases of [`Tracer::load`], each from the end of the one before.
struct Phases {
    last: Instant,
    done: Vec<(&'static str, Duration)>,
}

impl Phases {
    fn new(start: Instant) -> Self {
        Phases {
            last: start,
            done: Vec::new(),
        }
    }

    fn mark(&mut self, phase: &'static str) {
        let now = Instant::now();
        self.done.push((phase, now - self.last));
        self.last = now;
    }

    fn done(self) -> Vec<(&'static str, Duration)> {
        self.done
    }
}

/// Gives freed memory (the kernel BTF, the relocated object) back to the system rather than keep it for the
/// whole trace.
fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free heap pages.
    unsafe {
        libc::malloc_trim(0);
    }
}

impl Tracer {
    /// How long [`Tracer::load`] took.
    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    /// Where [`Tracer::load`]'s time went, phase by phase (for the benchmarks: what to cut next).
    pub fn load_phases(&self) -> &[(&'static str, Duration)] {
        &self.load_phases
    }

    /// Takes the event stream (once; `None` afterwards).
    pub fn take_ring(&mut self) -> Option<RingReader> {
        match std::mem::replace(&mut self.ring, Ring::Taken) {
            Ring::Mapped(r) => Some(r),
            other => {
                self.ring = other;
                None
            }
        }
    }

    /// Maps the ring into this process: from here on its pages count in its memory (twice the ring's size: the
    /// kernel maps the data twice).
    fn map_ring(&mut self) -> Result<(), crate::error::ProbeError> {
        self.ring = match std::mem::replace(&mut self.ring, Ring::Taken) {
            Ring::Unmapped(map) => {
                let ring = aya::maps::RingBuf::try_from(map).map_err(|source| {
                    crate::error::ObjectError::Map {
                        name: "EVENTS",
                        source,
                    }
                })?;
                Ring::Mapped(RingReader::new(ring))
            }
            other => other,
        };
        Ok(())
    }

    /// The configuration this tracer was loaded with (`probe_id` of a tracepoint event indexes
    /// `config().tracepoints`).
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Links and perf events still attached (what [`Tracer::detach`] has to close).
    pub fn attached_links(&self) -> usize {
        self.links.len()
    }
}
