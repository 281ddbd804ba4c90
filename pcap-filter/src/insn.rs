//! eBPF instruction encoding: the subset the compiler emits and the interpreter runs.

/// One 8-byte eBPF instruction, as the kernel reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

// Instruction classes.
pub const BPF_LDX: u8 = 0x01;
pub const BPF_ALU: u8 = 0x04;
pub const BPF_JMP: u8 = 0x05;
pub const BPF_JMP32: u8 = 0x06;
pub const BPF_ALU64: u8 = 0x07;
pub const BPF_STX: u8 = 0x03;
/// Store of an immediate (`*(u64 *)(r10 -8) = 0`).
pub const BPF_ST: u8 = 0x02;
/// Class of the 16-byte `ld_imm64`.
pub const BPF_LD: u8 = 0x00;
/// Mode of `ld_imm64`.
pub const BPF_IMM: u8 = 0x00;

// Sizes (LDX/STX).
pub const BPF_W: u8 = 0x00;
pub const BPF_H: u8 = 0x08;
pub const BPF_B: u8 = 0x10;
pub const BPF_DW: u8 = 0x18;
pub const BPF_MEM: u8 = 0x60;

// Source operand.
pub const BPF_K: u8 = 0x00;
pub const BPF_X: u8 = 0x08;

// ALU operations.
pub const ADD: u8 = 0x00;
pub const SUB: u8 = 0x10;
pub const MUL: u8 = 0x20;
pub const DIV: u8 = 0x30;
pub const OR: u8 = 0x40;
pub const AND: u8 = 0x50;
pub const LSH: u8 = 0x60;
pub const RSH: u8 = 0x70;
pub const NEG: u8 = 0x80;
pub const MOD: u8 = 0x90;
pub const XOR: u8 = 0xa0;
pub const MOV: u8 = 0xb0;
pub const END: u8 = 0xd0;
/// Arithmetic (sign-propagating) right shift.
pub const ARSH: u8 = 0xc0;

// Jump operations.
pub const JA: u8 = 0x00;
pub const JEQ: u8 = 0x10;
pub const JGT: u8 = 0x20;
pub const JGE: u8 = 0x30;
pub const JSET: u8 = 0x40;
pub const JNE: u8 = 0x50;
pub const EXIT: u8 = 0x90;
pub const JLT: u8 = 0xa0;
pub const JLE: u8 = 0xb0;
/// Signed comparisons.
pub const JSGT: u8 = 0x60;
pub const JSGE: u8 = 0x70;
pub const JSLT: u8 = 0xc0;
pub const JSLE: u8 = 0xd0;
/// A helper call (`imm` = helper id, `src` = 0).
pub const CALL: u8 = 0x80;

/// The bytes a memory load or store of `code` moves (its `BPF_B`/`BPF_H`/`BPF_W`/`BPF_DW` size bits).
pub fn mem_size(code: u8) -> usize {
    match code & 0x18 {
        BPF_B => 1,
        BPF_H => 2,
        BPF_W => 4,
        _ => 8,
    }
}

/// Whether the conditional jump `op` (`code & 0xf0`; not `JA`, `CALL` or `EXIT`) is taken for `d` and `s`,
/// compared in their low 32 bits for `BPF_JMP32`, as the kernel compares them; `None` for an unknown operation.
pub fn taken(op: u8, jmp32: bool, d: u64, s: u64) -> Option<bool> {
    let (d, s) = if jmp32 {
        (d as u32 as u64, s as u32 as u64)
    } else {
        (d, s)
    };
    let (sd, ss) = if jmp32 {
        (d as u32 as i32 as i64, s as u32 as i32 as i64)
    } else {
        (d as i64, s as i64)
    };
    Some(match op {
        JEQ => d == s,
        JNE => d != s,
        JGT => d > s,
        JGE => d >= s,
        JLT => d < s,
        JLE => d <= s,
        JSET => d & s != 0,
        JSGT => sd > ss,
        JSGE => sd >= ss,
        JSLT => sd < ss,
        JSLE => sd <= ss,
        _ => return None,
    })
}

