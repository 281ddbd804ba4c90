//! The kernel functions a program calls, read from its translated instructions: after verification a helper
//! call's immediate is the helper's offset from `__bpf_call_base`, and map helpers are already rewritten into
//! calls of the map type's own operation (`htab_map_lookup_elem`), which is what runs. Calls the verifier
//! inlined (array lookups, some helpers) are not calls any more and cannot be probed.
use bpf_sys::obj::{self, Want};
use bpf_sys::uapi::bpf_insn;
use std::collections::BTreeSet;
use std::os::fd::BorrowedFd;
use symbols::Kallsyms;

const CALL: u8 = 0x85; // BPF_JMP | BPF_CALL
const PSEUDO_CALL: u8 = 1; // a call of one of the program's own functions

/// Left out: our own fentry/fexit programs call it before they can mark the CPU busy (bpf/common.h, PROG_STACK).
const OURS: &[&str] = &["bpf_get_smp_processor_id"];

/// Call targets (absolute addresses) in `insns`, given `__bpf_call_base`.
pub(crate) fn targets(insns: &[bpf_insn], call_base: u64) -> BTreeSet<u64> {
    insns
        .iter()
        .filter(|i| i.code == CALL && i.src_reg() != PSEUDO_CALL && i.imm != 0)
        .map(|i| call_base.wrapping_add(i.imm as i64 as u64))
        .collect()
}

/// Names of the kernel functions program `fd` calls; `Err` when its instructions cannot be read (kernel
/// addresses hidden: the immediates come back zeroed).
pub(crate) fn called(
    fd: BorrowedFd<'_>,
    ksyms: &Kallsyms,
    call_base: u64,
) -> Result<Vec<String>, String> {
    let a = obj::prog_arrays(
        fd,
        Want {
            xlated: true,
            ..Want::default()
        },
    )
    .map_err(|e| format!("reading its instructions: {e}"))?;
    let mut names = Vec::new();
    for addr in targets(&a.xlated, call_base) {
        // Only exact symbol starts: anything else is not a function entry a kprobe can take.
        if let Some(s) = ksyms.resolve(addr)
            && s.offset == 0
            && s.module.is_none()
            && !OURS.contains(&s.name)
        {
            names.push(s.name.to_string());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bpf_sys::prog::insn;

    #[test]
    fn helper_and_kfunc_calls_but_not_own_functions() {
        let base = 0xffff_ffff_8100_0000u64;
        let insns = [
            insn(CALL, 0, 0, 0, 0x1234),      // helper at base + 0x1234
            insn(CALL, 0, PSEUDO_CALL, 0, 7), // bpf-to-bpf call: ours
            insn(CALL, 0, 2, 0, -0x10),       // kfunc below the base
            insn(0xb7, 0, 0, 0, 0x1234),      // not a call
            insn(CALL, 0, 0, 0, 0),           // zeroed immediate (addresses hidden)
        ];
        let got: Vec<u64> = targets(&insns, base).into_iter().collect();
        assert_eq!(got, [base - 0x10, base + 0x1234]);
    }
}
