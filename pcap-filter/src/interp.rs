//! An eBPF interpreter for the instructions the compiler emits, with the splice ABI:
//! r1 = buf (2048 bytes), r2 = caplen, r3 = wirelen, r4 = l3, r10 = frame pointer.
//! It refuses what the verifier would refuse at run time (out-of-bounds access, unknown
//! opcodes, jumps out of the program, a run that does not end), so a passing test means the
//! program is well-formed too.

use crate::codegen::FILTER_BUF_SIZE;
use crate::insn::*;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InterpError {
    #[error("instruction {0}: unsupported opcode {1:#04x}")]
    BadOpcode(usize, u8),
    #[error("instruction {0}: memory access out of bounds")]
    OutOfBounds(usize),
    #[error("instruction {0}: jump out of the program")]
    BadJump(usize),
    #[error("more than {MAX_STEPS} instructions run")]
    TooLong,
    #[error("program ran off its end")]
    NoExit,
}

/// Runs longer than this are refused (the `protochain` loop, the only one, runs a few thousand).
const MAX_STEPS: usize = 1 << 20;

const BUF_BASE: u64 = 0x1000_0000;
const STACK_BASE: u64 = 0x2000_0000;
const STACK_SIZE: u64 = 512;

/// Run `insns` on a packet. `packet` is the captured bytes from the header `l3` names;
/// `wirelen` its length on the wire.
pub fn run(insns: &[Insn], packet: &[u8], wirelen: u32, l3: bool) -> Result<u64, InterpError> {
    let mut buf = vec![0u8; FILTER_BUF_SIZE as usize];
    let caplen = packet.len().min(FILTER_BUF_SIZE as usize);
    buf[..caplen].copy_from_slice(&packet[..caplen]);
    let mut stack = vec![0u8; STACK_SIZE as usize];
    let mut r = [0u64; 11];
    r[1] = BUF_BASE;
    r[2] = caplen as u64;
    r[3] = wirelen as u64;
    r[4] = l3 as u64;
    r[10] = STACK_BASE + STACK_SIZE;
    let mut pc = 0usize;
    let mut steps = 0usize;
    while pc < insns.len() {
        steps += 1;
        if steps > MAX_STEPS {
            return Err(InterpError::TooLong);
        }
        let i = insns[pc];
        let (dst, src) = (i.dst as usize & 0xf, i.src as usize & 0xf);
        if dst > 10 || src > 10 {
            return Err(InterpError::BadOpcode(pc, i.code));
        }
        let class = i.class();
        match class {
            BPF_ALU | BPF_ALU64 => {
                let op = i.code & 0xf0;
                if op == END {
                    let v = r[dst];
                    r[dst] = match (i.code & 0x08 != 0, i.imm) {
                        (true, 16) => (v as u16).swap_bytes() as u64,
                        (true, 32) => (v as u32).swap_bytes() as u64,
                        (true, 64) => v.swap_bytes(),
                        (false, 16) => v as u16 as u64,
                        (false, 32) => v as u32 as u64,
                        (false, 64) => v,
                        _ => return Err(InterpError::BadOpcode(pc, i.code)),
                    };
                    pc += 1;
                    continue;
                }
                let s = if i.code & BPF_X != 0 {
                    r[src]
                } else {
                    i.imm as i64 as u64
                };
                let d = r[dst];
                // Each width written out, as the kernel's interpreter has it (the duplicates tool pairs the two
                // arms): 32-bit results are not 64-bit ones truncated (shifts mask by 31, DIV/MOD see 32 bits), and
                // this is the oracle the generated code is checked against, so it stays plain to read.
                let v = if class == BPF_ALU64 {
                    match op {
                        ADD => d.wrapping_add(s),
                        SUB => d.wrapping_sub(s),
                        MUL => d.wrapping_mul(s),
                        DIV => d.checked_div(s).unwrap_or(0),
                        MOD => d.checked_rem(s).unwrap_or(d),
                        OR => d | s,
                        AND => d & s,
                        XOR => d ^ s,
                        LSH => d.wrapping_shl(s as u32 & 63),
                        RSH => d.wrapping_shr(s as u32 & 63),
                        NEG => d.wrapping_neg(),
                        MOV => s,
                        _ => return Err(InterpError::BadOpcode(pc, i.code)),
                    }
                } else {
                    let (d, s) = (d as u32, s as u32);
                    (match op {
                        ADD => d.wrapping_add(s),
                        SUB => d.wrapping_sub(s),
                        MUL => d.wrapping_mul(s),
                        DIV => d.checked_div(s).unwrap_or(0),
                        MOD => d.checked_rem(s).unwrap_or(d),
                        OR => d | s,
                        AND => d & s,
                        XOR => d ^ s,
                        LSH => d.wrapping_shl(s & 31),
                        RSH => d.wrapping_shr(s & 31),
                        NEG => d.wrapping_neg(),
                        MOV => s,
                        _ => return Err(InterpError::BadOpcode(pc, i.code)),
                    }) as u64
                };
                r[dst] = v;
                pc += 1;
            }
            BPF_LDX | BPF_STX => {
                if i.code & 0xe0 != BPF_MEM {
                    return Err(InterpError::BadOpcode(pc, i.code));
                }
                let size = mem_size(i.code) as u64;
                let base = if class == BPF_LDX { r[src] } else { r[dst] };
                let addr = base.wrapping_add(i.off as i64 as u64);
                let (mem, off): (&mut [u8], u64) =
                    if addr >= BUF_BASE && addr + size <= BUF_BASE + FILTER_BUF_SIZE as u64 {
                        (&mut buf, addr - BUF_BASE)
                    } else if addr >= STACK_BASE && addr + size <= STACK_BASE + STACK_SIZE {
                        (&mut stack, addr - STACK_BASE)
                    } else {
                        return Err(InterpError::OutOfBounds(pc));
                    };
                let off = off as usize;
                if class == BPF_LDX {
                    let mut b = [0u8; 8];
                    b[..size as usize].copy_from_slice(&mem[off..off + size as usize]);
                    r[dst] = u64::from_le_bytes(b);
                } else {
                    let b = r[src].to_le_bytes();
                    mem[off..off + size as usize].copy_from_slice(&b[..size as usize]);
                }
                pc += 1;
            }
            BPF_JMP | BPF_JMP32 => {
                let op = i.code & 0xf0;
                if op == EXIT {
                    return Ok(r[0]);
                }
                let s = if i.code & BPF_X != 0 {
                    r[src]
                } else {
                    i.imm as i64 as u64
                };
                let taken = match op {
                    JA => true,
                    _ => taken(op, class == BPF_JMP32, r[dst], s)
                        .ok_or(InterpError::BadOpcode(pc, i.code))?,
                };
                let to = if taken {
                    pc as i64 + 1 + i.off as i64
                } else {
                    pc as i64 + 1
                };
                if to < 0 || to >= insns.len() as i64 {
                    return Err(InterpError::BadJump(pc));
                }
                pc = to as usize;
            }
            _ => return Err(InterpError::BadOpcode(pc, i.code)),
        }
    }
    Err(InterpError::NoExit)
}
