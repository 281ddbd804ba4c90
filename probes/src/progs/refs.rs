//! Which BPF programs exist and how many references each has, in one read of a `bpf_prog` iterator
//! (`iter_prog_refs`); without the iterator, the ids alone (`BPF_PROG_GET_NEXT_ID`).
use crate::btf_subset::FUNC;
use crate::event::ProgRef;
use crate::kernel_btf::KernelTypes;
use crate::linked;
use aya_obj::generated::{bpf_attach_type, bpf_insn, bpf_prog_type};
use bpf_sys::obj::{self, Kind};
use bpf_sys::prog::ProgLoad;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};

/// References the iterator itself holds on the program it visits.
pub(crate) const ITER_REFS: i64 = 1;

/// The iterator, loaded and linked.
pub(crate) struct Refs {
    link: OwnedFd,
    _prog: OwnedFd,
}

impl Refs {
    /// Loads `iter_prog_refs` against the kernel's `bpf_iter_bpf_prog`; `Err(why)` where the kernel has no such
    /// iterator or refuses tracing programs.
    pub(crate) fn new(insns: &[bpf_insn], btf: &KernelTypes) -> Result<Refs, String> {
        let target = btf
            .id(FUNC, "bpf_iter_bpf_prog")
            .ok_or_else(|| "the kernel has no bpf_prog iterator".to_string())?;
        let mut spec = ProgLoad::new(
            bpf_prog_type::BPF_PROG_TYPE_TRACING,
            "pwru_prog_refs",
            insns,
        );
        spec.expected_attach_type = Some(bpf_attach_type::BPF_TRACE_ITER);
        spec.attach_btf_id = target;
        let prog = linked::load(&spec).map_err(|e| e.to_string())?;
        let link = bpf_sys::link::link_create(prog.as_fd(), 0, bpf_attach_type::BPF_TRACE_ITER, 0)
            .map_err(|e| format!("bpf_prog iterator link: {}", crate::backend::reason(&e)))?;
        Ok(Refs { link, _prog: prog })
    }

    /// Every program now, with its reference count.
    pub(crate) fn read(&self) -> Result<Vec<ProgRef>, String> {
        let fd = bpf_sys::link::iter_create(self.link.as_fd())
            .map_err(|e| format!("bpf_prog iterator: {}", crate::backend::reason(&e)))?;
        let mut f = std::fs::File::from(fd);
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)
            .map_err(|e| format!("reading the bpf_prog iterator: {e}"))?;
        Ok(ProgRef::parse_all(&buf))
    }
}

/// Every program id now, with its type and an unknown (-1) reference count.
pub(crate) fn by_id() -> Result<Vec<ProgRef>, bpf_sys::Error> {
    let mut out = Vec::new();
    for id in obj::ids(Kind::Prog)? {
        let Ok(fd) = obj::fd_by_id(Kind::Prog, id) else {
            continue; // gone meanwhile
        };
        if let Ok(info) = obj::prog_info(fd.as_fd()) {
            out.push(ProgRef {
                id,
                prog_type: info.type_,
                refcnt: -1,
            });
        }
    }
    Ok(out)
}
