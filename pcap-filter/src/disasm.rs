//! A readable listing of the generated eBPF, one instruction a line, in the kernel verifier's
//! notation (`r0 = *(u16 *)(r1 +12)`, `if w6 != 0x8 goto +3`).

use crate::insn::*;

fn alu_sym(op: u8) -> &'static str {
    match op {
        ADD => "+=",
        SUB => "-=",
        MUL => "*=",
        DIV => "/=",
        MOD => "%=",
        OR => "|=",
        AND => "&=",
        XOR => "^=",
        LSH => "<<=",
        RSH => ">>=",
        ARSH => "s>>=",
        MOV => "=",
        _ => "?=",
    }
}

fn jmp_sym(op: u8) -> &'static str {
    match op {
        JEQ => "==",
        JNE => "!=",
        JGT => ">",
        JGE => ">=",
        JLT => "<",
        JLE => "<=",
        JSET => "&",
        JSGT => "s>",
        JSGE => "s>=",
        JSLT => "s<",
        JSLE => "s<=",
        _ => "?",
    }
}

fn size_name(code: u8) -> &'static str {
    match code & 0x18 {
        BPF_B => "u8",
        BPF_H => "u16",
        BPF_W => "u32",
        _ => "u64",
    }
}

/// One instruction in the verifier's notation; `next` is the following slot (the upper half of an
/// `ld_imm64`).
pub fn insn_text(i: &Insn, pc: usize, next: Option<&Insn>) -> String {
    let class = i.class();
    let wide = |r: u8| format!("r{r}");
    let narrow = |r: u8| format!("w{r}");
    match class {
        BPF_ALU | BPF_ALU64 => {
            let reg = if class == BPF_ALU64 { wide } else { narrow };
            let op = i.code & 0xf0;
            if op == END {
                let dir = if i.code & 0x08 != 0 { "be" } else { "le" };
                return format!("r{} = {dir}{} r{}", i.dst, i.imm, i.dst);
            }
            if op == NEG {
                return format!("{} = -{}", reg(i.dst), reg(i.dst));
            }
            let src = if i.code & BPF_X != 0 {
                reg(i.src)
            } else {
                format!("{:#x}", i.imm)
            };
            format!("{} {} {}", reg(i.dst), alu_sym(op), src)
        }
        BPF_LDX => format!(
            "r{} = *({} *)(r{} {:+})",
            i.dst,
            size_name(i.code),
            i.src,
            i.off
        ),
        BPF_STX => format!(
            "*({} *)(r{} {:+}) = r{}",
            size_name(i.code),
            i.dst,
            i.off,
            i.src
        ),
        BPF_ST => format!(
            "*({} *)(r{} {:+}) = {:#x}",
            size_name(i.code),
            i.dst,
            i.off,
            i.imm
        ),
        BPF_LD if i.code == BPF_LD | BPF_IMM | BPF_DW => {
            let hi = next.map_or(0, |n| n.imm as u32 as u64);
            format!("r{} = {:#x} ll", i.dst, hi << 32 | i.imm as u32 as u64)
        }
        BPF_JMP | BPF_JMP32 => {
            let op = i.code & 0xf0;
            let target = pc as i64 + 1 + i.off as i64;
            match op {
                EXIT => "exit".to_string(),
                CALL => format!("call {}", i.imm),
                JA => format!("goto {target}"),
                _ => {
                    let reg = if class == BPF_JMP { wide } else { narrow };
                    let src = if i.code & BPF_X != 0 {
                        reg(i.src)
                    } else {
                        format!("{:#x}", i.imm as u32)
                    };
                    format!("if {} {} {} goto {target}", reg(i.dst), jmp_sym(op), src)
                }
            }
        }
        _ => format!("(unknown opcode {:#04x})", i.code),
    }
}

pub fn disassemble(insns: &[Insn]) -> String {
    let mut s = String::new();
    let mut pc = 0;
    while pc < insns.len() {
        let i = &insns[pc];
        s.push_str(&format!(
            "({pc:03}) {}\n",
            insn_text(i, pc, insns.get(pc + 1))
        ));
        // The upper half of an ld_imm64 is not an instruction of its own.
        pc += if i.code == BPF_LD | BPF_IMM | BPF_DW {
            2
        } else {
            1
        };
    }
    s
}
