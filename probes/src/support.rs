//! Which backends the running kernel supports, each with a reason when not. Every answer comes from trying the
//! real thing (a tiny program and a link), not from guessing at kernel versions.
use crate::config::Backend;
use crate::error::ProbeError;
use aya_obj::generated::{bpf_attach_type, bpf_insn, bpf_prog_type};
use bpf_sys::Errno;
use bpf_sys::link::{link_kprobe_multi, raw_tracepoint_open};
use bpf_sys::perf::KprobePmu;
use bpf_sys::prog::{ProgLoad, insn, prog_load};
use std::ffi::CString;
use std::os::fd::AsFd;

/// For each backend, `Ok(())` or the reason it cannot be used (one line for the user).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Support {
    /// [`Backend::Kprobe`].
    pub kprobe: Result<(), String>,
    /// [`Backend::KprobeMulti`].
    pub kprobe_multi: Result<(), String>,
    /// [`Backend::Tracepoint`].
    pub tracepoint: Result<(), String>,
}

impl Support {
    /// The answer for `backend`.
    pub fn get(&self, backend: Backend) -> &Result<(), String> {
        match backend {
            Backend::Kprobe => &self.kprobe,
            Backend::KprobeMulti => &self.kprobe_multi,
            Backend::Tracepoint => &self.tracepoint,
        }
    }

    /// `Ok` if `backend` works here, else [`ProbeError::Unsupported`] with the reason.
    pub fn check(&self, backend: Backend) -> Result<(), ProbeError> {
        self.get(backend)
            .clone()
            .map_err(|reason| ProbeError::Unsupported {
                backend: backend.name(),
                reason,
            })
    }

    /// The backend pwru should use when the user did not choose: kprobe-multi, else kprobe, else tracepoints.
    pub fn best(&self) -> Option<Backend> {
        [Backend::KprobeMulti, Backend::Kprobe, Backend::Tracepoint]
            .into_iter()
            .find(|b| self.get(*b).is_ok())
    }
}

/// `r0 = 0; exit`
fn trivial() -> [bpf_insn; 2] {
    // SAFETY: bpf_insn is plain old data; zero is a valid value.
    let mut p: [bpf_insn; 2] = unsafe { std::mem::zeroed() };
    p[0].code = 0xb7;
    p[1].code = 0x95;
    p
}

fn perm_hint(e: &bpf_sys::Error) -> String {
    match e.errno() {
        Some(errno) if errno.is_permission() => {
            "permission denied: run as root or grant CAP_BPF+CAP_PERFMON".to_string()
        }
        Some(errno) => errno.to_string(),
        None => e.to_string(),
    }
}

fn check_tracepoint() -> Result<(), String> {
    let insns = trivial();
    let spec = ProgLoad::new(
        bpf_prog_type::BPF_PROG_TYPE_RAW_TRACEPOINT,
        "pwru_probe",
        &insns,
    );
    let prog = prog_load(&spec)
        .map_err(|e| format!("cannot load a raw tracepoint program: {}", perm_hint(&e)))?;
    raw_tracepoint_open(Some(c"netif_receive_skb"), prog.as_fd())
        .map(drop)
        .map_err(|e| {
            format!(
                "cannot attach to tracepoint netif_receive_skb: {}",
                perm_hint(&e)
            )
        })
}

fn check_kprobe() -> Result<(), String> {
    KprobePmu::open().map(drop).map_err(|_| {
        "kprobes unavailable (CONFIG_KPROBES not set: no /sys/bus/event_source/devices/kprobe)"
            .to_string()
    })
}

