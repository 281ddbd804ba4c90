//! Tracing tc and XDP programs: an fexit and an fentry program on every loaded `sched_cls`/`sched_act` (cls_bpf,
//! tcx and netkit attachments alike) or XDP program that has BTF, named by its BTF function name; kprobes on the
//! kernel functions they call (`helpers`); programs loaded or released while tracing picked up and let go
//! (`watch`).
//!
//! Parts: `inventory` (a program by id: type, BTF name, JITed ranges), `attach` (one program's fentry and fexit),
//! `refs` (the `bpf_prog` iterator: which programs exist and who still holds them), `tailcall` (does fentry fire
//! on a tail-called program on this kernel? tested with two programs of our own), `helpers` (the calls in a
//! program's translated instructions), `watch` (the state and the polling thread).
//!
//! Our links hold a reference on each traced program, so a program its owner detached and closed does not go away
//! while we trace it: `refs` notices that only our references are left and we let it go. Programs that are not
//! ours are never modified: fentry/fexit only add a trampoline, and closing our links removes it.
mod attach;
mod helpers;
mod inventory;
mod refs;
mod tailcall;
mod watch;

pub(crate) use attach::Pair;
pub(crate) use watch::{Code, Watch};

use crate::tracer::Ignored;
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Test hook: hold programs instead of tracing them (see [`crate::testing::hold_programs`]).
pub(crate) static HOLD_ONLY: AtomicBool = AtomicBool::new(false);

/// Where a traced program runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hook {
    /// A tc program (`sched_cls` or `sched_act`).
    Tc,
    /// An XDP program.
    Xdp,
}

impl Hook {
    /// `tc` or `xdp`.
    pub fn name(self) -> &'static str {
        match self {
            Hook::Tc => "tc",
            Hook::Xdp => "xdp",
        }
    }

    /// The hook of a `bpf_prog_type`, if it is one we trace.
    pub(crate) fn of(prog_type: u32) -> Option<Hook> {
        use bpf_sys::uapi::bpf_prog_type::*;
        match prog_type {
            t if t == BPF_PROG_TYPE_SCHED_CLS as u32 || t == BPF_PROG_TYPE_SCHED_ACT as u32 => {
                Some(Hook::Tc)
            }
            t if t == BPF_PROG_TYPE_XDP as u32 => Some(Hook::Xdp),
            _ => None,
        }
    }
}

/// A tc or XDP program we saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prog {
    /// Program id.
    pub id: u32,
    /// tc or XDP.
    pub hook: Hook,
    /// Its name: the main function's name from its BTF, else the kernel's (15-character) object name.
    pub name: String,
    /// Start address and length of each of its JITed functions (empty when kernel addresses are hidden).
    pub jited: Vec<(u64, u32)>,
}

/// A program left untraced, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The program.
    pub prog: Prog,
    /// Why, in a few words (`no BTF`, the kernel's refusal).
    pub reason: String,
}

/// Whether fentry/fexit fire on a program that is entered by a tail call, as tested on the running kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TailCalls {
    /// They do: tail-called programs show up like the others.
    Seen,
    /// They do not (the JIT enters a tail-called program after its trampoline hook).
    NotSeen,
    /// The test could not run.
    Unknown(String),
}

/// The outcome of tracing the programs at start.
#[derive(Clone, Debug)]
pub struct ProgsReport {
    /// Programs traced.
    pub traced: usize,
    /// Programs left untraced.
    pub skipped: Vec<Skipped>,
    /// Set when the kernel refuses fentry programs on BPF programs altogether: nothing is traced.
    pub refused: Option<String>,
    /// Whether tail-called programs are seen.
    pub tail_calls: TailCalls,
    /// Traced programs that are tail-call targets (in a `prog_array`).
    pub tail_targets: usize,
    /// Kernel functions the traced programs call that got a kprobe.
    pub helpers: Vec<String>,
    /// Those the kernel refused a kprobe.
    pub helpers_ignored: Vec<Ignored>,
    /// Why the helpers cannot be probed at all (no kprobes), when they were asked for.
    pub helpers_unavailable: Option<String>,
    /// `Err(why)` when programs released while tracing cannot be noticed (no `bpf_prog` iterator).
    pub release: Result<(), String>,
    /// How long it took.
    pub elapsed: Duration,
}

/// Something that changed while tracing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProgEvent {
    /// A program loaded (or replaced) while tracing is now traced.
    Traced(Prog),
    /// A program its owner released: we let it go.
    Released(Prog),
    /// A new program left untraced.
    Skipped(Skipped),
    /// Kprobes added for functions the new programs call.
    Helpers {
        /// Functions now probed.
        added: Vec<String>,
        /// Functions the kernel refused.
        ignored: Vec<Ignored>,
    },
}

/// The programs by id, shared with whoever names events (it grows while tracing; released programs stay, so that
/// their last events still get a name).
#[derive(Clone, Debug, Default)]
pub struct ProgTable(Arc<RwLock<HashMap<u32, Prog>>>);

impl ProgTable {
    /// The program with this id (events' `probe_id` of tc/XDP kinds), if we saw it.
    pub fn get(&self, id: u32) -> Option<Prog> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    /// The program whose JITed code holds `addr` (the return address of a helper call), if we saw it.
    pub fn containing(&self, addr: u64) -> Option<Prog> {
        let t = self.0.read().unwrap_or_else(|p| p.into_inner());
        t.values()
            .find(|p| {
                p.jited
                    .iter()
                    .any(|&(start, len)| start != 0 && (start..start + len as u64).contains(&addr))
            })
            .cloned()
    }

    pub(crate) fn insert(&self, p: Prog) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(p.id, p);
    }
}
