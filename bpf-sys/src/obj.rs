//! BPF objects by path and by id: `BPF_OBJ_GET`, `BPF_OBJ_PIN`, `BPF_*_GET_NEXT_ID`, `BPF_*_GET_FD_BY_ID` and
//! `BPF_OBJ_GET_INFO_BY_FD`.
use crate::error::{Errno, Error};
use crate::sys::{attr, bpf, bpf_fd, cpath};
use crate::uapi::{bpf_cmd, bpf_link_info, bpf_map_info, bpf_prog_info};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// A kind of BPF object with its own id space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Programs.
    Prog,
    /// Maps.
    Map,
    /// Links.
    Link,
    /// BTF objects (vmlinux, modules, loaded programs' BTF).
    Btf,
}

impl Kind {
    fn next_id_cmd(self) -> bpf_cmd {
        match self {
            Kind::Prog => bpf_cmd::BPF_PROG_GET_NEXT_ID,
            Kind::Map => bpf_cmd::BPF_MAP_GET_NEXT_ID,
            Kind::Link => bpf_cmd::BPF_LINK_GET_NEXT_ID,
            Kind::Btf => bpf_cmd::BPF_BTF_GET_NEXT_ID,
        }
    }

    fn fd_by_id_cmd(self) -> bpf_cmd {
        match self {
            Kind::Prog => bpf_cmd::BPF_PROG_GET_FD_BY_ID,
            Kind::Map => bpf_cmd::BPF_MAP_GET_FD_BY_ID,
            Kind::Link => bpf_cmd::BPF_LINK_GET_FD_BY_ID,
            Kind::Btf => bpf_cmd::BPF_BTF_GET_FD_BY_ID,
        }
    }
}

/// `BPF_OBJ_GET`: opens the object pinned at `path` (in a bpffs). `flags` is 0 or `BPF_F_RDONLY`/`BPF_F_WRONLY`
/// (maps only).
pub fn obj_get(path: &Path, flags: u32) -> Result<OwnedFd, Error> {
    let p = cpath(path)?;
    let mut a = attr();
    a.__bindgen_anon_4.pathname = p.as_ptr() as u64;
    a.__bindgen_anon_4.file_flags = flags;
    bpf_fd(bpf_cmd::BPF_OBJ_GET, &mut a)
}

/// `BPF_OBJ_PIN`: pins the object behind `fd` at `path` (in a bpffs); it lives until the file is removed.
pub fn obj_pin(fd: BorrowedFd<'_>, path: &Path) -> Result<(), Error> {
    let p = cpath(path)?;
    let mut a = attr();
    a.__bindgen_anon_4.pathname = p.as_ptr() as u64;
    a.__bindgen_anon_4.bpf_fd = fd.as_raw_fd() as u32;
    bpf(bpf_cmd::BPF_OBJ_PIN, &mut a)
        .map(drop)
        .map_err(|errno| Error::Bpf {
            cmd: bpf_cmd::BPF_OBJ_PIN,
            errno,
        })
}

/// `BPF_*_GET_NEXT_ID`: the smallest id of `kind` above `start`, `None` after the last.
pub fn next_id(kind: Kind, start: u32) -> Result<Option<u32>, Error> {
    let mut a = attr();
    a.__bindgen_anon_6.__bindgen_anon_1.start_id = start;
    match bpf(kind.next_id_cmd(), &mut a) {
        // SAFETY: reading the integer the kernel wrote back.
        Ok(_) => Ok(Some(unsafe { a.__bindgen_anon_6.next_id })),
        Err(Errno(libc::ENOENT)) => Ok(None),
        Err(errno) => Err(Error::Bpf {
            cmd: kind.next_id_cmd(),
            errno,
        }),
    }
}

/// Every id of `kind` in the kernel now, ascending.
pub fn ids(kind: Kind) -> Result<Vec<u32>, Error> {
    let mut out = Vec::new();
    let mut cur = 0;
    while let Some(id) = next_id(kind, cur)? {
        out.push(id);
        cur = id;
    }
    Ok(out)
}

/// `BPF_*_GET_FD_BY_ID`: opens the object of `kind` with `id` (ENOENT once it is gone).
pub fn fd_by_id(kind: Kind, id: u32) -> Result<OwnedFd, Error> {
    let mut a = attr();
    a.__bindgen_anon_6.__bindgen_anon_1.start_id = id;
    bpf_fd(kind.fd_by_id_cmd(), &mut a)
}

/// Fails with [`Error::WrongKind`] unless `fd` is a BPF object of `kind`: `BPF_OBJ_GET_INFO_BY_FD` answers for
/// every kind with that kind's struct, so asking a program fd for link info would return garbage.
pub fn check_kind(fd: BorrowedFd<'_>, kind: Kind) -> Result<(), Error> {
    let (want, inode) = match kind {
        Kind::Prog => ("program", "anon_inode:bpf-prog"),
        Kind::Map => ("map", "anon_inode:bpf-map"),
        Kind::Link => ("link", "anon_inode:bpf_link"),
        Kind::Btf => ("BTF object", "anon_inode:btf"),
    };
    let got = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    if got == inode {
        Ok(())
    } else {
        Err(Error::WrongKind { want, got })
    }
}

/// `BPF_OBJ_GET_INFO_BY_FD` into `info`, an info struct the kernel fills up to the length it knows.
fn obj_info<T>(fd: BorrowedFd<'_>, kind: Kind, info: &mut T) -> Result<(), Error> {
    check_kind(fd, kind)?;
    let mut a = attr();
    a.info.bpf_fd = fd.as_raw_fd() as u32;
    a.info.info_len = std::mem::size_of::<T>() as u32;
    a.info.info = info as *mut T as u64;
    bpf(bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, &mut a)
        .map(drop)
        .map_err(|errno| Error::Bpf {
            cmd: bpf_cmd::BPF_OBJ_GET_INFO_BY_FD,
            errno,
        })
}

macro_rules! info_fn {
    ($(#[$doc:meta])* $name:ident, $kind:expr, $ty:ty) => {
        $(#[$doc])*
        pub fn $name(fd: BorrowedFd<'_>) -> Result<$ty, Error> {
            // SAFETY: the info structs are plain integers (and unions of them); zero is valid for each.
            let mut info: $ty = unsafe { std::mem::zeroed() };
            obj_info(fd, $kind, &mut info)?;
            Ok(info)
        }
    };
}

info_fn!(
    /// `bpf_prog_info` of a program fd (fields newer than the running kernel stay zero). Arrays the struct can
    /// point to (`map_ids`, `func_info`, ...) are not requested.
    prog_info,
    Kind::Prog,
    bpf_prog_info
);
info_fn!(
    /// `bpf_map_info` of a map fd.
    map_info,
    Kind::Map,
    bpf_map_info
);
info_fn!(
    /// `bpf_link_info` of a link fd (its type-specific union is filled for the link's type, without the arrays
    /// it can point to).
    link_info,
    Kind::Link,
    bpf_link_info
);

/// The NUL-terminated object name of an info struct (`name` of `bpf_prog_info`, `bpf_map_info`) as a string.
pub fn name_of(name: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}