fn check_kprobe_multi() -> Result<(), String> {
    let insns = trivial();
    let mut spec = ProgLoad::new(bpf_prog_type::BPF_PROG_TYPE_KPROBE, "pwru_probe", &insns);
    spec.expected_attach_type = Some(bpf_attach_type::BPF_TRACE_KPROBE_MULTI);
    let prog = prog_load(&spec).map_err(|e| match e.errno().map(Errno::raw) {
        Some(libc::EINVAL) => "kprobe-multi unavailable (kernel older than 5.18)".to_string(),
        _ => format!("kprobe-multi unavailable: {}", perm_hint(&e)),
    })?;
    let mut last = String::new();
    // Any always-present, traceable function will do; the first that resolves decides.
    for f in ["vprintk", "netif_receive_skb", "kfree_skbmem"] {
        let sym = CString::new(f).expect("no NUL");
        match link_kprobe_multi(prog.as_fd(), &[sym], None, false) {
            Ok(_) => return Ok(()),
            Err(e) => match e.errno().map(Errno::raw) {
                Some(libc::EOPNOTSUPP) => {
                    return Err("kprobe-multi unavailable (needs CONFIG_FPROBE)".into());
                }
                Some(libc::ESRCH) | Some(libc::ENOENT) => last = format!("{f}: {}", perm_hint(&e)),
                _ => return Err(format!("kprobe-multi unavailable: {}", perm_hint(&e))),
            },
        }
    }
    Err(format!(
        "kprobe-multi unavailable: no test function could be attached ({last})"
    ))
}

/// Test hook: behave as a kernel without BPF cookies (see [`crate::testing`]).
pub(crate) static NO_COOKIES: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Whether programs of `prog_type` (with `attach`) can read a BPF cookie on this kernel (kprobes and kprobe-multi:
/// 5.15+; raw tracepoints: 6.10+): a program calling `bpf_get_attach_cookie()` loads only where it can.
pub(crate) fn has_cookies(prog_type: bpf_prog_type, attach: Option<bpf_attach_type>) -> bool {
    if NO_COOKIES.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    const BPF_FUNC_GET_ATTACH_COOKIE: i32 = 174;
    let mut insns = [trivial()[0]; 3];
    insns[0].code = 0x85; // call
    insns[0].imm = BPF_FUNC_GET_ATTACH_COOKIE;
    insns[1] = trivial()[0];
    insns[2] = trivial()[1];
    let mut spec = ProgLoad::new(prog_type, "pwru_cookie", &insns);
    spec.expected_attach_type = attach;
    prog_load(&spec).is_ok()
}

/// Whether the probes can print structs with `bpf_snprintf_btf` (helper 149, Linux 5.9+, needs the kernel's BTF):
/// a raw tracepoint program calling it must pass the verifier. `Err` says why not, in one line.
pub fn snprintf_btf() -> Result<(), String> {
    const ST_DW: u8 = 0x7a; // *(u64 *)(dst + off) = imm
    const MOV_REG: u8 = 0xbf;
    const ADD_IMM: u8 = 0x07;
    const MOV_IMM: u8 = 0xb7;
    let insns = [
        insn(ST_DW, 10, 0, -8, 0),  // a text buffer of 8 bytes
        insn(ST_DW, 10, 0, -24, 0), // struct btf_ptr { ptr, type_id, flags } = 0
        insn(ST_DW, 10, 0, -16, 0),
        insn(MOV_REG, 1, 10, 0, 0),
        insn(ADD_IMM, 1, 0, 0, -8),
        insn(MOV_IMM, 2, 0, 0, 8),
        insn(MOV_REG, 3, 10, 0, 0),
        insn(ADD_IMM, 3, 0, 0, -24),
        insn(MOV_IMM, 4, 0, 0, 16),
        insn(MOV_IMM, 5, 0, 0, 0),
        insn(0x85, 0, 0, 0, 149), // call bpf_snprintf_btf
        insn(MOV_IMM, 0, 0, 0, 0),
        insn(0x95, 0, 0, 0, 0),
    ];
    let spec = ProgLoad::new(
        bpf_prog_type::BPF_PROG_TYPE_RAW_TRACEPOINT,
        "pwru_probe",
        &insns,
    );
    match prog_load(&spec) {
        Ok(_) => Ok(()),
        Err(bpf_sys::Error::ProgLoad { log, .. }) if log.contains("invalid func") => {
            Err("the kernel has no bpf_snprintf_btf helper (it needs Linux 5.9 or later)".into())
        }
        Err(e) => Err(format!(
            "cannot load a program calling bpf_snprintf_btf: {}",
            perm_hint(&e)
        )),
    }
}

/// Probes the running kernel for each backend.
pub fn support() -> Support {
    Support {
        kprobe: check_kprobe(),
        kprobe_multi: check_kprobe_multi(),
        tracepoint: check_tracepoint(),
    }
}
