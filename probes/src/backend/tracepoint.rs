//! Tracepoint backend: the skb tracepoints (net:*, skb:*, ...) through tp_btf, falling back to raw_tp.
//!
//! With raw_tp BPF cookies (kernel 6.10+) one raw_tp program serves every tracepoint: the cookie says where the
//! skb is and which tracepoint fired ([`attach_cookie`]). Without them: a tp_btf program is bound to its tracepoint
//! when it is loaded (attach_btf_id), so each tracepoint gets its own load of the same linked instructions, with the tracepoint's index patched into the marker instruction; the
//! event's `probe_id` then says which tracepoint fired. raw_tp programs get the same per-tracepoint patching.
//!
//! `--filter-track-skb` limitation: tracepoints do not see `skb_clone`/`skb_copy`, so clones of a tracked skb are
//! not followed; tracked skbs are forgotten at `skb:kfree_skb` and `skb:consume_skb`.
use super::{Cancel, Progress};
use crate::btf_subset::TYPEDEF;
use crate::config::TracepointTarget;
use crate::contract::{TP_ID_MARKER, TP_ID_UNTRACK};
use crate::error::{ConfigError, ObjectError, ProbeError};
use crate::kernel_btf::KernelTypes;
use crate::linked::{self, Linked};
use crate::tracer::Ignored;
use crate::variant::{Variant, tracepoint_variant as variant};
use crate::{parallel, patch};
use aya_obj::generated::{bpf_attach_type, bpf_insn, bpf_prog_type};
use bpf_sys::link::{raw_tracepoint_open, raw_tracepoint_open_cookie};
use bpf_sys::prog::ProgLoad;
use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Test hook: skip tp_btf and use the raw_tp fallback (see [`crate::testing`]).
pub(crate) static FORCE_RAW_TP: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// The bare tracepoint name (`net:netif_receive_skb` -> `netif_receive_skb`).
pub(crate) fn bare(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

/// How the tracepoints ended up attached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TracepointStats {
    /// Attached as tp_btf programs.
    pub tp_btf: usize,
    /// Attached as raw_tp programs (no BTF for the tracepoint, or tp_btf refused).
    pub raw_tp: usize,
}

enum Outcome {
    /// The link and the program loaded for it.
    Btf(OwnedFd, OwnedFd),
    Raw(OwnedFd, Option<OwnedFd>),
    Ignored(Ignored),
}

/// What [`attach`] and [`attach_cookie`] made.
pub(crate) struct Attached {
    pub links: Vec<OwnedFd>,
    /// Programs loaded per tracepoint (none with [`attach_cookie`]).
    pub progs: Vec<OwnedFd>,
    pub ignored: Vec<Ignored>,
    pub stats: TracepointStats,
}

fn untracks(name: &str) -> bool {
    matches!(name, "kfree_skb" | "consume_skb")
}

/// Attaches `prog` (`raw_tp_cookie`) to every tracepoint, each with its BPF cookie (kernel 6.10+).
pub(crate) fn attach_cookie(
    prog: BorrowedFd<'_>,
    targets: &[TracepointTarget],
    progress: Progress<'_>,
    cancel: Cancel<'_>,
) -> Result<Attached, ProbeError> {
    attach_each(targets, progress, cancel, |i, t, name| {
        let cookie = variant(t)?.tracepoint_cookie(i as u32, untracks(name));
        Ok(
            match raw_tracepoint_open_cookie(Some(&c_name(name)?), prog, cookie) {
                Ok(link) => Outcome::Raw(link, None),
                Err(e) if e.errno().is_some_and(bpf_sys::Errno::is_permission) => {
                    return Err(ProbeError::sys(
                        format!("attaching to tracepoint {name}"),
                        e,
                    ));
                }
                Err(e) => Outcome::Ignored(Ignored {
                    name: t.name.clone(),
                    reason: format!("raw_tp attach: {}", super::reason(&e)),
                }),
            },
        )
    })
}

/// Runs `attach_one(index, target, bare name)` for every target on a few threads, reporting progress after each,
/// and collects what they made.
fn attach_each(
    targets: &[TracepointTarget],
    progress: Progress<'_>,
    cancel: Cancel<'_>,
    attach_one: impl Fn(usize, &TracepointTarget, &str) -> Result<Outcome, ProbeError> + Sync,
) -> Result<Attached, ProbeError> {
    let done = AtomicUsize::new(0);
    let ignored_n = AtomicUsize::new(0);
    let total = targets.len();
    let outcomes = parallel::try_map(
        targets,
        parallel::threads_for(total, None),
        cancel,
        |i, t| {
            let outcome = attach_one(i, t, bare(&t.name))?;
            if matches!(outcome, Outcome::Ignored(_)) {
                ignored_n.fetch_add(1, Ordering::Relaxed);
            }
            let d = done.fetch_add(1, Ordering::Relaxed) + 1;
            progress(d, total, ignored_n.load(Ordering::Relaxed));
            Ok::<_, ProbeError>(outcome)
        },
    )?;
    Ok(collect(outcomes))
}

