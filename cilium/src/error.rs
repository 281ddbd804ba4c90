//! The crate's error: why a node's Cilium state could not be found, opened or decoded. Messages name maps, paths
//! and sizes, never a command-line flag: the binary adds how to fix it with its own flags.

use crate::bpf::BpfError;
use crate::version::Version;
use crate::wire::SizeError;
use std::path::PathBuf;

/// Why a node's Cilium maps could not be found, opened or decoded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No bpffs root was given and none is mounted.
    #[error("no bpf filesystem is mounted (none in /proc/self/mountinfo)")]
    NoBpffs,
    /// The bpffs root has no `tc/globals` directory.
    #[error("{0} does not exist (is Cilium running on this node?)")]
    NoGlobals(PathBuf),
    /// The maps directory is on an ordinary filesystem.
    #[error(
        "{0} is not a BPF filesystem (Cilium pins its maps in a bpffs: mount -t bpf bpf /sys/fs/bpf)"
    )]
    NotBpffs(PathBuf),
    /// The maps directory cannot be listed or inspected.
    #[error("cannot list {path}{}", if crate::bpf::is_denied(source) { " (reading Cilium's maps needs root)" } else { "" })]
    List {
        /// The directory.
        path: PathBuf,
        /// What the kernel said.
        source: std::io::Error,
    },
    /// None of the pin names tells which release wrote the maps.
    #[error(
        "cannot tell the Cilium version from the maps in {0} (no cilium_ipcache_v2, cilium_policystats or \
         cilium_policy_* pins)"
    )]
    UnknownVersion(PathBuf),
    /// A map's kernel type or sizes are not the ones the release creates it with.
    #[error(
        "{name}: unknown layout for Cilium {version}: {ty}, key {key} bytes, value {value} bytes (expected {expected})"
    )]
    Layout {
        /// Pin name.
        name: String,
        /// The release the maps were taken for.
        version: Version,
        /// Kernel type found.
        ty: String,
        /// Key size found.
        key: u32,
        /// Value size found.
        value: u32,
        /// What the release uses.
        expected: String,
    },
    /// A map the command needs is not pinned.
    #[error("map {0} is not pinned in {1}")]
    Missing(String, PathBuf),
    /// The release has no such map.
    #[error("Cilium {version} has no {name} map")]
    NotInRelease {
        /// What the map holds (`tunnel`).
        name: &'static str,
        /// The release.
        version: Version,
    },
    /// An entry of a map does not have the layout's size.
    #[error("{map}: {error}")]
    Decode {
        /// Pin path.
        map: String,
        /// Which field and sizes.
        error: SizeError,
    },
    /// A map could not be opened or read.
    #[error(transparent)]
    Bpf(#[from] BpfError),
}

/// The crate's result.
pub type Result<T> = std::result::Result<T, Error>;