/// The jump operation taken exactly when `op` (a conditional jump's operation bits, `code & 0xf0`) is not, if there
/// is one (`JSET` has none).
pub fn inverse(op: u8) -> Option<u8> {
    Some(match op {
        JEQ => JNE,
        JNE => JEQ,
        JGT => JLE,
        JLE => JGT,
        JGE => JLT,
        JLT => JGE,
        JSGT => JSLE,
        JSLE => JSGT,
        JSGE => JSLT,
        JSLT => JSGE,
        _ => return None,
    })
}

/// Register numbers.
pub const R0: u8 = 0;
pub const R1: u8 = 1;
pub const R2: u8 = 2;
pub const R3: u8 = 3;
pub const R4: u8 = 4;
pub const R5: u8 = 5;
pub const R10: u8 = 10;

impl Insn {
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Insn {
            code,
            dst,
            src,
            off,
            imm,
        }
    }
    pub const fn alu64_imm(op: u8, dst: u8, imm: i32) -> Self {
        Self::new(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm)
    }
    pub const fn alu64_reg(op: u8, dst: u8, src: u8) -> Self {
        Self::new(BPF_ALU64 | op | BPF_X, dst, src, 0, 0)
    }
    pub const fn alu32_imm(op: u8, dst: u8, imm: i32) -> Self {
        Self::new(BPF_ALU | op | BPF_K, dst, 0, 0, imm)
    }
    pub const fn alu32_reg(op: u8, dst: u8, src: u8) -> Self {
        Self::new(BPF_ALU | op | BPF_X, dst, src, 0, 0)
    }
    /// Convert the low `bits` of `dst` from network to host order (on a little-endian machine).
    pub const fn to_be(dst: u8, bits: i32) -> Self {
        Self::new(BPF_ALU | END | 0x08, dst, 0, 0, bits)
    }
    pub const fn ldx(size: u8, dst: u8, src: u8, off: i16) -> Self {
        Self::new(BPF_LDX | BPF_MEM | size, dst, src, off, 0)
    }
    pub const fn stx(size: u8, dst: u8, src: u8, off: i16) -> Self {
        Self::new(BPF_STX | BPF_MEM | size, dst, src, off, 0)
    }
    pub const fn jmp_imm(op: u8, dst: u8, imm: i32, off: i16) -> Self {
        Self::new(BPF_JMP | op | BPF_K, dst, 0, off, imm)
    }
    pub const fn jmp_reg(op: u8, dst: u8, src: u8, off: i16) -> Self {
        Self::new(BPF_JMP | op | BPF_X, dst, src, off, 0)
    }
    pub const fn jmp32_imm(op: u8, dst: u8, imm: i32, off: i16) -> Self {
        Self::new(BPF_JMP32 | op | BPF_K, dst, 0, off, imm)
    }
    pub const fn jmp32_reg(op: u8, dst: u8, src: u8, off: i16) -> Self {
        Self::new(BPF_JMP32 | op | BPF_X, dst, src, off, 0)
    }
    /// `*(size *)(dst + off) = imm`.
    pub const fn st(size: u8, dst: u8, off: i16, imm: i32) -> Self {
        Self::new(BPF_ST | BPF_MEM | size, dst, 0, off, imm)
    }
    /// `dst = imm` for any 64-bit constant: two instruction slots.
    pub const fn ld_imm64(dst: u8, imm: u64) -> [Self; 2] {
        [
            Self::new(BPF_LD | BPF_IMM | BPF_DW, dst, 0, 0, imm as u32 as i32),
            Self::new(0, 0, 0, 0, (imm >> 32) as u32 as i32),
        ]
    }
    /// Call helper number `id`.
    pub const fn call(id: i32) -> Self {
        Self::new(BPF_JMP | CALL, 0, 0, 0, id)
    }
    pub const fn ja(off: i16) -> Self {
        Self::new(BPF_JMP | JA, 0, 0, off, 0)
    }
    pub const fn exit() -> Self {
        Self::new(BPF_JMP | EXIT, 0, 0, 0, 0)
    }

    pub fn class(&self) -> u8 {
        self.code & 0x07
    }
    pub fn is_jump(&self) -> bool {
        matches!(self.class(), BPF_JMP | BPF_JMP32) && !matches!(self.code & 0xf0, EXIT | CALL)
    }

    /// The kernel's little-endian encoding.
    pub fn to_bytes(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.src << 4) | (self.dst & 0x0f);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }

    pub fn from_bytes(b: &[u8; 8]) -> Self {
        Insn {
            code: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}
