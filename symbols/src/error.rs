use std::path::PathBuf;

/// Every failure of this crate, each with a one-line message a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum SymbolsError {
    #[error(
        "no BTF at {}: the kernel needs CONFIG_DEBUG_INFO_BTF=y, or pass --kernel-btf FILE",
        .0.display()
    )]
    NoKernelBtf(PathBuf),
    #[error("unknown kernel module '{name}' (no {})", .path.display())]
    UnknownModule { name: String, path: PathBuf },
    #[error(
        "--kmods/--all-kmods read module BTF from /sys/kernel/btf, which is built on the running kernel's BTF, not on {}",
        .0.display()
    )]
    ModuleBaseMismatch(PathBuf),
    #[error("bad --filter-func regex {0}")]
    BadFilterRegex(String),
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {}: it holds more than {cap_mib} MiB, more than any file of its kind", .path.display())]
    TooLarge { path: PathBuf, cap_mib: u64 },
    #[error("bad BTF in {}: {msg}", .path.display())]
    BadBtf { path: PathBuf, msg: String },
    #[error("{} has no .BTF section", .0.display())]
    NoBtfSection(PathBuf),
    #[error("bad kallsyms line {line}: {msg}")]
    BadKallsyms { line: usize, msg: String },
    #[error(
        "cannot tell which functions can be traced: neither available_filter_functions nor /proc/kallsyms is readable"
    )]
    NoTraceableList,
}

pub type Result<T, E = SymbolsError> = std::result::Result<T, E>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> SymbolsError {
    let path = path.into();
    move |source| SymbolsError::Io { path, source }
}
