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

pub fn insn_text(i: &Insn, pc: usize) -> String {
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
        BPF_LDX => {
            let ty = match i.code & 0x18 {
                BPF_B => "u8",
                BPF_H => "u16",
                BPF_W => "u32",
                _ => "u64",
            };
            format!("r{} = *({ty} *)(r{} {:+})", i.dst, i.src, i.off)
        }
        BPF_STX => format!("*(u64 *)(r{} {:+}) = r{}", i.dst, i.off, i.src),
        BPF_JMP | BPF_JMP32 => {
            let op = i.code & 0xf0;
            let target = pc as i64 + 1 + i.off as i64;
            match op {
                EXIT => "exit".to_string(),
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
    for (pc, i) in insns.iter().enumerate() {
        s.push_str(&format!("({pc:03}) {}\n", insn_text(i, pc)));
    }
    s
}
