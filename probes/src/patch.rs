//! Patching linked instructions before a load (the tracepoint programs' id marker).
use aya_obj::generated::bpf_insn;

/// The instruction `dst = imm` (BPF_ALU64 | BPF_MOV | BPF_K).
const MOV64_IMM: u8 = 0xb7;

/// Replaces the immediate of every `rX = marker` instruction with `value`; returns how many it patched.
pub(crate) fn patch_mov_imm(insns: &mut [bpf_insn], marker: i32, value: i32) -> usize {
    let mut n = 0;
    for insn in insns.iter_mut() {
        if insn.code == MOV64_IMM && insn.imm == marker {
            insn.imm = value;
            n += 1;
        }
    }
    n
}
