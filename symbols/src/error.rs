use std::path::PathBuf;

/// Every failure of this crate, each with a one-line message a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum SymbolsError {
    /// The kernel's BTF file does not exist.
    #[error(
        "no BTF at {}: the kernel needs CONFIG_DEBUG_INFO_BTF=y, or pass --kernel-btf FILE",
        .0.display()
    )]
    NoKernelBtf(PathBuf),
    /// A module asked for has no split BTF file.
    #[error("unknown kernel module '{name}' (no {})", .path.display())]
    UnknownModule {
        /// The module's name.
        name: String,
        /// The file that would hold its BTF.
        path: PathBuf,
    },
    /// Modules of the running kernel asked for on top of another kernel's BTF (this file).
    #[error(
        "--kmods/--all-kmods read module BTF from /sys/kernel/btf, which is built on the running kernel's BTF, not on {}",
        .0.display()
    )]
    ModuleBaseMismatch(PathBuf),
    /// A function filter that is not a valid regex (the message says why).
    #[error("bad --filter-func regex {0}")]
    BadFilterRegex(String),
    /// A file could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file larger than any file of its kind, not read.
    #[error("cannot read {}: it holds more than {cap_mib} MiB, more than any file of its kind", .path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The cap, in MiB.
        cap_mib: u64,
    },
    /// A BTF blob that does not parse.
    #[error("bad BTF in {}: {msg}", .path.display())]
    BadBtf {
        /// Where it came from.
        path: PathBuf,
        /// What is wrong with it.
        msg: String,
    },
    /// An ELF file without BTF.
    #[error("{} has no .BTF section", .0.display())]
    NoBtfSection(PathBuf),
    /// A line of /proc/kallsyms that does not parse.
    #[error("bad kallsyms line {line}: {msg}")]
    BadKallsyms {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        msg: String,
    },
    /// Neither list of traceable functions can be read.
    #[error(
        "cannot tell which functions can be traced: neither available_filter_functions nor /proc/kallsyms is readable"
    )]
    NoTraceableList,
}

/// This crate's result type.
pub type Result<T, E = SymbolsError> = std::result::Result<T, E>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> SymbolsError {
    let path = path.into();
    move |source| SymbolsError::Io { path, source }
}
