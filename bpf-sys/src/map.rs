//! Maps: [`Map`] holds a map fd with its sizes, so that lookups, updates, deletes and key walks on byte slices are
//! checked against what the kernel will read or write.
use crate::error::{Errno, Error};
use crate::obj::{self, Kind};
use crate::sys::{attr, bpf, bpf_fd, set_name};
use crate::uapi::{bpf_cmd, bpf_map_type};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

/// What `BPF_OBJ_GET_INFO_BY_FD` says about a map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapInfo {
    /// `BPF_MAP_TYPE_*` as a number (the kernel may know types the bindings do not).
    pub map_type: u32,
    /// The map's kernel id.
    pub id: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes (per CPU, for per-CPU maps).
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
    /// `BPF_F_*` creation flags.
    pub flags: u32,
    /// The kernel object name (up to 15 bytes).
    pub name: String,
}

/// Whether maps of `map_type` hold one value per possible CPU.
pub fn is_per_cpu(map_type: u32) -> bool {
    use bpf_map_type::*;
    [
        BPF_MAP_TYPE_PERCPU_HASH,
        BPF_MAP_TYPE_PERCPU_ARRAY,
        BPF_MAP_TYPE_LRU_PERCPU_HASH,
        BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE_DEPRECATED,
    ]
    .iter()
    .any(|&t| t as u32 == map_type)
}

/// The number of possible CPUs (`/sys/devices/system/cpu/possible`): how many values a per-CPU lookup returns.
pub fn possible_cpus() -> Result<usize, Error> {
    let path = "/sys/devices/system/cpu/possible";
    let text = std::fs::read_to_string(path).map_err(|source| Error::File {
        path: path.into(),
        source,
    })?;
    parse_cpu_list(text.trim()).ok_or_else(|| Error::File {
        path: path.into(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{text:?}")),
    })
}

/// `0-3,8-11` -> 12 (the highest CPU number plus one).
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

/// The arguments of `BPF_MAP_CREATE`.
#[derive(Clone, Copy, Debug)]
pub struct MapSpec<'a> {
    /// The map type.
    pub map_type: bpf_map_type,
    /// The kernel object name (truncated to 15 bytes).
    pub name: &'a str,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
    /// `BPF_F_*` flags (`BPF_F_NO_PREALLOC`, ...).
    pub flags: u32,
    /// The inner map of a map-of-maps.
    pub inner_map: Option<BorrowedFd<'a>>,
}

impl<'a> MapSpec<'a> {
    /// A map without flags or inner map.
    pub fn new(
        map_type: bpf_map_type,
        name: &'a str,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
    ) -> Self {
        MapSpec {
            map_type,
            name,
            key_size,
            value_size,
            max_entries,
            flags: 0,
            inner_map: None,
        }
    }
}

/// A map fd and what the kernel said about it.
#[derive(Debug)]
pub struct Map {
    fd: OwnedFd,
    info: MapInfo,
    /// Bytes one lookup writes: value_size, or for per-CPU maps value_size rounded up to 8, times the CPUs.
    value_len: usize,
}

impl Map {
    /// `BPF_MAP_CREATE`.
    pub fn create(spec: &MapSpec<'_>) -> Result<Map, Error> {
        let mut a = attr();
        // SAFETY: plain integer fields of the member BPF_MAP_CREATE reads.
        unsafe {
            let m = &mut a.__bindgen_anon_1;
            m.map_type = spec.map_type as u32;
            m.key_size = spec.key_size;
            m.value_size = spec.value_size;
            m.max_entries = spec.max_entries;
            m.map_flags = spec.flags;
            m.inner_map_fd = spec.inner_map.map_or(0, |fd| fd.as_raw_fd() as u32);
            set_name(&mut m.map_name, spec.name);
        }
        Map::from_fd(bpf_fd(bpf_cmd::BPF_MAP_CREATE, &mut a)?)
    }

    /// Opens the map pinned at `path` (`flags`: 0, `BPF_F_RDONLY` or `BPF_F_WRONLY`). A pinned program or link
    /// is [`Error::WrongKind`].
    pub fn open_pinned(path: &Path, flags: u32) -> Result<Map, Error> {
        Map::from_fd(obj::obj_get(path, flags)?)
    }

    /// Opens the map with kernel id `id`.
    pub fn from_id(id: u32) -> Result<Map, Error> {
        Map::from_fd(obj::fd_by_id(Kind::Map, id)?)
    }

    /// Takes a map fd and reads its info. Any other fd is [`Error::WrongKind`].
    pub fn from_fd(fd: OwnedFd) -> Result<Map, Error> {
        let i = obj::map_info(fd.as_fd())?;
        let info = MapInfo {
            map_type: i.type_,
            id: i.id,
            key_size: i.key_size,
            value_size: i.value_size,
            max_entries: i.max_entries,
            flags: i.map_flags,
            name: obj::name_of(&i.name),
        };
        let value_len = if is_per_cpu(info.map_type) {
            (info.value_size as usize).div_ceil(8) * 8 * possible_cpus()?
        } else {
            info.value_size as usize
        };
        Ok(Map {
            fd,
            info,
            value_len,
        })
    }

    /// What the kernel said about the map when it was opened.
    pub fn info(&self) -> &MapInfo {
        &self.info
    }

