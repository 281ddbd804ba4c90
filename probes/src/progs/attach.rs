//! One traced program: an fexit and an fentry program loaded against it (`attach_prog_fd` + the BTF id of its
//! main function) with its id patched into the marker instruction, each attached by a link.
use super::inventory::Described;
use super::{Prog, Skipped};
use crate::contract::PROG_ID_MARKER;
use crate::error::{ObjectError, ProbeError};
use crate::{linked, patch};
use aya_obj::generated::{bpf_attach_type, bpf_insn, bpf_prog_type};
use bpf_sys::link::raw_tracepoint_open;
use bpf_sys::prog::{AttachObj, ProgLoad};
use std::os::fd::{AsFd, OwnedFd};

/// The fentry and fexit instructions for one kind of program, linked and ready to patch.
pub(crate) struct Pair {
    pub fentry: Vec<bpf_insn>,
    pub fexit: Vec<bpf_insn>,
}

/// A program being traced. Dropping it closes the fentry link first (fields drop in declaration order): a run then
/// never pushes a frame that no fexit pops.
pub(crate) struct Traced {
    fentry: OwnedFd,
    fexit: OwnedFd,
    pub prog: Prog,
}

impl Traced {
    /// Links we hold (each holds a reference on the program).
    pub(crate) const REFS: i64 = 2;

    /// Kernel ids of our links and their programs.
    pub(crate) fn ids(&self) -> Vec<(u32, u32)> {
        [&self.fentry, &self.fexit]
            .iter()
            .filter_map(|l| bpf_sys::obj::link_info(l.as_fd()).ok())
            .map(|i| (i.id, i.prog_id))
            .collect()
    }
}

/// What became of a program.
pub(crate) enum Outcome {
    Traced(Traced),
    Skipped(Skipped),
}

/// Loads and attaches fexit, then fentry, on `d`. A kernel that refuses tracing programs on BPF programs
/// altogether (EPERM/EACCES without a verifier log) is an error: every other program would fail the same way.
pub(crate) fn trace(code: &Pair, d: Described) -> Result<Outcome, ProbeError> {
    let skip = |reason: String| {
        Ok(Outcome::Skipped(Skipped {
            prog: d.prog.clone(),
            reason,
        }))
    };
    let Some(func) = d.func else {
        return skip("no BTF".into());
    };
    if !d.jited {
        return skip("not JIT-compiled".into());
    }
    // fexit first: a run between the two attaches then pops a frame it never pushed, which is harmless.
    let fexit = match link(&code.fexit, bpf_attach_type::BPF_TRACE_FEXIT, &d, func)? {
        Ok(l) => l,
        Err(why) => return skip(why),
    };
    let fentry = match link(&code.fentry, bpf_attach_type::BPF_TRACE_FENTRY, &d, func)? {
        Ok(l) => l,
        Err(why) => return skip(why),
    };
    Ok(Outcome::Traced(Traced {
        fentry,
        fexit,
        prog: d.prog,
    }))
}

/// Test mode ([`crate::testing::hold_programs`]): takes the two references our links would hold on the program,
/// without fentry/fexit, so that the watcher can be tested on kernels that refuse those.
pub(crate) fn hold(d: Described) -> Outcome {
    match bpf_sys::obj::fd_by_id(bpf_sys::obj::Kind::Prog, d.prog.id) {
        Ok(again) => Outcome::Traced(Traced {
            fentry: d.fd,
            fexit: again,
            prog: d.prog,
        }),
        Err(e) => Outcome::Skipped(Skipped {
            prog: d.prog,
            reason: crate::backend::reason(&e),
        }),
    }
}

fn link(
    insns: &[bpf_insn],
    at: bpf_attach_type,
    d: &Described,
    func: u32,
) -> Result<Result<OwnedFd, String>, ProbeError> {
    let mut insns = insns.to_vec();
    if patch::patch_mov_imm(&mut insns, PROG_ID_MARKER, d.prog.id as i32) == 0 {
        return Err(ObjectError::NoMarker("fentry/fexit".into()).into());
    }
    let name = if at == bpf_attach_type::BPF_TRACE_FENTRY {
        "pwru_fentry"
    } else {
        "pwru_fexit"
    };
    let mut spec = ProgLoad::new(bpf_prog_type::BPF_PROG_TYPE_TRACING, name, &insns);
    spec.expected_attach_type = Some(at);
    spec.attach_btf_id = func;
    spec.attach_obj = AttachObj::Prog(d.fd.as_fd());
    let prog = match linked::load(&spec) {
        Ok(p) => p,
        Err(e @ ProbeError::Permission { .. }) => return Err(e),
        Err(ProbeError::Verifier { errno, log, .. }) => {
            // The verifier ends its log with statistics; the reason is the line before them.
            let stats = ["processed ", "verification time", "stack depth"];
            let last = log
                .lines()
                .map(str::trim)
                .rfind(|l| !l.is_empty() && !stats.iter().any(|s| l.starts_with(s)))
                .unwrap_or("")
                .to_string();
            return Ok(Err(format!("{name} refused ({errno}): {last}")));
        }
        Err(e) => return Ok(Err(e.to_string())),
    };
    match raw_tracepoint_open(None, prog.as_fd()) {
        Ok(l) => Ok(Ok(l)),
        Err(e) if e.is_permission() => Err(ProbeError::sys("attaching fentry/fexit", e)),
        Err(e) => Ok(Err(format!(
            "{name} attach: {}",
            crate::backend::reason(&e)
        ))),
    }
}
