//! One program by id: its type, its name from its BTF (the main function's `func_info` record) and its JITed
//! code.
use super::{Hook, Prog};
use bpf_sys::obj::{self, Kind, Want};
use std::os::fd::{AsFd, OwnedFd};

/// A tc or XDP program, open.
pub(crate) struct Described {
    pub fd: OwnedFd,
    pub prog: Prog,
    /// BTF type id of its main function (the fentry/fexit `attach_btf_id`), `None` without BTF.
    pub func: Option<u32>,
    /// Whether it runs JIT-compiled (trampolines need that).
    pub jited: bool,
}

/// Opens program `id`; `Ok(None)` when it is gone or not a tc/XDP program.
pub(crate) fn describe(id: u32) -> Result<Option<Described>, bpf_sys::Error> {
    let fd = match obj::fd_by_id(Kind::Prog, id) {
        Ok(fd) => fd,
        Err(e) if e.errno().is_some_and(|n| n.raw() == libc::ENOENT) => return Ok(None),
        Err(e) => return Err(e),
    };
    let info = obj::prog_info(fd.as_fd())?;
    let Some(hook) = Hook::of(info.type_) else {
        return Ok(None);
    };
    let arrays = obj::prog_arrays(
        fd.as_fd(),
        Want {
            func_info: true,
            jited: true,
            ..Want::default()
        },
    )?;
    let kernel_name = obj::name_of(&info.name);
    let func = arrays
        .func_info
        .iter()
        .find(|f| f.insn_off == 0)
        .map(|f| f.type_id)
        .filter(|_| info.btf_id != 0);
    let name = func
        .and_then(|f| btf_func_name(info.btf_id, f))
        .unwrap_or(kernel_name);
    let jited_ranges = arrays
        .jited_ksyms
        .iter()
        .zip(&arrays.jited_func_lens)
        .map(|(&a, &l)| (a, l))
        .collect();
    Ok(Some(Described {
        fd,
        prog: Prog {
            id,
            hook,
            name,
            jited: jited_ranges,
        },
        func,
        jited: info.jited_prog_len > 0,
    }))
}

/// The name of FUNC `type_id` in BTF object `btf_id`.
fn btf_func_name(btf_id: u32, type_id: u32) -> Option<String> {
    let fd = obj::fd_by_id(Kind::Btf, btf_id).ok()?;
    let bytes = obj::btf_bytes(fd.as_fd()).ok()?;
    let btf = symbols::Btf::from_bytes(bytes).ok()?;
    btf.func_name(type_id).map(str::to_string)
}
