//! The bpf() and perf_event_open() calls aya 0.14 does not offer: loading a program with an arbitrary
//! expected_attach_type / attach_btf_id (kprobe-multi, one tp_btf program per tracepoint), raw tracepoint and
//! kprobe-multi links, kprobe perf events, and listing the kernel's programs and links.
use aya_obj::generated::bpf_insn;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const BPF_PROG_LOAD: u32 = 5;
const BPF_OBJ_GET_INFO_BY_FD: u32 = 15;
const BPF_PROG_GET_NEXT_ID: u32 = 11;
const BPF_PROG_GET_FD_BY_ID: u32 = 13;
const BPF_RAW_TRACEPOINT_OPEN: u32 = 17;
const BPF_LINK_CREATE: u32 = 28;
const BPF_LINK_GET_FD_BY_ID: u32 = 30;
const BPF_LINK_GET_NEXT_ID: u32 = 31;

pub const BPF_PROG_TYPE_KPROBE: u32 = 2;
pub const BPF_PROG_TYPE_RAW_TRACEPOINT: u32 = 17;
pub const BPF_PROG_TYPE_TRACING: u32 = 26;
pub const BPF_TRACE_RAW_TP: u32 = 23;
pub const BPF_TRACE_KPROBE_MULTI: u32 = 42;

fn sys_bpf<T>(cmd: u32, attr: &mut T) -> io::Result<i64> {
    // SAFETY: attr is a live, initialised bpf_attr-shaped struct of the given size.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>(),
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn owned(fd: i64) -> OwnedFd {
    // SAFETY: the kernel just returned this fd and nobody else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    prog_btf_fd: u32,
    func_info_rec_size: u32,
    func_info: u64,
    func_info_cnt: u32,
    line_info_rec_size: u32,
    line_info: u64,
    line_info_cnt: u32,
    attach_btf_id: u32,
    attach_btf_obj_fd: u32,
    core_relo_cnt: u32,
    fd_array: u64,
    core_relos: u64,
    core_relo_rec_size: u32,
    log_true_size: u32,
}

/// What [`prog_load`] needs besides the instructions.
#[derive(Clone, Debug, Default)]
pub struct ProgSpec {
    pub prog_type: u32,
    pub expected_attach_type: u32,
    pub attach_btf_id: u32,
    /// Kernel object name (truncated to 15 bytes).
    pub name: String,
}

/// A failed BPF_PROG_LOAD with the verifier's log.
#[derive(Debug)]
pub struct LoadError {
    pub errno: io::Error,
    pub log: String,
}

/// BPF_PROG_LOAD. Tries without a log first (fast); on failure loads again with a verbose log so the error
/// can say why.
pub fn prog_load(spec: &ProgSpec, insns: &[bpf_insn]) -> Result<OwnedFd, LoadError> {
    let license = CString::new("GPL").expect("no NUL");
    let mut attr = ProgLoadAttr {
        prog_type: spec.prog_type,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        expected_attach_type: spec.expected_attach_type,
        attach_btf_id: spec.attach_btf_id,
        ..Default::default()
    };
    let n = spec.name.len().min(15);
    attr.prog_name[..n].copy_from_slice(&spec.name.as_bytes()[..n]);
    let first = loop {
        match sys_bpf(BPF_PROG_LOAD, &mut attr) {
            Ok(fd) => return Ok(owned(fd)),
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => continue,
            Err(e) => break e,
        }
    };
    // EPERM means no privileges: a log would not help. (The verifier itself answers EACCES or EINVAL.)
    if first.raw_os_error() == Some(libc::EPERM) {
        return Err(LoadError {
            errno: first,
            log: String::new(),
        });
    }
    let mut log = vec![0u8; 16 << 20];
    attr.log_level = 1;
    attr.log_size = log.len() as u32;
    attr.log_buf = log.as_mut_ptr() as u64;
    match sys_bpf(BPF_PROG_LOAD, &mut attr) {
        // Loaded on the second try (a transient failure): keep it.
        Ok(fd) => Ok(owned(fd)),
        Err(errno) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            Err(LoadError {
                errno,
                log: String::from_utf8_lossy(&log[..end]).into_owned(),
            })
        }
    }
}

#[repr(C)]
#[derive(Default)]
struct RawTpOpenAttr {
    name: u64,
    prog_fd: u32,
    _pad: u32,
}

/// BPF_RAW_TRACEPOINT_OPEN: attaches a raw_tp program to `name`, or a tp_btf program (name `None`) to the
/// tracepoint it was loaded for. Closing the returned fd detaches.
pub fn raw_tracepoint_open(name: Option<&CStr>, prog_fd: RawFd) -> io::Result<OwnedFd> {
    let mut attr = RawTpOpenAttr {
        name: name.map_or(0, |n| n.as_ptr() as u64),
        prog_fd: prog_fd as u32,
        _pad: 0,
    };
    sys_bpf(BPF_RAW_TRACEPOINT_OPEN, &mut attr).map(owned)
}

