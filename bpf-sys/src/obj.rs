//! BPF objects by path and by id: `BPF_OBJ_GET`, `BPF_OBJ_PIN`, `BPF_*_GET_NEXT_ID`, `BPF_*_GET_FD_BY_ID` and
//! `BPF_OBJ_GET_INFO_BY_FD`.
use crate::error::{Errno, Error};
use crate::sys::{attr, bpf, bpf_fd, cpath};
use crate::uapi::{
    bpf_btf_info, bpf_cmd, bpf_func_info, bpf_insn, bpf_link_info, bpf_map_info, bpf_prog_info,
};
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

/// Which arrays [`prog_arrays`] fetches.
#[derive(Clone, Copy, Debug, Default)]
pub struct Want {
    /// `func_info`: (instruction offset, BTF type id) of each function, the main one first.
    pub func_info: bool,
    /// The translated instructions (as the verifier left them: helper calls hold the helper's offset from
    /// `__bpf_call_base`). The kernel hands them out only when raw dumps are allowed (`kptr_restrict`).
    pub xlated: bool,
    /// The JITed functions' start addresses and lengths.
    pub jited: bool,
}

/// A program's info and the arrays [`Want`] asked for (empty when not asked or the program has none).
#[derive(Clone, Debug)]
pub struct ProgArrays {
    /// The info struct.
    pub info: bpf_prog_info,
    /// `func_info` records.
    pub func_info: Vec<bpf_func_info>,
    /// Translated instructions.
    pub xlated: Vec<bpf_insn>,
    /// Start address of each JITed function (0s when kernel addresses are hidden).
    pub jited_ksyms: Vec<u64>,
    /// Length of each JITed function.
    pub jited_func_lens: Vec<u32>,
}

/// `bpf_prog_info` of a program fd with the arrays `want` names: one call for the counts, one for the arrays.
pub fn prog_arrays(fd: BorrowedFd<'_>, want: Want) -> Result<ProgArrays, Error> {
    let first = prog_info(fd)?;
    // SAFETY: zero is valid for every field of the info struct.
    let mut info: bpf_prog_info = unsafe { std::mem::zeroed() };
    let rec = std::mem::size_of::<bpf_func_info>();
    let mut func_info = vec![
        bpf_func_info {
            insn_off: 0,
            type_id: 0
        };
        if want.func_info {
            first.nr_func_info as usize
        } else {
            0
        }
    ];
    let insn = std::mem::size_of::<bpf_insn>();
    let n_insns = if want.xlated {
        first.xlated_prog_len as usize / insn
    } else {
        0
    };
    // SAFETY: bpf_insn is plain integers (and a bitfield byte); zero is valid.
    let mut xlated: Vec<bpf_insn> = vec![unsafe { std::mem::zeroed() }; n_insns];
    let mut ksyms = vec![
        0u64;
        if want.jited {
            first.nr_jited_ksyms as usize
        } else {
            0
        }
    ];
    let mut lens = vec![
        0u32;
        if want.jited {
            first.nr_jited_func_lens as usize
        } else {
            0
        }
    ];
    if !func_info.is_empty() {
        info.nr_func_info = func_info.len() as u32;
        info.func_info_rec_size = rec as u32;
        info.func_info = func_info.as_mut_ptr() as u64;
    }
    if !xlated.is_empty() {
        info.xlated_prog_len = (xlated.len() * insn) as u32;
        info.xlated_prog_insns = xlated.as_mut_ptr() as u64;
    }
    if !ksyms.is_empty() {
        info.nr_jited_ksyms = ksyms.len() as u32;
        info.jited_ksyms = ksyms.as_mut_ptr() as u64;
    }
    if !lens.is_empty() {
        info.nr_jited_func_lens = lens.len() as u32;
        info.jited_func_lens = lens.as_mut_ptr() as u64;
    }
    obj_info(fd, Kind::Prog, &mut info)?;
    // The kernel writes at most the counts we gave; it reports what it has (a dump refused: 0 bytes written).
    func_info.truncate(info.nr_func_info as usize);
    if info.xlated_prog_insns == 0 {
        xlated.clear();
    }
    ksyms.truncate(info.nr_jited_ksyms as usize);
    lens.truncate(info.nr_jited_func_lens as usize);
    Ok(ProgArrays {
        info,
        func_info,
        xlated,
        jited_ksyms: ksyms,
        jited_func_lens: lens,
    })
}

/// The raw BTF of a BTF object fd (`bpf_btf_info.btf`): a header, types and strings.
pub fn btf_bytes(fd: BorrowedFd<'_>) -> Result<Vec<u8>, Error> {
    // SAFETY: zero is valid for every field of the info struct.
    let mut info: bpf_btf_info = unsafe { std::mem::zeroed() };
    obj_info(fd, Kind::Btf, &mut info)?;
    let mut data = vec![0u8; info.btf_size as usize];
    // SAFETY: as above.
    let mut info: bpf_btf_info = unsafe { std::mem::zeroed() };
    info.btf = data.as_mut_ptr() as u64;
    info.btf_size = data.len() as u32;
    obj_info(fd, Kind::Btf, &mut info)?;
    data.truncate(info.btf_size as usize);
    Ok(data)
}

/// The NUL-terminated object name of an info struct (`name` of `bpf_prog_info`, `bpf_map_info`) as a string.
pub fn name_of(name: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}
