//! Read-only access to pinned BPF maps through the bpf(2) syscall.
//!
//! Every map is opened with `BPF_F_RDONLY`, so nothing in this module can modify Cilium's datapath state even by
//! mistake: the kernel refuses updates on such a descriptor.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
const BPF_OBJ_GET: libc::c_long = 7;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_F_RDONLY: u32 = 1 << 3;

/// Kernel map type numbers (`enum bpf_map_type`) that Cilium uses.
pub mod map_type {
    /// `BPF_MAP_TYPE_HASH`.
    pub const HASH: u32 = 1;
    /// `BPF_MAP_TYPE_ARRAY`.
    pub const ARRAY: u32 = 2;
    /// `BPF_MAP_TYPE_PROG_ARRAY`.
    pub const PROG_ARRAY: u32 = 3;
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`.
    pub const PERF_EVENT_ARRAY: u32 = 4;
    /// `BPF_MAP_TYPE_PERCPU_HASH`.
    pub const PERCPU_HASH: u32 = 5;
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`.
    pub const PERCPU_ARRAY: u32 = 6;
    /// `BPF_MAP_TYPE_LRU_HASH`.
    pub const LRU_HASH: u32 = 9;
    /// `BPF_MAP_TYPE_LRU_PERCPU_HASH`.
    pub const LRU_PERCPU_HASH: u32 = 10;
    /// `BPF_MAP_TYPE_LPM_TRIE`.
    pub const LPM_TRIE: u32 = 11;
    /// `BPF_MAP_TYPE_ARRAY_OF_MAPS`.
    pub const ARRAY_OF_MAPS: u32 = 12;
    /// `BPF_MAP_TYPE_HASH_OF_MAPS`.
    pub const HASH_OF_MAPS: u32 = 13;

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

    /// Whether values of this type hold one slot per possible CPU.
    pub fn is_per_cpu(t: u32) -> bool {
        matches!(t, PERCPU_HASH | PERCPU_ARRAY | LRU_PERCPU_HASH)
    }
}

/// Why a pinned map could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    /// `BPF_OBJ_GET` failed for a reason other than permissions.
    #[error("cannot open pinned map {path}")]
    Open {
        /// The pin.
        path: PathBuf,
        /// The kernel's answer.
        source: io::Error,
    },
    /// The kernel refused the caller: EPERM (the bpf() syscall needs CAP_BPF) or EACCES (the pin is root's).
    #[error("cannot open pinned map {path} (reading BPF maps needs root or CAP_BPF)")]
    Denied {
        /// The pin.
        path: PathBuf,
        /// EPERM or EACCES.
        source: io::Error,
    },
    /// The file is not on a bpf filesystem, so it cannot be a pinned map.
    #[error("{path} is not on a BPF filesystem")]
    NotOnBpffs {
        /// The file.
        path: PathBuf,
    },
    /// `BPF_OBJ_GET_INFO_BY_FD` failed.
    #[error("cannot query map info of {path}")]
    Info {
        /// The pin.
        path: PathBuf,
        /// The kernel's answer.
        source: io::Error,
    },
    /// A lookup or key iteration failed.
    #[error("cannot read map {path}")]
    Read {
        /// The pin.
        path: PathBuf,
        /// The kernel's answer.
        source: io::Error,
    },
    /// The pin holds a program or link, not a map.
    #[error("{path} is not a BPF map ({kind})")]
    NotAMap {
        /// The pin.
        path: PathBuf,
        /// What the descriptor is (`anon_inode:bpf-prog`).
        kind: String,
    },
    /// A lookup key whose size is not the map's key size.
    #[error("{path}: key of {got} bytes given, map has {want}")]
    KeySize {
        /// The pin.
        path: PathBuf,
        /// Bytes given.
        got: usize,
        /// The map's key size.
        want: u32,
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
    // SAFETY: `st` is a writable statfs the kernel fills; `c` is a NUL-terminated path.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_type as i64 == BPF_FS_MAGIC)
}