#[repr(C)]
#[derive(Default)]
struct LinkCreateKprobeMultiAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    kprobe_multi_flags: u32,
    cnt: u32,
    syms: u64,
    addrs: u64,
    cookies: u64,
    _rest: [u64; 4],
}

/// BPF_LINK_CREATE of a kprobe-multi link on the functions `syms`. One unknown name fails the whole link
/// (ESRCH); see [`crate::backend::kprobe_multi`] for how the caller isolates it.
pub fn link_kprobe_multi(prog_fd: RawFd, syms: &[CString]) -> io::Result<OwnedFd> {
    let ptrs: Vec<u64> = syms.iter().map(|s| s.as_ptr() as u64).collect();
    let mut attr = LinkCreateKprobeMultiAttr {
        prog_fd: prog_fd as u32,
        attach_type: BPF_TRACE_KPROBE_MULTI,
        cnt: ptrs.len() as u32,
        syms: ptrs.as_ptr() as u64,
        ..Default::default()
    };
    sys_bpf(BPF_LINK_CREATE, &mut attr).map(owned)
}

/// The kernel's perf_event_attr, up to `config2` plus padding (PERF_ATTR_SIZE_VER5 = 112 bytes is enough).
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    type_: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
    config2: u64,
    branch_sample_type: u64,
    sample_regs_user: u64,
    sample_stack_user: u32,
    clockid: i32,
    sample_regs_intr: u64,
}

const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;
const PERF_EVENT_IOC_ENABLE: libc::c_ulong = 0x2400;
const PERF_EVENT_IOC_SET_BPF: libc::c_ulong = 0x4004_2408;

/// The kprobe PMU: its type number and the config bit that makes a probe a kretprobe.
#[derive(Clone, Copy, Debug)]
pub struct KprobePmu {
    pub type_: u32,
    pub retprobe_bit: u32,
}

impl KprobePmu {
    /// Reads `/sys/bus/event_source/devices/kprobe/{type,format/retprobe}`; absent without CONFIG_KPROBES.
    pub fn open() -> io::Result<Self> {
        let dir = std::path::Path::new("/sys/bus/event_source/devices/kprobe");
        let type_ = std::fs::read_to_string(dir.join("type"))?
            .trim()
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad kprobe PMU type"))?;
        // "config:0"
        let retprobe_bit = std::fs::read_to_string(dir.join("format/retprobe"))
            .ok()
            .and_then(|s| {
                s.trim()
                    .strip_prefix("config:")
                    .and_then(|b| b.parse().ok())
            })
            .unwrap_or(0);
        Ok(KprobePmu {
            type_,
            retprobe_bit,
        })
    }

