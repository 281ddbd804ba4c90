//! Programs: `BPF_PROG_LOAD` with any attach type, `BPF_PROG_TEST_RUN`, `BPF_ENABLE_STATS`.
use crate::error::{Errno, Error};
use crate::sys::{attr, bpf, bpf_fd, owned, set_name};
use crate::uapi::{
    bpf_attach_type, bpf_cmd, bpf_func_info, bpf_insn, bpf_prog_type, bpf_stats_type,
};
use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// What a tracing or extension program is bound to at load time, besides [`ProgLoad::attach_btf_id`].
#[derive(Clone, Copy, Debug, Default)]
pub enum AttachObj<'a> {
    /// A vmlinux type (or nothing, for program types that attach later).
    #[default]
    Vmlinux,
    /// A type in this BTF object (a kernel module's BTF, by fd).
    Btf(BorrowedFd<'a>),
    /// A function of this BPF program (fentry/fexit/freplace on a BPF program).
    Prog(BorrowedFd<'a>),
}

/// One instruction: `code`, registers, offset and immediate (for programs written by hand).
pub fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> bpf_insn {
    // SAFETY: bpf_insn is plain integers (and a bitfield byte); zero is valid.
    let mut i: bpf_insn = unsafe { std::mem::zeroed() };
    i.code = code;
    i.set_dst_reg(dst);
    i.set_src_reg(src);
    i.off = off;
    i.imm = imm;
    i
}

/// A program's own BTF: the BTF object ([`btf_load`]) and the `func_info` records naming its functions (which
/// lets fentry/fexit programs attach to it).
#[derive(Clone, Copy, Debug)]
pub struct ProgBtf<'a> {
    /// The BTF object.
    pub fd: BorrowedFd<'a>,
    /// One record per function, the main one (instruction 0) first.
    pub func_info: &'a [bpf_func_info],
}

/// The arguments of `BPF_PROG_LOAD`.
#[derive(Clone, Copy, Debug)]
pub struct ProgLoad<'a> {
    /// The program type.
    pub prog_type: bpf_prog_type,
    /// `expected_attach_type` (kprobe-multi, tp_btf, fentry, ...); `None` sends 0.
    pub expected_attach_type: Option<bpf_attach_type>,
    /// The BTF type id the program attaches to (tp_btf typedef, fentry target function), 0 for none.
    pub attach_btf_id: u32,
    /// The object `attach_btf_id` belongs to.
    pub attach_obj: AttachObj<'a>,
    /// The kernel object name (truncated to 15 bytes).
    pub name: &'a str,
    /// The license string; GPL-only helpers need a GPL-compatible one.
    pub license: &'a CStr,
    /// The instructions, relocated and ready to run.
    pub insns: &'a [bpf_insn],
    /// The program's own BTF, if it has one.
    pub btf: Option<ProgBtf<'a>>,
}

impl<'a> ProgLoad<'a> {
    /// A GPL program of `prog_type` with no attach target.
    pub fn new(prog_type: bpf_prog_type, name: &'a str, insns: &'a [bpf_insn]) -> Self {
        ProgLoad {
            prog_type,
            expected_attach_type: None,
            attach_btf_id: 0,
            attach_obj: AttachObj::Vmlinux,
            name,
            license: c"GPL",
            insns,
            btf: None,
        }
    }
}

/// The verifier log buffer for a failed load's retry: large enough for the log of any program we load.
const LOG_SIZE: usize = 16 << 20;

/// `BPF_PROG_LOAD`. Loads without a log first (fast); when that fails, except with EPERM (no privileges: a log
/// would not help), loads again with a verbose log so that [`Error::ProgLoad`] can say why. A load that succeeds
/// on the retry is kept. EAGAIN (the verifier was interrupted) is retried.
pub fn prog_load(p: &ProgLoad<'_>) -> Result<OwnedFd, Error> {
    let mut a = attr();
    // SAFETY: writing plain integer fields of the union member BPF_PROG_LOAD reads.
    let first = unsafe {
        let l = &mut a.__bindgen_anon_3;
        l.prog_type = p.prog_type as u32;
        l.insn_cnt = p.insns.len() as u32;
        l.insns = p.insns.as_ptr() as u64;
        l.license = p.license.as_ptr() as u64;
        l.expected_attach_type = p.expected_attach_type.map_or(0, |t| t as u32);
        l.attach_btf_id = p.attach_btf_id;
        match p.attach_obj {
            AttachObj::Vmlinux => {}
            AttachObj::Btf(fd) => l.__bindgen_anon_1.attach_btf_obj_fd = fd.as_raw_fd() as u32,
            AttachObj::Prog(fd) => l.__bindgen_anon_1.attach_prog_fd = fd.as_raw_fd() as u32,
        }
        if let Some(b) = &p.btf {
            l.prog_btf_fd = b.fd.as_raw_fd() as u32;
            l.func_info = b.func_info.as_ptr() as u64;
            l.func_info_cnt = b.func_info.len() as u32;
            l.func_info_rec_size = std::mem::size_of::<bpf_func_info>() as u32;
        }
        set_name(&mut l.prog_name, p.name);
        loop {
            match bpf(bpf_cmd::BPF_PROG_LOAD, &mut a) {
                Ok(fd) => return Ok(owned(fd)),
                Err(Errno(libc::EAGAIN)) => continue,
                Err(e) => break e,
            }
        }
    };
    let fail = |errno, log: String| Error::ProgLoad {
        name: p.name.to_string(),
        errno,
        log,
    };
    if first.raw() == libc::EPERM {
        return Err(fail(first, String::new()));
    }
    let mut log = vec![0u8; LOG_SIZE];
    // SAFETY: as above; log outlives the call.
    unsafe {
        let l = &mut a.__bindgen_anon_3;
        l.log_level = 1;
        l.log_size = log.len() as u32;
        l.log_buf = log.as_mut_ptr() as u64;
    }
    match bpf(bpf_cmd::BPF_PROG_LOAD, &mut a) {
        Ok(fd) => Ok(owned(fd)),
        Err(errno) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            Err(fail(
                errno,
                String::from_utf8_lossy(&log[..end]).into_owned(),
            ))
        }
    }
}

