//! An eBPF interpreter for the generated functions, over a [`Memory`] image of kernel objects.
//!
//! Kernel memory is reached only through the two probe-read helpers, as in the kernel; the program's own
//! loads and stores may touch only its stack frame and the output area. Like the verifier, it refuses reads of
//! registers or stack bytes never written, misaligned or out-of-frame stack access, writes to r10, backward
//! jumps and unknown opcodes or helpers, so a passing test also says the program is well-formed.

use std::collections::BTreeMap;

use pcap_filter::insn::*;

use crate::codegen::{HELPER_PROBE_READ_KERNEL, HELPER_PROBE_READ_KERNEL_STR};

/// A sparse image of kernel memory: byte regions at addresses. A read succeeds only inside one region;
/// anything else faults, as an unmapped kernel address does for `bpf_probe_read_kernel`.
#[derive(Clone, Debug, Default)]
pub struct Memory {
    regions: BTreeMap<u64, Vec<u8>>,
}

impl Memory {
    /// An empty image (every read faults).
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps `bytes` at `addr`, replacing a region that starts at the same address.
    pub fn insert(&mut self, addr: u64, bytes: Vec<u8>) {
        self.regions.insert(addr, bytes);
    }

    /// The `len` bytes at `addr`, if they lie inside one region.
    pub fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let (start, bytes) = self.regions.range(..=addr).next_back()?;
        let from = usize::try_from(addr - start).ok()?;
        bytes.get(from..from.checked_add(len)?)
    }
}

/// Why the interpreter stopped: the program did something the verifier would refuse or the kernel would
/// not survive.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpError {
    /// An opcode this interpreter (and the generator) does not use.
    #[error("instruction {0}: unsupported opcode {1:#04x}")]
    BadOpcode(usize, u8),
    /// A load or store outside the stack frame and the output area, or misaligned on the stack.
    #[error("instruction {0}: memory access out of bounds or misaligned")]
    OutOfBounds(usize),
    /// A read of a register that holds no value (never written, or clobbered by a call).
    #[error("instruction {0}: r{1} is not initialised")]
    UninitRegister(usize, u8),
    /// A load of stack bytes never written.
    #[error("instruction {0}: read of uninitialised stack")]
    UninitStack(usize),
    /// A write to the read-only frame pointer.
    #[error("instruction {0}: r10 is read-only")]
    FramePointer(usize),
    /// A jump backwards or out of the program.
    #[error("instruction {0}: jump out of the program or backwards")]
    BadJump(usize),
    /// A helper the generated code must not call, or one called with bad arguments.
    #[error("instruction {0}: bad helper call {1}")]
    BadHelper(usize, i32),
    /// The program has no exit on this path.
    #[error("program ran off its end")]
    NoExit,
    /// An instruction no path reaches (the verifier's "unreachable insn").
    #[error("instruction {0} is unreachable")]
    Unreachable(usize),
}

const STACK_BASE: u64 = 0x1000_0000;
const STACK_SIZE: usize = 512;
const OUT_BASE: u64 = 0x2000_0000;
const EFAULT: i64 = -14;

struct Vm<'a> {
    stack: [u8; STACK_SIZE],
    stack_init: [bool; STACK_SIZE],
    out: &'a mut [u8],
    mem: &'a Memory,
}

enum Region {
    Stack(usize),
    Out(usize),
}