/// What `BPF_OBJ_GET_INFO_BY_FD` reports about a map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapInfo {
    /// `enum bpf_map_type` (see [`map_type`]).
    pub map_type: u32,
    /// The kernel's map ID.
    pub id: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes (of one CPU's slot for per-CPU maps).
    pub value_size: u32,
    /// `max_entries`.
    pub max_entries: u32,
    /// `map_flags` (`BPF_F_NO_PREALLOC`, …).
    pub flags: u32,
    /// The kernel's name of the map (at most 15 characters).
    pub name: String,
}

/// A key and its value (one element per possible CPU for per-CPU maps).
pub type RawEntry = (Vec<u8>, Vec<Vec<u8>>);

/// A pinned map opened read-only.
#[derive(Debug)]
pub struct Map {
    fd: OwnedFd,
    /// Where it is pinned.
    pub path: PathBuf,
    /// Its type and sizes.
    pub info: MapInfo,
}

impl AsRawFd for Map {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

fn sys_bpf(cmd: libc::c_long, attr: &mut [u64]) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a zero-padded, 8-byte aligned buffer large enough for the attribute union of every command
    // used here, and every pointer inside it refers to a live buffer of the size the kernel expects.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.as_mut_ptr(),
            std::mem::size_of_val(attr) as libc::c_uint,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Number of possible CPUs, the stride count of per-CPU map values.
pub fn possible_cpus() -> io::Result<usize> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible")?;
    parse_cpu_list(text.trim()).ok_or_else(|| io::Error::other(format!("bad cpu list {text:?}")))
}

fn parse_cpu_list(s: &str) -> Option<usize> {
    let mut max = None;
    for part in s.split(',') {
        let hi = match part.split_once('-') {
            Some((_, hi)) => hi.parse::<usize>().ok()?,
            None => part.parse::<usize>().ok()?,
        };
        max = Some(max.map_or(hi, |m: usize| m.max(hi)));
    }
    max.map(|m| m + 1)
}