fn c_name(name: &str) -> Result<CString, ConfigError> {
    CString::new(name).map_err(|_| ConfigError::BadName {
        kind: "tracepoint",
        name: name.to_string(),
    })
}

fn collect(outcomes: Vec<Outcome>) -> Attached {
    let mut a = Attached {
        links: Vec::new(),
        progs: Vec::new(),
        ignored: Vec::new(),
        stats: TracepointStats::default(),
    };
    for o in outcomes {
        match o {
            Outcome::Btf(l, p) => {
                a.stats.tp_btf += 1;
                a.links.push(l);
                a.progs.push(p);
            }
            Outcome::Raw(l, p) => {
                a.stats.raw_tp += 1;
                a.links.push(l);
                a.progs.extend(p);
            }
            Outcome::Ignored(i) => a.ignored.push(i),
        }
    }
    a
}

pub(crate) fn attach(
    linked: &Linked,
    btf: &KernelTypes,
    targets: &[TracepointTarget],
    progress: Progress<'_>,
    cancel: Cancel<'_>,
) -> Result<Attached, ProbeError> {
    let mut code: HashMap<Variant, (Vec<bpf_insn>, Vec<bpf_insn>)> = HashMap::new();
    for t in targets {
        let v = variant(t)?;
        if let std::collections::hash_map::Entry::Vacant(slot) = code.entry(v) {
            let b = linked.insns(&format!("tp_btf_{}", v.suffix()))?;
            let r = linked.insns(&format!("raw_tp_{}", v.suffix()))?;
            slot.insert((b, r));
        }
    }
    attach_each(targets, progress, cancel, |i, t, name| {
        let v = variant(t)?;
        let (btf_code, raw_code) = &code[&v];
        let mut id = i as u32;
        if untracks(name) {
            id |= TP_ID_UNTRACK;
        }
        let patched = |c: &[bpf_insn]| -> Result<Vec<bpf_insn>, ProbeError> {
            let mut c = c.to_vec();
            if patch::patch_mov_imm(&mut c, TP_ID_MARKER, id as i32) == 0 {
                return Err(ObjectError::NoMarker(v.suffix()).into());
            }
            Ok(c)
        };
        let short = format!("pwru_{}", name);
        let mut why = Vec::new();
        let mut outcome = None;
        let btf_id = if FORCE_RAW_TP.load(Ordering::Relaxed) {
            Err("tp_btf: skipped (raw_tp forced)".to_string())
        } else {
            btf.id(TYPEDEF, &format!("btf_trace_{name}"))
                .ok_or_else(|| "tp_btf: no btf_trace_ typedef in vmlinux BTF".to_string())
        };
        match btf_id {
            Ok(btf_id) => {
                let insns = patched(btf_code)?;
                let mut spec = ProgLoad::new(bpf_prog_type::BPF_PROG_TYPE_TRACING, &short, &insns);
                spec.expected_attach_type = Some(bpf_attach_type::BPF_TRACE_RAW_TP);
                spec.attach_btf_id = btf_id;
                match linked::load(&spec) {
                    Ok(prog) => match raw_tracepoint_open(None, prog.as_fd()) {
                        Ok(link) => outcome = Some(Outcome::Btf(link, prog)),
                        Err(e) => why.push(format!("tp_btf attach: {}", super::reason(&e))),
                    },
                    Err(e @ ProbeError::Permission { .. }) => return Err(e),
                    Err(e) => why.push(format!("tp_btf: {e}")),
                }
            }
            Err(reason) => why.push(reason),
        }
        if outcome.is_none() {
            let insns = patched(raw_code)?;
            let spec = ProgLoad::new(bpf_prog_type::BPF_PROG_TYPE_RAW_TRACEPOINT, &short, &insns);
            let cname = c_name(name)?;
            match linked::load(&spec) {
                Ok(prog) => match raw_tracepoint_open(Some(&cname), prog.as_fd()) {
                    Ok(link) => outcome = Some(Outcome::Raw(link, Some(prog))),
                    Err(e) => why.push(format!("raw_tp attach: {}", super::reason(&e))),
                },
                Err(e @ ProbeError::Permission { .. }) => return Err(e),
                Err(e) => why.push(format!("raw_tp: {e}")),
            }
        }
        Ok(outcome.unwrap_or_else(|| {
            Outcome::Ignored(Ignored {
                name: t.name.clone(),
                reason: why.join("; "),
            })
        }))
    })
}