impl Vm<'_> {
    fn region(&self, addr: u64, len: usize) -> Option<Region> {
        let end = addr.checked_add(len as u64)?;
        if addr >= STACK_BASE && end <= STACK_BASE + STACK_SIZE as u64 {
            Some(Region::Stack((addr - STACK_BASE) as usize))
        } else if addr >= OUT_BASE && end <= OUT_BASE + self.out.len() as u64 {
            Some(Region::Out((addr - OUT_BASE) as usize))
        } else {
            None
        }
    }

    fn write(&mut self, at: Region, bytes: &[u8]) {
        match at {
            Region::Stack(o) => {
                self.stack[o..o + bytes.len()].copy_from_slice(bytes);
                self.stack_init[o..o + bytes.len()].fill(true);
            }
            Region::Out(o) => self.out[o..o + bytes.len()].copy_from_slice(bytes),
        }
    }

    /// A probe-read helper; the whole destination counts as written afterwards, as the verifier assumes.
    fn helper(&mut self, pc: usize, id: i32, r: &[u64; 11]) -> Result<u64, InterpError> {
        let (dst, size, src) = (r[1], r[2] as usize, r[3]);
        if size == 0 || size > STACK_SIZE {
            return Err(InterpError::BadHelper(pc, id));
        }
        let at = self
            .region(dst, size)
            .ok_or(InterpError::BadHelper(pc, id))?;
        let (bytes, ret) = match id {
            HELPER_PROBE_READ_KERNEL => match self.mem.read(src, size) {
                Some(b) => (b.to_vec(), 0),
                None => (vec![0; size], EFAULT),
            },
            HELPER_PROBE_READ_KERNEL_STR => {
                // Copies up to size - 1 bytes and a NUL; faults if memory ends before the NUL or the limit.
                let mut out = Vec::with_capacity(size);
                let mut ret = EFAULT;
                for i in 0..size - 1 {
                    match self.mem.read(src.wrapping_add(i as u64), 1) {
                        Some([0]) => {
                            out.push(0);
                            ret = out.len() as i64;
                            break;
                        }
                        Some(&[b]) => out.push(b),
                        _ => break,
                    }
                }
                if ret == EFAULT && out.len() == size - 1 {
                    out.push(0);
                    ret = size as i64;
                }
                if ret == EFAULT {
                    (vec![0; size], EFAULT)
                } else {
                    out.resize(size, 0);
                    (out, ret)
                }
            }
            _ => return Err(InterpError::BadHelper(pc, id)),
        };
        self.write(at, &bytes);
        Ok(ret as u64)
    }
}