impl Map {
    /// Opens a pinned map read-only and reads its type and sizes.
    pub fn open(path: &Path) -> Result<Map, BpfError> {
        let cpath =
            CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| BpfError::Open {
                path: path.into(),
                source: io::Error::from(io::ErrorKind::InvalidInput),
            })?;
        let mut attr = [0u64; 3];
        attr[0] = cpath.as_ptr() as u64;
        attr[1] = (BPF_F_RDONLY as u64) << 32;
        let fd = sys_bpf(BPF_OBJ_GET, &mut attr).map_err(|source| {
            let path = path.to_path_buf();
            // The kernel answers EACCES for any file that is not a bpffs inode: say what is really wrong.
            if source.raw_os_error() == Some(libc::EACCES) && is_on_bpffs(&path).ok() == Some(false)
            {
                BpfError::NotOnBpffs { path }
            } else if is_denied(&source) {
                BpfError::Denied { path, source }
            } else {
                BpfError::Open { path, source }
            }
        })?;
        // SAFETY: BPF_OBJ_GET returned a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // Programs and links can be pinned next to maps; their info must not be read as a map's.
        let kind =
            std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap_or_default();
        if kind.as_os_str() != "anon_inode:bpf-map" {
            return Err(BpfError::NotAMap {
                path: path.into(),
                kind: kind.display().to_string(),
            });
        }
        let info = map_info(&fd).map_err(|source| BpfError::Info {
            path: path.into(),
            source,
        })?;
        Ok(Map {
            fd,
            path: path.into(),
            info,
        })
    }

    fn read_err(&self, source: io::Error) -> BpfError {
        BpfError::Read {
            path: self.path.clone(),
            source,
        }
    }

    fn value_buf_len(&self) -> io::Result<usize> {
        let v = self.info.value_size as usize;
        if map_type::is_per_cpu(self.info.map_type) {
            Ok(v.div_ceil(8) * 8 * possible_cpus()?)
        } else {
            Ok(v)
        }
    }

    /// Raw lookup. For per-CPU maps the result holds one 8-byte aligned slot per possible CPU.
    pub fn lookup_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, BpfError> {
        if key.len() != self.info.key_size as usize {
            return Err(BpfError::KeySize {
                path: self.path.clone(),
                got: key.len(),
                want: self.info.key_size,
            });
        }
        let mut value = vec![0u8; self.value_buf_len().map_err(|e| self.read_err(e))?];
        let mut attr = [0u64; 4];
        attr[0] = self.fd.as_raw_fd() as u64;
        attr[1] = key.as_ptr() as u64;
        attr[2] = value.as_mut_ptr() as u64;
        match sys_bpf(BPF_MAP_LOOKUP_ELEM, &mut attr) {
            Ok(_) => Ok(Some(value)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(self.read_err(e)),
        }
    }

    /// Lookup returning per-CPU slices (one element for ordinary maps).
    pub fn lookup(&self, key: &[u8]) -> Result<Option<Vec<Vec<u8>>>, BpfError> {
        Ok(self.lookup_raw(key)?.map(|raw| self.split_per_cpu(&raw)))
    }

    fn split_per_cpu(&self, raw: &[u8]) -> Vec<Vec<u8>> {
        let v = self.info.value_size as usize;
        if map_type::is_per_cpu(self.info.map_type) {
            let stride = v.div_ceil(8) * 8;
            raw.chunks(stride).map(|c| c[..v].to_vec()).collect()
        } else {
            vec![raw.to_vec()]
        }
    }

    fn next_key(&self, key: Option<&[u8]>) -> Result<Option<Vec<u8>>, BpfError> {
        let mut next = vec![0u8; self.info.key_size as usize];
        let mut attr = [0u64; 4];
        attr[0] = self.fd.as_raw_fd() as u64;
        attr[1] = key.map_or(0, |k| k.as_ptr() as u64);
        attr[2] = next.as_mut_ptr() as u64;
        match sys_bpf(BPF_MAP_GET_NEXT_KEY, &mut attr) {
            Ok(_) => Ok(Some(next)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(self.read_err(e)),
        }
    }

    /// All entries as (key, per-CPU values). Entries deleted between `GET_NEXT_KEY` and lookup (live LRU maps) are
    /// skipped; a key seen twice is reported once.
    pub fn entries(&self) -> Result<Vec<RawEntry>, BpfError> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut cur: Option<Vec<u8>> = None;
        // Bound the walk: a map being rewritten under us must not loop forever.
        let limit = self.info.max_entries as usize * 2 + 16;
        while let Some(k) = self.next_key(cur.as_deref())? {
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

fn map_info(fd: &OwnedFd) -> io::Result<MapInfo> {
    // struct bpf_map_info is ~100 bytes; ask for the stable prefix we decode.
    let mut buf = [0u8; 88];
    let mut attr = [0u64; 2];
    attr[0] = fd.as_raw_fd() as u64 | ((buf.len() as u64) << 32);
    attr[1] = buf.as_mut_ptr() as u64;
    sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    let u = |o: usize| u32::from_ne_bytes(buf[o..o + 4].try_into().unwrap());
    let name_bytes = &buf[24..40];
    let end = name_bytes.iter().position(|&b| b == 0).unwrap_or(16);
    Ok(MapInfo {
        map_type: u(0),
        id: u(4),
        key_size: u(8),
        value_size: u(12),
        max_entries: u(16),
        flags: u(20),
        name: String::from_utf8_lossy(&name_bytes[..end]).into_owned(),
    })
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
    fn cpu_list() {
        assert_eq!(parse_cpu_list("0-1"), Some(2));
        assert_eq!(parse_cpu_list("0"), Some(1));
        assert_eq!(parse_cpu_list("0-3,5-7"), Some(8));
        assert_eq!(parse_cpu_list("x"), None);
    }

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