/// The input of [`prog_test_run`].
#[derive(Debug, Default)]
pub struct TestRun<'a> {
    /// Packet data (an Ethernet frame for skb programs).
    pub data_in: &'a [u8],
    /// Where the kernel writes the packet after the run, if wanted.
    pub data_out: Option<&'a mut [u8]>,
    /// Context in (`struct __sk_buff` for skb programs), empty for none.
    pub ctx_in: &'a [u8],
    /// Run this many times (0 and 1 both mean once); the duration is the mean.
    pub repeat: u32,
    /// `BPF_F_TEST_*` flags.
    pub flags: u32,
}

/// The result of [`prog_test_run`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestRunOutput {
    /// The program's return value.
    pub retval: u32,
    /// Mean run time in ns, as the kernel measured it.
    pub duration_ns: u32,
    /// Bytes of packet the kernel wrote into `data_out` (or would have).
    pub data_size_out: u32,
}

/// `BPF_PROG_TEST_RUN` (`BPF_PROG_RUN`): runs a loaded program on the given input.
pub fn prog_test_run(prog: BorrowedFd<'_>, run: &mut TestRun<'_>) -> Result<TestRunOutput, Error> {
    let mut a = attr();
    // SAFETY: plain integer fields of the member BPF_PROG_TEST_RUN reads; the buffers outlive the call and their
    // lengths are the ones passed.
    unsafe {
        let t = &mut a.test;
        t.prog_fd = prog.as_raw_fd() as u32;
        // Raw tracepoint programs refuse any data pointer, even with size 0 (EINVAL).
        if !run.data_in.is_empty() {
            t.data_in = run.data_in.as_ptr() as u64;
            t.data_size_in = run.data_in.len() as u32;
        }
        if let Some(out) = run.data_out.as_deref_mut() {
            t.data_out = out.as_mut_ptr() as u64;
            t.data_size_out = out.len() as u32;
        }
        if !run.ctx_in.is_empty() {
            t.ctx_in = run.ctx_in.as_ptr() as u64;
            t.ctx_size_in = run.ctx_in.len() as u32;
        }
        t.repeat = run.repeat;
        t.flags = run.flags;
    }
    bpf(bpf_cmd::BPF_PROG_TEST_RUN, &mut a).map_err(|errno| Error::Bpf {
        cmd: bpf_cmd::BPF_PROG_TEST_RUN,
        errno,
    })?;
    // SAFETY: reading integers the kernel wrote back into the same member.
    let t = unsafe { a.test };
    Ok(TestRunOutput {
        retval: t.retval,
        duration_ns: t.duration,
        data_size_out: t.data_size_out,
    })
}

/// `BPF_ENABLE_STATS`: while the returned fd is open, the kernel counts every program's run time and run count
/// (`run_time_ns`/`run_cnt` in [`crate::obj::prog_info`]).
pub fn enable_stats(kind: bpf_stats_type) -> Result<OwnedFd, Error> {
    let mut a = attr();
    a.enable_stats.type_ = kind as u32;
    bpf_fd(bpf_cmd::BPF_ENABLE_STATS, &mut a)
}

/// `BPF_BTF_LOAD`: loads a raw BTF blob (header, types, strings) into the kernel, for [`ProgBtf`].
pub fn btf_load(data: &[u8]) -> Result<OwnedFd, Error> {
    let mut a = attr();
    // SAFETY: plain integer fields of the member BPF_BTF_LOAD reads; data outlives the call.
    unsafe {
        let b = &mut a.__bindgen_anon_7;
        b.btf = data.as_ptr() as u64;
        b.btf_size = data.len() as u32;
    }
    bpf_fd(bpf_cmd::BPF_BTF_LOAD, &mut a)
}
