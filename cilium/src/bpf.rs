//! Read-only access to pinned BPF maps, on `bpf-sys`'s syscall wrappers.
//!
//! Every map is opened with `BPF_F_RDONLY`, so nothing in this module can modify Cilium's datapath state even by
//! mistake: the kernel refuses updates on such a descriptor.

use bpf_sys::uapi::{BPF_F_RDONLY, bpf_map_type};
use std::collections::HashSet;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

pub use bpf_sys::map::MapInfo;

/// Kernel map type numbers (`enum bpf_map_type`) that Cilium uses.
pub mod map_type {
    use super::bpf_map_type::*;

    /// `BPF_MAP_TYPE_HASH`.
    pub const HASH: u32 = BPF_MAP_TYPE_HASH as u32;
    /// `BPF_MAP_TYPE_ARRAY`.
    pub const ARRAY: u32 = BPF_MAP_TYPE_ARRAY as u32;
    /// `BPF_MAP_TYPE_PROG_ARRAY`.
    pub const PROG_ARRAY: u32 = BPF_MAP_TYPE_PROG_ARRAY as u32;
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`.
    pub const PERF_EVENT_ARRAY: u32 = BPF_MAP_TYPE_PERF_EVENT_ARRAY as u32;
    /// `BPF_MAP_TYPE_PERCPU_HASH`.
    pub const PERCPU_HASH: u32 = BPF_MAP_TYPE_PERCPU_HASH as u32;
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`.
    pub const PERCPU_ARRAY: u32 = BPF_MAP_TYPE_PERCPU_ARRAY as u32;
    /// `BPF_MAP_TYPE_LRU_HASH`.
    pub const LRU_HASH: u32 = BPF_MAP_TYPE_LRU_HASH as u32;
    /// `BPF_MAP_TYPE_LRU_PERCPU_HASH`.
    pub const LRU_PERCPU_HASH: u32 = BPF_MAP_TYPE_LRU_PERCPU_HASH as u32;
    /// `BPF_MAP_TYPE_LPM_TRIE`.
    pub const LPM_TRIE: u32 = BPF_MAP_TYPE_LPM_TRIE as u32;
    /// `BPF_MAP_TYPE_ARRAY_OF_MAPS`.
    pub const ARRAY_OF_MAPS: u32 = BPF_MAP_TYPE_ARRAY_OF_MAPS as u32;
    /// `BPF_MAP_TYPE_HASH_OF_MAPS`.
    pub const HASH_OF_MAPS: u32 = BPF_MAP_TYPE_HASH_OF_MAPS as u32;

    /// The type's name as bpftool spells it (`lru_hash`), `other` for types Cilium does not use.
    pub fn name(t: u32) -> &'static str {
        match t {
            HASH => "hash",
            ARRAY => "array",
            PROG_ARRAY => "prog_array",
            PERF_EVENT_ARRAY => "perf_event_array",
            PERCPU_HASH => "percpu_hash",
            PERCPU_ARRAY => "percpu_array",
            LRU_HASH => "lru_hash",
            LRU_PERCPU_HASH => "lru_percpu_hash",
            LPM_TRIE => "lpm_trie",
            ARRAY_OF_MAPS => "array_of_maps",
            HASH_OF_MAPS => "hash_of_maps",
            _ => "other",
        }
    }
}

/// Why a pinned map could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    /// The pin could not be opened for a reason other than permissions.
    #[error("cannot open pinned map {path}")]
    Open {
        /// The pin.
        path: PathBuf,
        /// The failed call.
        source: bpf_sys::Error,
    },
    /// The kernel refused the caller: EPERM (the bpf() syscall needs CAP_BPF) or EACCES (the pin is root's).
    #[error("cannot open pinned map {path} (reading BPF maps needs root or CAP_BPF)")]
    Denied {
        /// The pin.
        path: PathBuf,
        /// The failed call.
        source: bpf_sys::Error,
    },
    /// The file is not on a bpf filesystem, so it cannot be a pinned map.
    #[error("{path} is not on a BPF filesystem")]
    NotOnBpffs {
        /// The file.
        path: PathBuf,
    },
    /// The pin holds a program or link, not a map.
    #[error("{path} is not a BPF map ({kind})")]
    NotAMap {
        /// The pin.
        path: PathBuf,
        /// What the descriptor is (`anon_inode:bpf-prog`).
        kind: String,
    },
    /// A lookup or key iteration failed (or was given a key of the wrong size).
    #[error("cannot read map {path}")]
    Read {
        /// The pin.
        path: PathBuf,
        /// The failed call.
        source: bpf_sys::Error,
    },
}

/// Whether an error means "you may not" (EPERM, EACCES) rather than "it is not there".
pub fn is_denied(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES))
}