/// Runs `insns` with r1 = `root` and, when `out` is given, r2 = a pointer to it. Returns r0 at exit.
pub fn run(
    insns: &[Insn],
    root: u64,
    out: Option<&mut [u8]>,
    mem: &Memory,
) -> Result<u64, InterpError> {
    check_reachable(insns)?;
    let mut empty = [];
    let has_out = out.is_some();
    let mut vm = Vm {
        stack: [0; STACK_SIZE],
        stack_init: [false; STACK_SIZE],
        out: out.unwrap_or(&mut empty),
        mem,
    };
    let mut r = [0u64; 11];
    let mut init = [false; 11];
    r[1] = root;
    init[1] = true;
    if has_out {
        r[2] = OUT_BASE;
        init[2] = true;
    }
    r[10] = STACK_BASE + STACK_SIZE as u64;
    init[10] = true;
    let mut pc = 0usize;
    while pc < insns.len() {
        let i = insns[pc];
        let (dst, src) = (i.dst as usize, i.src as usize);
        if dst > 10 || src > 10 {
            return Err(InterpError::BadOpcode(pc, i.code));
        }
        let read = |reg: usize, init: &[bool; 11]| {
            if init[reg] {
                Ok(())
            } else {
                Err(InterpError::UninitRegister(pc, reg as u8))
            }
        };
        let class = i.class();
        match class {
            BPF_ALU | BPF_ALU64 => {
                if dst == 10 {
                    return Err(InterpError::FramePointer(pc));
                }
                let op = i.code & 0xf0;
                let d = r[dst];
                let v = if op == END {
                    read(dst, &init)?;
                    match (i.code & BPF_X != 0, i.imm) {
                        (true, 16) => (d as u16).swap_bytes() as u64,
                        (true, 32) => (d as u32).swap_bytes() as u64,
                        (true, 64) => d.swap_bytes(),
                        _ => return Err(InterpError::BadOpcode(pc, i.code)),
                    }
                } else {
                    let s = if i.code & BPF_X != 0 {
                        read(src, &init)?;
                        r[src]
                    } else {
                        i.imm as i64 as u64
                    };
                    if op != MOV {
                        read(dst, &init)?;
                    }
                    if class == BPF_ALU64 {
                        match op {
                            ADD => d.wrapping_add(s),
                            SUB => d.wrapping_sub(s),
                            OR => d | s,
                            AND => d & s,
                            XOR => d ^ s,
                            LSH => d.wrapping_shl(s as u32 & 63),
                            RSH => d.wrapping_shr(s as u32 & 63),
                            ARSH => ((d as i64) >> (s as u32 & 63)) as u64,
                            MOV => s,
                            _ => return Err(InterpError::BadOpcode(pc, i.code)),
                        }
                    } else {
                        let (d, s) = (d as u32, s as u32);
                        (match op {
                            ADD => d.wrapping_add(s),
                            AND => d & s,
                            OR => d | s,
                            MOV => s,
                            _ => return Err(InterpError::BadOpcode(pc, i.code)),
                        }) as u64
                    }
                };
                r[dst] = v;
                init[dst] = true;
                pc += 1;
            }
            BPF_LD => {
                if i.code != BPF_LD | BPF_IMM | BPF_DW || src != 0 || pc + 1 >= insns.len() {
                    return Err(InterpError::BadOpcode(pc, i.code));
                }
                if dst == 10 {
                    return Err(InterpError::FramePointer(pc));
                }
                r[dst] = (insns[pc + 1].imm as u32 as u64) << 32 | i.imm as u32 as u64;
                init[dst] = true;
                pc += 2;
            }
            BPF_LDX | BPF_STX | BPF_ST => {
                if i.code & 0xe0 != BPF_MEM {
                    return Err(InterpError::BadOpcode(pc, i.code));
                }
                let size = mem_size(i.code);
                let base = if class == BPF_LDX { src } else { dst };
                read(base, &init)?;
                let addr = r[base].wrapping_add(i.off as i64 as u64);
                let at = vm.region(addr, size).ok_or(InterpError::OutOfBounds(pc))?;
                if let Region::Stack(o) = at
                    && o % size != 0
                {
                    return Err(InterpError::OutOfBounds(pc));
                }
                if class == BPF_LDX {
                    if dst == 10 {
                        return Err(InterpError::FramePointer(pc));
                    }
                    let mut b = [0u8; 8];
                    match at {
                        Region::Stack(o) => {
                            if vm.stack_init[o..o + size].contains(&false) {
                                return Err(InterpError::UninitStack(pc));
                            }
                            b[..size].copy_from_slice(&vm.stack[o..o + size]);
                        }
                        Region::Out(o) => b[..size].copy_from_slice(&vm.out[o..o + size]),
                    }
                    r[dst] = u64::from_le_bytes(b);
                    init[dst] = true;
                } else {
                    let v = if class == BPF_STX {
                        read(src, &init)?;
                        r[src]
                    } else {
                        i.imm as i64 as u64
                    };
                    vm.write(at, &v.to_le_bytes()[..size]);
                }
                pc += 1;
            }
            BPF_JMP | BPF_JMP32 => {
                let op = i.code & 0xf0;
                if op == EXIT {
                    read(0, &init)?;
                    return Ok(r[0]);
                }
                if op == CALL {
                    if class != BPF_JMP || src != 0 {
                        return Err(InterpError::BadOpcode(pc, i.code));
                    }
                    for reg in 1..=3 {
                        read(reg, &init)?;
                    }
                    r[0] = vm.helper(pc, i.imm, &r)?;
                    init[0] = true;
                    for reg in 1..=5 {
                        init[reg] = false;
                        r[reg] = 0xdead_beef;
                    }
                    pc += 1;
                    continue;
                }
                let taken = if op == JA {
                    true
                } else {
                    read(dst, &init)?;
                    let s = if i.code & BPF_X != 0 {
                        read(src, &init)?;
                        r[src]
                    } else {
                        i.imm as i64 as u64
                    };
                    taken(op, class == BPF_JMP32, r[dst], s)
                        .ok_or(InterpError::BadOpcode(pc, i.code))?
                };
                if i.off < 0 {
                    return Err(InterpError::BadJump(pc));
                }
                let next = if taken {
                    pc + 1 + i.off as usize
                } else {
                    pc + 1
                };
                if next >= insns.len() {
                    return Err(InterpError::BadJump(pc));
                }
                pc = next;
            }
            _ => return Err(InterpError::BadOpcode(pc, i.code)),
        }
    }
    Err(InterpError::NoExit)
}

