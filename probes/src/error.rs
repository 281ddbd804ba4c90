//! The loader's errors: each says what failed and what the user can do about it.
use std::io;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// EPERM/EACCES when creating maps or loading programs.
    #[error(
        "{what}: permission denied; run as root or grant CAP_BPF+CAP_PERFMON (and CAP_NET_ADMIN)"
    )]
    Permission { what: String },

    /// The verifier refused a program; `log` holds the last lines of its log.
    #[error("the kernel verifier rejected {program}: {errno}\n{log}")]
    Verifier {
        program: String,
        errno: io::Error,
        log: String,
    },

    /// The requested backend does not work on this kernel.
    #[error("backend {backend} is not supported here: {reason}")]
    Unsupported {
        backend: &'static str,
        reason: String,
    },

    /// The pcap filter instructions could not be spliced into the object.
    #[error("cannot splice the pcap filter: {0}")]
    Splice(String),

    /// Invalid configuration (e.g. an skb argument position with no program).
    #[error("invalid probe configuration: {0}")]
    Config(String),

    /// Creating the maps or parsing/relocating the BPF object failed.
    #[error("loading the BPF object failed: {0}")]
    Object(String),

    /// A syscall failed where nothing more specific applies.
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: io::Error,
    },
}

impl ProbeError {
    /// Wraps an errno from `what`, turning EPERM/EACCES into [`ProbeError::Permission`].
    pub(crate) fn sys(what: impl Into<String>, source: io::Error) -> Self {
        let what = what.into();
        match source.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => ProbeError::Permission { what },
            _ => ProbeError::Sys { what, source },
        }
    }
}

/// Keeps the last `n` non-empty lines of a verifier log: the reason for a rejection is at its end.
pub(crate) fn log_tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join("\n")
}