/// `BPF_FS_MAGIC`, the `f_type` statfs(2) reports for a bpf filesystem.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// Whether `path` lives on a bpf filesystem.
pub fn is_on_bpffs(path: &Path) -> io::Result<bool> {
    let c = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a zeroed statfs is a valid value for the kernel to overwrite.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is NUL-terminated and `st` is writable.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_type as i64 == BPF_FS_MAGIC)
}

/// A key and its value (one element per possible CPU for per-CPU maps).
pub type RawEntry = (Vec<u8>, Vec<Vec<u8>>);

/// A pinned map opened read-only.
#[derive(Debug)]
pub struct Map {
    map: bpf_sys::map::Map,
    /// Where it is pinned.
    pub path: PathBuf,
    /// Its type and sizes.
    pub info: MapInfo,
}

impl AsRawFd for Map {
    fn as_raw_fd(&self) -> RawFd {
        self.map.as_raw_fd()
    }
}

impl Map {
    /// Opens a pinned map read-only and reads its type and sizes.
    pub fn open(path: &Path) -> Result<Map, BpfError> {
        let map = bpf_sys::map::Map::open_pinned(path, BPF_F_RDONLY).map_err(|source| {
            let path = path.to_path_buf();
            match source {
                // Programs and links can be pinned next to maps.
                bpf_sys::Error::WrongKind { got, .. } => BpfError::NotAMap { path, kind: got },
                // The kernel answers EACCES for any file that is not a bpffs inode: say what is really wrong.
                _ if source.errno().map(|e| e.raw()) == Some(libc::EACCES)
                    && is_on_bpffs(&path).ok() == Some(false) =>
                {
                    BpfError::NotOnBpffs { path }
                }
                _ if source.is_permission() => BpfError::Denied { path, source },
                _ => BpfError::Open { path, source },
            }
        })?;
        Ok(Map {
            info: map.info().clone(),
            map,
            path: path.into(),
        })
    }

    fn read_err(&self, source: bpf_sys::Error) -> BpfError {
        BpfError::Read {
            path: self.path.clone(),
            source,
        }
    }

    /// The value of `key`: one element per possible CPU for per-CPU maps, else one.
    pub fn lookup(&self, key: &[u8]) -> Result<Option<Vec<Vec<u8>>>, BpfError> {
        let value = self.map.get(key).map_err(|e| self.read_err(e))?;
        Ok(value.map(|v| {
            self.map
                .per_cpu(&v)
                .into_iter()
                .map(<[u8]>::to_vec)
                .collect()
        }))
    }

    /// All entries as (key, per-CPU values). Entries deleted between `GET_NEXT_KEY` and lookup (live LRU maps) are
    /// skipped; a key seen twice is reported once.
    pub fn entries(&self) -> Result<Vec<RawEntry>, BpfError> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut cur: Option<Vec<u8>> = None;
        // Bound the walk: a map being rewritten under us must not loop forever.
        let limit = self.info.max_entries as usize * 2 + 16;
        while let Some(k) = self
            .map
            .next_key_vec(cur.as_deref())
            .map_err(|e| self.read_err(e))?
        {
            if seen.insert(k.clone())
                && let Some(v) = self.lookup(&k)?
            {
                out.push((k.clone(), v));
            }
            if seen.len() > limit {
                break;
            }
            cur = Some(k);
        }
        Ok(out)
    }
}

/// The first bpf filesystem in `/proc/self/mountinfo`, as cilium-dbg picks it.
pub fn default_bpffs_root() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    first_bpf_mount(&text)
}

fn first_bpf_mount(mountinfo: &str) -> Option<PathBuf> {
    for line in mountinfo.lines() {
        // "<id> <parent> <maj:min> <root> <mountpoint> <opts> [optional...] - <fstype> <source> <superopts>"
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        if post.split_whitespace().next() == Some("bpf") {
            let mp = pre.split_whitespace().nth(4)?;
            return Some(PathBuf::from(unescape_mountinfo(mp)));
        }
    }
    None
}

fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_first_bpf() {
        let mi = "22 1 0:21 / /proc rw,nosuid - proc proc rw\n\
                  30 22 0:27 / /sys/fs/bpf rw,nosuid shared:9 - bpf bpf rw,mode=700\n\
                  31 22 0:28 / /run/cilium/bpf\\040x rw - bpf bpf rw\n";
        assert_eq!(first_bpf_mount(mi), Some(PathBuf::from("/sys/fs/bpf")));
        assert_eq!(
            first_bpf_mount("31 22 0:28 / /a\\040b rw - bpf bpf rw\n"),
            Some(PathBuf::from("/a b"))
        );
        assert_eq!(
            first_bpf_mount("22 1 0:21 / /proc rw - proc proc rw\n"),
            None
        );
    }
}
