//! Links: `BPF_LINK_CREATE` and `BPF_RAW_TRACEPOINT_OPEN`. Closing a returned fd detaches the program.
use crate::error::Error;
use crate::sys::{attr, bpf_fd};
use crate::uapi::{BPF_F_KPROBE_MULTI_RETURN, bpf_attach_type, bpf_cmd};
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// `BPF_RAW_TRACEPOINT_OPEN`: attaches a raw_tp program to tracepoint `name`, or a tp_btf/fentry/fexit program
/// (`name` `None`) to the target it was loaded for.
pub fn raw_tracepoint_open(name: Option<&CStr>, prog: BorrowedFd<'_>) -> Result<OwnedFd, Error> {
    let mut a = attr();
    a.raw_tracepoint.name = name.map_or(0, |n| n.as_ptr() as u64);
    a.raw_tracepoint.prog_fd = prog.as_raw_fd() as u32;
    bpf_fd(bpf_cmd::BPF_RAW_TRACEPOINT_OPEN, &mut a)
}

/// [`raw_tracepoint_open`] with a BPF cookie (`bpf_get_attach_cookie()`), kernel 6.10+; older kernels refuse a
/// non-zero cookie with EINVAL (the field is past the end of the attribute they know).
pub fn raw_tracepoint_open_cookie(
    name: Option<&CStr>,
    prog: BorrowedFd<'_>,
    cookie: u64,
) -> Result<OwnedFd, Error> {
    let mut a = attr();
    a.raw_tracepoint.name = name.map_or(0, |n| n.as_ptr() as u64);
    a.raw_tracepoint.prog_fd = prog.as_raw_fd() as u32;
    a.raw_tracepoint.cookie = cookie;
    bpf_fd(bpf_cmd::BPF_RAW_TRACEPOINT_OPEN, &mut a)
}

/// `BPF_LINK_CREATE` of a perf-event link (kernel 5.15+): runs `prog` on perf event `perf` (a kprobe from
/// [`crate::perf::KprobePmu::open_probe`]) with a BPF cookie. The link holds the perf event: the caller may close
/// its own fd, and closing the link removes both.
pub fn link_perf_event(
    prog: BorrowedFd<'_>,
    perf: BorrowedFd<'_>,
    cookie: u64,
) -> Result<OwnedFd, Error> {
    let mut a = attr();
    // SAFETY: plain integer fields of the member BPF_LINK_CREATE reads.
    unsafe {
        let l = &mut a.link_create;
        l.__bindgen_anon_1.prog_fd = prog.as_raw_fd() as u32;
        l.__bindgen_anon_2.target_fd = perf.as_raw_fd() as u32;
        l.attach_type = bpf_attach_type::BPF_PERF_EVENT as u32;
        l.__bindgen_anon_3.perf_event.bpf_cookie = cookie;
    }
    bpf_fd(bpf_cmd::BPF_LINK_CREATE, &mut a)
}

/// `BPF_LINK_CREATE` without type-specific options: `target` is the target fd or ifindex (0 for tracing programs,
/// whose target was fixed at load time), `attach_type` the program's attach type (`BPF_TRACE_FENTRY`,
/// `BPF_TCX_INGRESS`, `BPF_XDP`, ...).
pub fn link_create(
    prog: BorrowedFd<'_>,
    target: u32,
    attach_type: bpf_attach_type,
    flags: u32,
) -> Result<OwnedFd, Error> {
    let mut a = attr();
    // SAFETY: plain integer fields of the member BPF_LINK_CREATE reads.
    unsafe {
        let l = &mut a.link_create;
        l.__bindgen_anon_1.prog_fd = prog.as_raw_fd() as u32;
        l.__bindgen_anon_2.target_fd = target;
        l.attach_type = attach_type as u32;
        l.flags = flags;
    }
    bpf_fd(bpf_cmd::BPF_LINK_CREATE, &mut a)
}

/// `BPF_LINK_CREATE` of a kprobe-multi link (kernel 5.18+, CONFIG_FPROBE) on the functions `syms`, as kretprobes
/// with `retprobe`. `cookies`, when given, must have one value per symbol (`bpf_get_attach_cookie()`). One name
/// the kernel cannot resolve fails the whole link (ESRCH or ENOENT).
pub fn link_kprobe_multi(
    prog: BorrowedFd<'_>,
    syms: &[CString],
    cookies: Option<&[u64]>,
    retprobe: bool,
) -> Result<OwnedFd, Error> {
    if let Some(c) = cookies
        && c.len() != syms.len()
    {
        return Err(Error::Size {
            what: "cookies",
            got: c.len(),
            want: syms.len(),
        });
    }
    let ptrs: Vec<u64> = syms.iter().map(|s| s.as_ptr() as u64).collect();
    let mut a = attr();
    // SAFETY: plain integer fields of the member BPF_LINK_CREATE reads; ptrs, syms and cookies outlive the call.
    unsafe {
        let l = &mut a.link_create;
        l.__bindgen_anon_1.prog_fd = prog.as_raw_fd() as u32;
        l.attach_type = bpf_attach_type::BPF_TRACE_KPROBE_MULTI as u32;
        let k = &mut l.__bindgen_anon_3.kprobe_multi;
        k.flags = if retprobe {
            BPF_F_KPROBE_MULTI_RETURN
        } else {
            0
        };
        k.cnt = ptrs.len() as u32;
        k.syms = ptrs.as_ptr() as u64;
        k.cookies = cookies.map_or(0, |c| c.as_ptr() as u64);
    }
    bpf_fd(bpf_cmd::BPF_LINK_CREATE, &mut a)
}

/// `BPF_ITER_CREATE`: a new seq file of an iterator link; reading it runs the iterator program once over its
/// objects, to the end of the file.
pub fn iter_create(link: BorrowedFd<'_>) -> Result<OwnedFd, Error> {
    let mut a = attr();
    a.iter_create.link_fd = link.as_raw_fd() as u32;
    bpf_fd(bpf_cmd::BPF_ITER_CREATE, &mut a)
}
