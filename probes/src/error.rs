//! The loader's errors: each says what failed and what can be done about it, with the underlying error as its
//! typed source. No message names a command-line flag: the binary adds that context.
use crate::config::ArgIndex;
use crate::tracer::Ignored;

/// What went wrong loading, attaching or testing the probes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// EPERM/EACCES when creating maps or loading programs.
    #[error(
        "{what}: permission denied; run as root or grant CAP_BPF+CAP_PERFMON (and CAP_NET_ADMIN)"
    )]
    Permission {
        /// The step that was refused.
        what: String,
    },

    /// The verifier refused a program.
    #[error("the kernel verifier rejected {program}: {errno}\n{log}")]
    Verifier {
        /// The program's name.
        program: String,
        /// The kernel's answer to the load.
        errno: bpf_sys::Errno,
        /// The last lines of the verifier's log (the reason is at its end).
        log: String,
    },

    /// The requested backend does not work on this kernel.
    #[error("backend {backend} is not supported here: {reason}")]
    Unsupported {
        /// The backend's name.
        backend: &'static str,
        /// Why, from [`crate::Support`].
        reason: String,
    },

    /// Generated code (pcap filter, BTF expressions) could not be spliced into the object.
    #[error("cannot splice generated code into the BPF object")]
    Splice(#[from] crate::splice::SpliceError),

    /// The configuration asks for something no program can do.
    #[error("invalid probe configuration")]
    Config(#[from] ConfigError),

    /// Parsing, relocating or creating the maps of the BPF object failed.
    #[error("loading the BPF object failed")]
    Object(#[from] ObjectError),

    /// Every target was refused, so nothing would be traced.
    #[error("no {what} could be attached ({tried} tried; {}: {})", first.name, first.reason)]
    NothingAttached {
        /// `function` or `tracepoint`.
        what: &'static str,
        /// How many were tried.
        tried: usize,
        /// The first refusal.
        first: Ignored,
    },

    /// A system call outside bpf() failed (a thread, an fd).
    #[error("{what}")]
    Io {
        /// The step that failed.
        what: &'static str,
        /// The failed call.
        #[source]
        source: std::io::Error,
    },

    /// A syscall failed where nothing more specific applies.
    #[error("{what}")]
    Sys {
        /// The step that failed.
        what: String,
        /// The failed call.
        #[source]
        source: bpf_sys::Error,
    },
}

/// A [`crate::Config`] the programs cannot serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No program reads the skb from this position.
    #[error("{kind} {name}: no program reads the skb from {skb}")]
    NoProgram {
        /// `function` or `tracepoint`.
        kind: &'static str,
        /// The target.
        name: String,
        /// Where its skb is.
        skb: ArgIndex,
    },
    /// A function or tracepoint name the kernel cannot take (a NUL byte).
    #[error("bad {kind} name {name:?}")]
    BadName {
        /// `function` or `tracepoint`.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// A size outside what the programs' buffers hold.
    #[error("{what} is {size} bytes; the probes take 1 to {max}")]
    Size {
        /// `the BTF-expression output area`, `the dump buffer`.
        what: &'static str,
        /// The size asked for.
        size: u32,
        /// The largest the programs take.
        max: u32,
    },
    /// A struct the probes are asked to print is not in the running kernel's BTF.
    #[error("the running kernel's BTF has no struct {0}")]
    NoStruct(&'static str),
    /// The filter and the tunnel filters do not fit one stub.
    #[error(transparent)]
    FiltersTooLong(#[from] crate::filters::JoinError),
    /// Functions without an skb are probed with kprobes only: the tracepoint backend has none.
    #[error("functions without an skb need kprobes: the tracepoint backend cannot probe them")]
    NonSkbNeedsKprobes,
    /// [`crate::Tracer::attach`] was called twice.
    #[error("attach() was already called on this tracer")]
    AttachedTwice,
}

/// BTF the loader could not walk: what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("malformed BTF: {0}")]
pub struct BadBtf(pub(crate) &'static str);

/// The BPF object could not be turned into maps and loadable programs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectError {
    /// The running kernel's BTF (`/sys/kernel/btf/vmlinux`) could not be read.
    #[error("reading the kernel BTF")]
    KernelBtf(#[source] aya_obj::btf::BtfError),
    /// The part of the kernel BTF that CO-RE needs could not be cut out of it.
    #[error("reading the kernel BTF")]
    KernelBtfPart(#[source] BadBtf),
    /// aya could not create the maps (or parse the object).
    #[error("creating the BPF maps")]
    Maps(#[source] aya::EbpfError),
    /// Our own parse of the object failed.
    #[error("parsing the BPF object")]
    Parse(#[source] aya_obj::ParseError),
    /// A CO-RE relocation against the kernel's BTF failed.
    #[error("CO-RE relocation against the kernel BTF")]
    Core(#[source] aya_obj::btf::BtfRelocationError),
    /// Linking maps or calls into the instructions failed.
    #[error("relocating maps and calls")]
    Relocation(#[source] aya_obj::relocation::EbpfRelocationError),
    /// The object lacks a program or map the loader needs (a stale object).
    #[error("the BPF object has no {kind} {name}")]
    Missing {
        /// `program` or `map`.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// Creating one of the object's maps failed.
    #[error("creating map {name}")]
    CreateMap {
        /// The map.
        name: String,
        /// aya's complaint.
        #[source]
        source: aya::maps::MapError,
    },
    /// A map did not have the type the loader expects.
    #[error("map {name}")]
    Map {
        /// The map.
        name: &'static str,
        /// aya's complaint.
        #[source]
        source: aya::maps::MapError,
    },
    /// aya refused a program it loads itself (the filter tester).
    #[error("program {name}")]
    Program {
        /// The program.
        name: &'static str,
        /// aya's complaint.
        #[source]
        source: aya::programs::ProgramError,
    },
    /// A tracepoint program lacks the marker instruction its id is patched into (a stale object).
    #[error("tracepoint program {0} has no id marker")]
    NoMarker(String),
}

impl ProbeError {
    /// Wraps a failed call made for `what`, turning EPERM/EACCES into [`ProbeError::Permission`].
    pub(crate) fn sys(what: impl Into<String>, source: bpf_sys::Error) -> Self {
        let what = what.into();
        if source.is_permission() {
            ProbeError::Permission { what }
        } else {
            ProbeError::Sys { what, source }
        }
    }

    /// A failed program load: no privileges (EPERM/EACCES without a verifier log) or the verifier's refusal.
    pub(crate) fn load(source: bpf_sys::Error) -> Self {
        match source {
            bpf_sys::Error::ProgLoad { name, errno, log } => {
                if errno.is_permission() && log.is_empty() {
                    ProbeError::Permission {
                        what: format!("loading BPF program {name}"),
                    }
                } else {
                    ProbeError::Verifier {
                        program: name,
                        errno,
                        log: log_tail(&log, 25),
                    }
                }
            }
            other => ProbeError::sys("loading a BPF program", other),
        }
    }
}

/// Keeps the last `n` non-empty lines of a verifier log: the reason for a rejection is at its end.
pub(crate) fn log_tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join("\n")
}