/// Like the verifier's CFG check: every instruction must be reachable from the first.
fn check_reachable(insns: &[Insn]) -> Result<(), InterpError> {
    let n = insns.len();
    let mut reach = vec![false; n];
    let mut todo = vec![0usize];
    while let Some(i) = todo.pop() {
        if i >= n || reach[i] {
            continue;
        }
        reach[i] = true;
        let insn = insns[i];
        let op = insn.code & 0xf0;
        let jump = matches!(insn.class(), BPF_JMP | BPF_JMP32) && op != CALL;
        if insn.code == BPF_LD | BPF_IMM | BPF_DW {
            if i + 1 < n {
                reach[i + 1] = true;
            }
            todo.push(i + 2);
        } else if jump && op == EXIT {
        } else if jump {
            todo.push((i as i64 + 1 + insn.off as i64).max(0) as usize);
            if op != JA {
                todo.push(i + 1);
            }
        } else {
            todo.push(i + 1);
        }
    }
    match reach.iter().position(|r| !r) {
        Some(i) => Err(InterpError::Unreachable(i)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_reads_inside_one_region() {
        let mut m = Memory::new();
        m.insert(0x1000, vec![1, 2, 3, 4]);
        m.insert(0x1004, vec![5]);
        assert_eq!(m.read(0x1001, 3), Some(&[2, 3, 4][..]));
        assert_eq!(m.read(0x1002, 3), None, "spans two regions");
        assert_eq!(m.read(0xfff, 1), None);
        assert_eq!(m.read(u64::MAX, 2), None);
    }

    #[test]
    fn refuses_what_the_verifier_refuses() {
        let mem = Memory::new();
        // r0 = r3 (never written)
        let p = [Insn::alu64_reg(MOV, 0, 3), Insn::exit()];
        assert_eq!(
            run(&p, 0, None, &mem),
            Err(InterpError::UninitRegister(0, 3))
        );
        // r0 = *(u64 *)(r10 -8) (never written)
        let p = [Insn::ldx(BPF_DW, 0, 10, -8), Insn::exit()];
        assert_eq!(run(&p, 0, None, &mem), Err(InterpError::UninitStack(0)));
        // direct load from a kernel address
        let p = [Insn::ldx(BPF_DW, 0, 1, 0), Insn::exit()];
        assert_eq!(
            run(&p, 0xffff_0000, None, &mem),
            Err(InterpError::OutOfBounds(0))
        );
        // r1 is clobbered by a call
        let p = [
            Insn::alu64_reg(MOV, 3, 1),
            Insn::alu64_reg(MOV, 1, 10),
            Insn::alu64_imm(ADD, 1, -8),
            Insn::alu64_imm(MOV, 2, 8),
            Insn::call(HELPER_PROBE_READ_KERNEL),
            Insn::alu64_reg(MOV, 0, 1),
            Insn::exit(),
        ];
        assert_eq!(
            run(&p, 0, None, &mem),
            Err(InterpError::UninitRegister(5, 1))
        );
    }
}
