//! The crate's one error type and the errno it carries.
use crate::uapi::bpf_cmd;
use std::fmt;
use std::io;
use std::path::PathBuf;

/// An errno the kernel returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

impl Errno {
    /// The calling thread's current `errno`.
    pub fn last() -> Errno {
        Errno(io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }

    /// The raw value (`libc::ENOENT`, ...).
    pub const fn raw(self) -> i32 {
        self.0
    }

    /// EPERM or EACCES: missing privileges (or, for a program load without a log, a verifier refusal).
    pub fn is_permission(self) -> bool {
        matches!(self.0, libc::EPERM | libc::EACCES)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        io::Error::from_raw_os_error(self.0).fmt(f)
    }
}

impl std::error::Error for Errno {}

impl From<Errno> for io::Error {
    fn from(e: Errno) -> io::Error {
        io::Error::from_raw_os_error(e.0)
    }
}

/// What went wrong in a call of this crate. The messages name the call, never a command-line flag.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A `bpf(2)` command failed.
    #[error("{cmd:?} failed")]
    Bpf {
        /// The command.
        cmd: bpf_cmd,
        /// The kernel's answer.
        #[source]
        errno: Errno,
    },

    /// `BPF_PROG_LOAD` failed. `log` holds the verifier's log when the kernel wrote one (not on EPERM).
    #[error("loading BPF program {name} failed")]
    ProgLoad {
        /// The program's name as given to the load.
        name: String,
        /// The kernel's answer.
        #[source]
        errno: Errno,
        /// The verifier log (possibly empty).
        log: String,
    },

    /// `perf_event_open(2)` or an ioctl on a perf event failed.
    #[error("{call} failed")]
    Perf {
        /// `perf_event_open`, `PERF_EVENT_IOC_SET_BPF`, ...
        call: &'static str,
        /// The kernel's answer.
        #[source]
        errno: Errno,
    },

    /// A name or path the kernel reads as a C string contains a NUL byte.
    #[error("{0:?} contains a NUL byte")]
    Nul(String),

    /// A buffer does not have the size the map needs.
    #[error("{what} of {got} bytes given, the map needs {want}")]
    Size {
        /// `key`, `value` or `next key`.
        what: &'static str,
        /// The length given.
        got: usize,
        /// The length the map needs.
        want: usize,
    },

    /// A file descriptor refers to another kind of BPF object (or none) than the call needs.
    #[error("not a BPF {want} but {got}")]
    WrongKind {
        /// The kind the call needs (`map`, ...).
        want: &'static str,
        /// What the descriptor is (`anon_inode:bpf-prog`, ...).
        got: String,
    },

    /// A procfs/sysfs file the call depends on could not be read or parsed.
    #[error("reading {}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// The kernel's errno, for errors that are one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Bpf { errno, .. }
            | Error::ProgLoad { errno, .. }
            | Error::Perf { errno, .. } => Some(*errno),
            Error::File { source, .. } => source.raw_os_error().map(Errno),
            _ => None,
        }
    }

    /// Whether the kernel answered EPERM or EACCES.
    pub fn is_permission(&self) -> bool {
        self.errno().is_some_and(Errno::is_permission)
    }
}
