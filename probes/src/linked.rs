//! The BPF object after aya created its maps: our own parsed copy, relocated against the kernel's BTF and
//! aya's map fds, from which the loader takes finished instruction streams for the programs it loads itself
//! (one tp_btf program per tracepoint, kprobe-multi programs, kprobes).
use crate::error::{ObjectError, ProbeError};
use aya::maps::Map;
use aya_obj::btf::Btf;
use aya_obj::generated::bpf_insn;
use bpf_sys::prog::ProgLoad;
use std::collections::HashSet;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

pub(crate) struct Linked {
    obj: aya_obj::Object,
}

pub(crate) fn map_fd(m: &Map) -> Option<RawFd> {
    use Map::*;
    let data = match m {
        Array(d) | HashMap(d) | LruHashMap(d) | PerCpuArray(d) | PerCpuHashMap(d) | RingBuf(d)
        | StackTraceMap(d) | Queue(d) => d,
        _ => return None,
    };
    Some(data.fd().as_fd().as_raw_fd())
}

impl Linked {
    /// Relocates `obj` (parsed and its globals patched) against the kernel's `btf` (CO-RE) and the fds of `maps`,
    /// created from the same object.
    pub(crate) fn new<'a>(
        mut obj: aya_obj::Object,
        btf: &Btf,
        maps: impl Iterator<Item = (&'a str, &'a Map)>,
    ) -> Result<Self, ProbeError> {
        obj.relocate_btf(btf).map_err(ObjectError::Core)?;
        let text: HashSet<usize> = obj.functions.keys().map(|(s, _)| *s).collect();
        let map_objs = obj.maps.clone();
        let fds: Vec<(&str, RawFd)> = maps
            .filter_map(|(n, m)| map_fd(m).map(|fd| (n, fd)))
            .collect();
        let mut with_obj = Vec::new();
        for (name, fd) in fds {
            if let Some(o) = map_objs.get(name) {
                with_obj.push((name, fd, o));
            }
        }
        obj.relocate_maps(with_obj.into_iter(), &text)
            .map_err(ObjectError::Relocation)?;
        // aya-obj 0.3 links each callee into a program once, remembering it by its offset within its section
        // alone, so two stubs at offset 0 of different sections (pcap_filter, btf_filter) would be linked as
        // one. That bookkeeping is all a function's address is used for here: put its section in the high bits.
        for ((section, _), f) in obj.functions.iter_mut() {
            f.address |= (*section as u64) << 32;
        }
        obj.relocate_calls(&text).map_err(ObjectError::Relocation)?;
        Ok(Linked { obj })
    }

    /// The linked instructions of program `name` (its own function plus the subprograms it calls).
    pub(crate) fn insns(&self, name: &str) -> Result<Vec<bpf_insn>, ProbeError> {
        let prog = self
            .obj
            .programs
            .get(name)
            .ok_or_else(|| ObjectError::Missing {
                kind: "program",
                name: name.to_string(),
            })?;
        Ok(self.obj.functions[&prog.function_key()]
            .instructions
            .clone())
    }
}

/// Loads a program with bpf-sys, turning failures into [`ProbeError::Permission`] or [`ProbeError::Verifier`].
pub(crate) fn load(spec: &ProgLoad<'_>) -> Result<OwnedFd, ProbeError> {
    bpf_sys::prog::prog_load(spec).map_err(ProbeError::load)
}
