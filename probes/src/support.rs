//! Which backends the running kernel supports, each with a reason when not. Every answer comes from trying the
//! real thing (a tiny program and a link), not from guessing at kernel versions.
use crate::config::Backend;
use crate::error::ProbeError;
use crate::raw::{self, KprobePmu, ProgSpec};
use aya_obj::generated::bpf_insn;
use std::ffi::CString;
use std::io;

/// `Ok(())` or the reason a backend cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Support {
    pub kprobe: Result<(), String>,
    pub kprobe_multi: Result<(), String>,
    pub tracepoint: Result<(), String>,
}

impl Support {
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

fn perm_hint(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => {
            "permission denied: run as root or grant CAP_BPF+CAP_PERFMON".to_string()
        }
        _ => e.to_string(),
    }
}

fn check_tracepoint() -> Result<(), String> {
    let spec = ProgSpec {
        prog_type: raw::BPF_PROG_TYPE_RAW_TRACEPOINT,
        name: "pwru_probe".into(),
        ..Default::default()
    };
    let prog = raw::prog_load(&spec, &trivial()).map_err(|e| {
        format!(
            "cannot load a raw tracepoint program: {}",
            perm_hint(&e.errno)
        )
    })?;
    let name = CString::new("netif_receive_skb").expect("no NUL");
    use std::os::fd::AsRawFd;
    raw::raw_tracepoint_open(Some(&name), prog.as_raw_fd())
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
    let spec = ProgSpec {
        prog_type: raw::BPF_PROG_TYPE_KPROBE,
        expected_attach_type: raw::BPF_TRACE_KPROBE_MULTI,
        name: "pwru_probe".into(),
        ..Default::default()
    };
    let prog = raw::prog_load(&spec, &trivial()).map_err(|e| match e.errno.raw_os_error() {
        Some(libc::EINVAL) => "kprobe-multi unavailable (kernel older than 5.18)".to_string(),
        _ => format!("kprobe-multi unavailable: {}", perm_hint(&e.errno)),
    })?;
    use std::os::fd::AsRawFd;
    let mut last = String::new();
    // Any always-present, traceable function will do; the first that resolves decides.
    for f in ["vprintk", "netif_receive_skb", "kfree_skbmem"] {
        let sym = CString::new(f).expect("no NUL");
        match raw::link_kprobe_multi(prog.as_raw_fd(), &[sym]) {
            Ok(_) => return Ok(()),
            Err(e) => match e.raw_os_error() {
                Some(libc::EOPNOTSUPP) => {
                    return Err("kprobe-multi unavailable (needs CONFIG_FPROBE)".into());
                }
                Some(libc::ESRCH) | Some(libc::ENOENT) => last = format!("{f}: {e}"),
                _ => return Err(format!("kprobe-multi unavailable: {}", perm_hint(&e))),
            },
        }
    }
    Err(format!(
        "kprobe-multi unavailable: no test function could be attached ({last})"
    ))
}

/// Probes the running kernel for each backend.
pub fn support() -> Support {
    Support {
        kprobe: check_kprobe(),
        kprobe_multi: check_kprobe_multi(),
        tracepoint: check_tracepoint(),
    }
}