    /// Creates a kprobe (or kretprobe) on `func` (`module:func` for module functions) through the perf PMU and
    /// runs `prog_fd` on it. Closing the returned fd removes the probe.
    pub fn attach(&self, func: &CStr, retprobe: bool, prog_fd: RawFd) -> io::Result<OwnedFd> {
        let mut attr = PerfEventAttr {
            type_: self.type_,
            size: std::mem::size_of::<PerfEventAttr>() as u32,
            config: if retprobe {
                1u64 << self.retprobe_bit
            } else {
                0
            },
            config1: func.as_ptr() as u64,
            config2: 0,
            ..Default::default()
        };
        // SAFETY: attr is a valid perf_event_attr of the given size; func outlives the call.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                &mut attr as *mut PerfEventAttr,
                -1 as libc::pid_t,
                0 as libc::c_int,
                -1 as libc::c_int,
                PERF_FLAG_FD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = owned(fd);
        // SAFETY: plain ioctls on an fd we own.
        unsafe {
            if libc::ioctl(fd.as_raw_fd(), PERF_EVENT_IOC_SET_BPF as _, prog_fd) < 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::ioctl(fd.as_raw_fd(), PERF_EVENT_IOC_ENABLE as _, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(fd)
    }
}

#[repr(C)]
#[derive(Default)]
struct GetIdAttr {
    start_id: u32,
    next_id: u32,
    open_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// The leading fields of struct bpf_prog_info, up to the name.
#[repr(C)]
struct ProgInfo {
    type_: u32,
    id: u32,
    tag: [u8; 8],
    jited_prog_len: u32,
    xlated_prog_len: u32,
    jited_prog_insns: u64,
    xlated_prog_insns: u64,
    load_time: u64,
    created_by_uid: u32,
    nr_map_ids: u32,
    map_ids: u64,
    name: [u8; 16],
}

/// The leading fields of struct bpf_link_info.
#[repr(C)]
#[derive(Default)]
struct LinkInfo {
    type_: u32,
    id: u32,
    prog_id: u32,
    _pad: u32,
    _union: [u64; 8],
}

fn next_ids(cmd: u32) -> Vec<u32> {
    let mut ids = Vec::new();
    let mut attr = GetIdAttr::default();
    while sys_bpf(cmd, &mut attr).is_ok() {
        ids.push(attr.next_id);
        attr.start_id = attr.next_id;
    }
    ids
}

/// One BPF program loaded in the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelProg {
    pub id: u32,
    pub prog_type: u32,
    pub name: String,
}

/// Lists every BPF program loaded in the kernel (BPF_PROG_GET_NEXT_ID + BPF_OBJ_GET_INFO_BY_FD).
pub fn kernel_programs() -> Vec<KernelProg> {
    let mut out = Vec::new();
    for id in next_ids(BPF_PROG_GET_NEXT_ID) {
        let mut a = GetIdAttr {
            start_id: id,
            ..Default::default()
        };
        let Ok(fd) = sys_bpf(BPF_PROG_GET_FD_BY_ID, &mut a).map(owned) else {
            continue;
        };
        // SAFETY: ProgInfo is plain old data.
        let mut info: ProgInfo = unsafe { std::mem::zeroed() };
        let mut ia = InfoAttr {
            bpf_fd: fd.as_raw_fd() as u32,
            info_len: std::mem::size_of::<ProgInfo>() as u32,
            info: &mut info as *mut ProgInfo as u64,
        };
        if sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mut ia).is_ok() {
            let end = info.name.iter().position(|&b| b == 0).unwrap_or(16);
            out.push(KernelProg {
                id: info.id,
                prog_type: info.type_,
                name: String::from_utf8_lossy(&info.name[..end]).into_owned(),
            });
        }
    }
    out
}

/// One BPF link in the kernel: (link id, program id).
pub fn kernel_links() -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for id in next_ids(BPF_LINK_GET_NEXT_ID) {
        let mut a = GetIdAttr {
            start_id: id,
            ..Default::default()
        };
        let Ok(fd) = sys_bpf(BPF_LINK_GET_FD_BY_ID, &mut a).map(owned) else {
            continue;
        };
        let mut info = LinkInfo::default();
        let mut ia = InfoAttr {
            bpf_fd: fd.as_raw_fd() as u32,
            info_len: std::mem::size_of::<LinkInfo>() as u32,
            info: &mut info as *mut LinkInfo as u64,
        };
        if sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mut ia).is_ok() {
            out.push((info.id, info.prog_id));
        }
    }
    out
}

/// The instruction `dst = imm` (BPF_ALU64 | BPF_MOV | BPF_K).
const MOV64_IMM: u8 = 0xb7;

/// Replaces the immediate of every `rX = marker` instruction with `value`; returns how many it patched.
pub fn patch_mov_imm(insns: &mut [bpf_insn], marker: i32, value: i32) -> usize {
    let mut n = 0;
    for insn in insns.iter_mut() {
        if insn.code == MOV64_IMM && insn.imm == marker {
            insn.imm = value;
            n += 1;
        }
    }
    n
}

/// Raises RLIMIT_NOFILE as far as allowed: one fd per kprobe adds up to thousands (pwru #242 saw 5,269 with all
/// modules). Root may lift the hard limit up to fs.nr_open; otherwise the soft limit goes up to the hard one.
pub fn raise_nofile_limit() {
    let nr_open: libc::rlim_t = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return;
        }
        let want = r.rlim_max.max(nr_open.min(1 << 20));
        let lifted = libc::rlimit {
            rlim_cur: want,
            rlim_max: want,
        };
        if want > r.rlim_max && libc::setrlimit(libc::RLIMIT_NOFILE, &lifted) == 0 {
            return;
        }
        if r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

/// The kernel id of the BPF program behind a program fd.
pub fn prog_id(fd: RawFd) -> Option<u32> {
    // SAFETY: ProgInfo is plain old data.
    let mut info: ProgInfo = unsafe { std::mem::zeroed() };
    let mut ia = InfoAttr {
        bpf_fd: fd as u32,
        info_len: std::mem::size_of::<ProgInfo>() as u32,
        info: &mut info as *mut ProgInfo as u64,
    };
    sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mut ia)
        .ok()
        .map(|_| info.id)
}

/// (link id, program id) of a BPF link fd; `None` for other fds (e.g. perf events).
pub fn link_ids(fd: RawFd) -> Option<(u32, u32)> {
    let mut info = LinkInfo::default();
    let mut ia = InfoAttr {
        bpf_fd: fd as u32,
        info_len: std::mem::size_of::<LinkInfo>() as u32,
        info: &mut info as *mut LinkInfo as u64,
    };
    sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mut ia)
        .ok()
        .map(|_| (info.id, info.prog_id))
}