    /// The length of the value buffer [`Map::lookup`] and [`Map::update`] take: `value_size`, or for per-CPU maps
    /// one 8-byte aligned slot per possible CPU.
    pub fn value_len(&self) -> usize {
        self.value_len
    }

    /// The per-CPU values of a per-CPU lookup result (one slice, the whole buffer, for other maps).
    pub fn per_cpu<'v>(&self, value: &'v [u8]) -> Vec<&'v [u8]> {
        let v = self.info.value_size as usize;
        if is_per_cpu(self.info.map_type) && v > 0 {
            value.chunks(v.div_ceil(8) * 8).map(|c| &c[..v]).collect()
        } else {
            vec![value]
        }
    }

    /// Pins the map at `path`.
    pub fn pin(&self, path: &Path) -> Result<(), Error> {
        obj::obj_pin(self.fd.as_fd(), path)
    }

    fn check(&self, what: &'static str, got: usize, want: usize) -> Result<(), Error> {
        if got == want {
            Ok(())
        } else {
            Err(Error::Size { what, got, want })
        }
    }

    /// `BPF_MAP_*_ELEM` on key and value pointers; `Ok(false)` on ENOENT.
    fn elem(&self, cmd: bpf_cmd, key: u64, value: u64, flags: u64) -> Result<bool, Error> {
        let mut a = attr();
        // SAFETY: plain integer fields of the member the element commands read.
        unsafe {
            let e = &mut a.__bindgen_anon_2;
            e.map_fd = self.fd.as_raw_fd() as u32;
            e.key = key;
            e.__bindgen_anon_1.value = value;
            e.flags = flags;
        }
        match bpf(cmd, &mut a) {
            Ok(_) => Ok(true),
            Err(Errno(libc::ENOENT)) => Ok(false),
            Err(errno) => Err(Error::Bpf { cmd, errno }),
        }
    }

    /// `BPF_MAP_LOOKUP_ELEM` into `value` ([`Map::value_len`] bytes); `Ok(false)` when the key is absent.
    pub fn lookup(&self, key: &[u8], value: &mut [u8]) -> Result<bool, Error> {
        self.check("key", key.len(), self.info.key_size as usize)?;
        self.check("value", value.len(), self.value_len)?;
        self.elem(
            bpf_cmd::BPF_MAP_LOOKUP_ELEM,
            key.as_ptr() as u64,
            value.as_mut_ptr() as u64,
            0,
        )
    }

    /// [`Map::lookup`] into a new buffer.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let mut v = vec![0u8; self.value_len];
        Ok(self.lookup(key, &mut v)?.then_some(v))
    }

    /// `BPF_MAP_UPDATE_ELEM` (`flags`: `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`, `BPF_F_LOCK`).
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), Error> {
        self.check("key", key.len(), self.info.key_size as usize)?;
        self.check("value", value.len(), self.value_len)?;
        let cmd = bpf_cmd::BPF_MAP_UPDATE_ELEM;
        match self.elem(cmd, key.as_ptr() as u64, value.as_ptr() as u64, flags)? {
            true => Ok(()),
            // ENOENT from an update: BPF_EXIST on an absent key.
            false => Err(Error::Bpf {
                cmd,
                errno: Errno(libc::ENOENT),
            }),
        }
    }

    /// `BPF_MAP_FREEZE`: no more writes from user space; a frozen map created with `BPF_F_RDONLY_PROG` is a
    /// constant to the verifier (how `.rodata` configuration becomes dead-code elimination).
    pub fn freeze(&self) -> Result<(), Error> {
        let mut a = attr();
        // BPF_MAP_FREEZE reads only map_fd, the first field of the element commands' member.
        a.__bindgen_anon_2.map_fd = self.fd.as_raw_fd() as u32;
        let cmd = bpf_cmd::BPF_MAP_FREEZE;
        bpf(cmd, &mut a)
            .map(drop)
            .map_err(|errno| Error::Bpf { cmd, errno })
    }

    /// `BPF_MAP_DELETE_ELEM`; `Ok(false)` when the key was absent.
    pub fn delete(&self, key: &[u8]) -> Result<bool, Error> {
        self.check("key", key.len(), self.info.key_size as usize)?;
        self.elem(bpf_cmd::BPF_MAP_DELETE_ELEM, key.as_ptr() as u64, 0, 0)
    }

    /// `BPF_MAP_GET_NEXT_KEY`: the key after `key` (the first with `None`) into `next`; `Ok(false)` after the last.
    pub fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<bool, Error> {
        let ks = self.info.key_size as usize;
        if let Some(k) = key {
            self.check("key", k.len(), ks)?;
        }
        self.check("next key", next.len(), ks)?;
        self.elem(
            bpf_cmd::BPF_MAP_GET_NEXT_KEY,
            key.map_or(0, |k| k.as_ptr() as u64),
            next.as_mut_ptr() as u64,
            0,
        )
    }

    /// [`Map::next_key`] into a new buffer.
    pub fn next_key_vec(&self, key: Option<&[u8]>) -> Result<Option<Vec<u8>>, Error> {
        let mut next = vec![0u8; self.info.key_size as usize];
        Ok(self.next_key(key, &mut next)?.then_some(next))
    }
}

impl AsFd for Map {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Map {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0"), Some(1));
        assert_eq!(parse_cpu_list("0-3"), Some(4));
        assert_eq!(parse_cpu_list("0-3,8-11"), Some(12));
        assert_eq!(parse_cpu_list("x"), None);
    }
}
