//! The kprobe PMU: one kprobe (or kretprobe) per `perf_event_open(2)`, running a BPF program.
use crate::error::{Errno, Error};
use crate::sys::owned;
use crate::uapi::{
    PERF_EVENT_IOC_ENABLE, PERF_EVENT_IOC_SET_BPF, PERF_FLAG_FD_CLOEXEC, perf_event_attr,
};
use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

const PMU_DIR: &str = "/sys/bus/event_source/devices/kprobe";

/// The kprobe PMU: its perf type number and the config bit that makes a probe a kretprobe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KprobePmu {
    /// The PMU's `type` for `perf_event_attr`.
    pub type_: u32,
    /// The `config` bit of `format/retprobe`.
    pub retprobe_bit: u32,
}

impl KprobePmu {
    /// Reads `/sys/bus/event_source/devices/kprobe/{type,format/retprobe}`. The directory is absent without
    /// CONFIG_KPROBES ([`Error::File`] with ENOENT).
    pub fn open() -> Result<Self, Error> {
        let dir = Path::new(PMU_DIR);
        let path = dir.join("type");
        let type_ = std::fs::read_to_string(&path)
            .and_then(|s| {
                s.trim()
                    .parse()
                    .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, s))
            })
            .map_err(|source| Error::File { path, source })?;
        // "config:0"; absent on old kernels, where bit 0 is the convention.
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

    /// Creates a kprobe (or kretprobe) on `func` (`module:func` for a module's function) and runs `prog` on it.
    /// Closing the returned fd removes the probe.
    pub fn attach(
        &self,
        func: &CStr,
        retprobe: bool,
        prog: BorrowedFd<'_>,
    ) -> Result<OwnedFd, Error> {
        let fd = self.open_probe(ProbeSite::Symbol { func, offset: 0 }, retprobe)?;
        set_bpf(fd.as_fd(), prog)?;
        Ok(fd)
    }

    /// Creates a kprobe (or kretprobe) at `site`, enabled but running no program yet (see [`set_bpf`] and
    /// [`crate::link::link_perf_event`]). Closing the last reference to it removes the probe.
    pub fn open_probe(&self, site: ProbeSite<'_>, retprobe: bool) -> Result<OwnedFd, Error> {
        // SAFETY: perf_event_attr is plain integers (and unions of them); zero is valid for each.
        let mut attr: perf_event_attr = unsafe { std::mem::zeroed() };
        attr.type_ = self.type_;
        attr.size = std::mem::size_of::<perf_event_attr>() as u32;
        attr.config = if retprobe {
            1u64 << self.retprobe_bit
        } else {
            0
        };
        match site {
            ProbeSite::Symbol { func, offset } => {
                attr.__bindgen_anon_3.kprobe_func = func.as_ptr() as u64;
                attr.__bindgen_anon_4.probe_offset = offset;
            }
            // kprobe_func 0: kprobe_addr is an absolute address.
            ProbeSite::Address(addr) => attr.__bindgen_anon_4.kprobe_addr = addr,
        }
        // SAFETY: attr is a valid perf_event_attr of the given size; a symbol name outlives the call.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                &mut attr as *mut perf_event_attr,
                -1 as libc::pid_t,
                0 as libc::c_int,
                -1 as libc::c_int,
                PERF_FLAG_FD_CLOEXEC as libc::c_ulong,
            )
        };
        if fd < 0 {
            return Err(Error::Perf {
                call: "perf_event_open",
                errno: Errno::last(),
            });
        }
        Ok(owned(fd))
    }
}

/// Where a kprobe goes.
#[derive(Clone, Copy, Debug)]
pub enum ProbeSite<'a> {
    /// `offset` bytes into function `func` (`module:func` for a module's). The kernel looks the name up (on some
    /// kernels, through every kernel symbol, to refuse a name that several functions share).
    Symbol {
        /// The function.
        func: &'a CStr,
        /// Bytes from its start (0: the entry, where the kernel may use ftrace instead of a breakpoint).
        offset: u64,
    },
    /// An absolute kernel address (as `/proc/kallsyms` gives it): nothing to look up.
    Address(u64),
}

/// `PERF_EVENT_IOC_SET_BPF` then `PERF_EVENT_IOC_ENABLE`: runs `prog` on perf event `perf` (no BPF cookie; see
/// [`crate::link::link_perf_event`] for one).
pub fn set_bpf(perf: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> Result<(), Error> {
    for (call, req, arg) in [
        (
            "PERF_EVENT_IOC_SET_BPF",
            PERF_EVENT_IOC_SET_BPF,
            prog.as_raw_fd(),
        ),
        ("PERF_EVENT_IOC_ENABLE", PERF_EVENT_IOC_ENABLE, 0),
    ] {
        // SAFETY: a plain ioctl with an integer argument on an fd the caller holds.
        if unsafe { libc::ioctl(perf.as_raw_fd(), req as _, arg) } < 0 {
            return Err(Error::Perf {
                call,
                errno: Errno::last(),
            });
        }
    }
    Ok(())
}
