//! The checked form to eBPF, per docs/btf-expr-abi.md.
//!
//! Registers: r6 = root pointer and r7 = output area (both kept for the whole function), r0 = the value being
//! computed, r1-r5 helper arguments. Stack: `r10-8` receives every `bpf_probe_read_kernel` of a pointer or
//! scalar, spill slots below it hold left operands while the right one is read, and a string buffer below
//! those receives compared strings. Every jump goes forward; there are no loops.

use pcap_filter::insn::*;

use crate::error::{ErrorKind, ExprError};
use crate::ir::{Access, Cond, I64_MAX, Scalar, StrSrc, Val, decided, range};
use crate::lexer::MAX_STRING;
use crate::parser::CmpOp;

/// `bpf_probe_read_kernel(dst, size, src)`: 0 or a negative errno (the destination is zeroed then).
pub const HELPER_PROBE_READ_KERNEL: i32 = 113;
/// `bpf_probe_read_kernel_str(dst, size, src)`: bytes copied including the NUL, or a negative errno.
pub const HELPER_PROBE_READ_KERNEL_STR: i32 = 115;

const R6: u8 = 6;
const R7: u8 = 7;

/// Where probe reads of pointers and scalars land.
const READ_SLOT: i16 = -8;
/// Left operands waiting for the right one; nesting deeper than this many masks/comparisons is refused.
pub(crate) const MAX_SPILL: usize = 4;
const fn spill_slot(depth: usize) -> i16 {
    -16 - 8 * depth as i16
}
/// String buffer: the longest literal plus its NUL and one more byte (the `_str` read's overflow check),
/// rounded up to 8.
const STR_BUF_SIZE: i16 = (MAX_STRING as i16 + 2 + 7) / 8 * 8;
const STR_BUF: i16 = spill_slot(MAX_SPILL - 1) - STR_BUF_SIZE;

/// The most stack a generated function uses, in bytes (its frame adds to its caller's within the kernel's
/// 512-byte limit).
pub const MAX_STACK: u32 = (-STR_BUF) as u32;

/// Longest generated function; jumps are 16-bit, and a filter this long is a mistake.
const MAX_INSNS: usize = 16 * 1024;

type Label = usize;

/// Where a failed read goes: a NULL pointer on the path, or a read the kernel refused.
#[derive(Clone, Copy)]
struct Fail {
    null: Label,
    fault: Label,
}

impl Fail {
    fn both(l: Label) -> Fail {
        Fail { null: l, fault: l }
    }
}

/// Destination of a probe read: the stack (`r10 + off`) or the output area (`r7 + off`).
#[derive(Clone, Copy)]
enum Dst {
    Stack(i16),
    Out(i32),
}

#[derive(Default)]
struct Gen {
    code: Vec<Insn>,
    labels: Vec<Option<usize>>,
    fixups: Vec<(usize, Label)>,
    /// Deepest stack byte used (positive).
    stack: u32,
}

/// A generated function and the stack it uses.
pub(crate) struct Output {
    pub insns: Vec<Insn>,
    pub stack: u32,
}

/// One fetch slot for the generator: what to compute and where its status word sits in the output area.
pub(crate) enum FetchCode<'a> {
    Value(&'a Val),
    Cond(&'a Cond),
    Str {
        acc: &'a Access,
        src: StrSrc,
        cap: u32,
    },
    Bytes {
        acc: &'a Access,
        len: u32,
    },
}

fn too_complex(what: &str) -> ExprError {
    ExprError::new(ErrorKind::Unsupported(what.to_string()), 0)
}

impl Gen {
    fn label(&mut self) -> Label {
        self.labels.push(None);
        self.labels.len() - 1
    }

    fn place(&mut self, l: Label) {
        let n = self.code.len();
        let k = self.fixups.len();
        // `if c goto l; goto x; l:` becomes `if !c goto x; l:`.
        if k >= 2
            && self.fixups[k - 1].0 + 1 == n
            && self.fixups[k - 2] == (n - 2, l)
            && self.code[n - 1].code == BPF_JMP | JA
            && !self.labels.contains(&Some(n - 1))
            && let Some(inverse) = invert(self.code[n - 2].code)
        {
            let x = self.fixups[k - 1].1;
            self.code.pop();
            self.fixups.pop();
            self.code[n - 2].code = inverse;
            self.fixups[k - 2].1 = x;
        }
        // A jump to the very next instruction is dropped.
        if let Some(&(at, target)) = self.fixups.last()
            && at + 1 == self.code.len()
            && target == l
            && self.code[at].code == BPF_JMP | JA
        {
            self.fixups.pop();
            self.code.pop();
        }
        self.labels[l] = Some(self.code.len());
    }

    fn emit(&mut self, i: Insn) {
        self.code.push(i);
    }

    fn emit2(&mut self, i: [Insn; 2]) {
        self.code.extend_from_slice(&i);
    }

    fn jump(&mut self, i: Insn, to: Label) {
        self.fixups.push((self.code.len(), to));
        self.code.push(i);
    }

    fn goto(&mut self, to: Label) {
        self.jump(Insn::ja(0), to);
    }

    fn use_stack(&mut self, off: i16) {
        self.stack = self.stack.max((-off) as u32);
    }

    fn finish(self) -> Result<Output, ExprError> {
        if self.code.len() > MAX_INSNS {
            return Err(too_complex(&format!(
                "the expression compiles to {} instructions, more than {MAX_INSNS}",
                self.code.len()
            )));
        }
        let n = self.code.len();
        let mut target: Vec<Option<usize>> = vec![None; n];
        for &(at, l) in &self.fixups {
            target[at] = Some(self.labels[l].expect("every label is placed"));
        }
        let code = drop_dead_code(&self.code, &target)?;
        Ok(Output {
            insns: code,
            stack: self.stack,
        })
    }

    /// `r0 = c` for any 64-bit pattern.
    fn mov_const(&mut self, reg: u8, c: i128) {
        let bits = c as i64;
        if let Ok(imm) = i32::try_from(bits) {
            self.emit(Insn::alu64_imm(MOV, reg, imm));
        } else {
            self.emit2(Insn::ld_imm64(reg, bits as u64));
        }
    }

    /// Walks `acc`'s hops and calls `helper(dst, size, base + off)`; leaves the helper's result in r0.
    fn read(&mut self, acc: &Access, dst: Dst, size: u32, helper: i32, fail: Fail) {
        self.emit(Insn::alu64_reg(MOV, R3, R6));
        self.jump(Insn::jmp_imm(JEQ, R3, 0, 0), fail.null);
        for &hop in &acc.hops {
            self.use_stack(READ_SLOT);
            self.emit(Insn::alu64_reg(MOV, R1, R10));
            self.emit(Insn::alu64_imm(ADD, R1, READ_SLOT as i32));
            self.emit(Insn::alu64_imm(MOV, R2, 8));
            if hop != 0 {
                self.emit(Insn::alu64_imm(ADD, R3, hop));
            }
            self.emit(Insn::call(HELPER_PROBE_READ_KERNEL));
            self.jump(Insn::jmp_imm(JNE, R0, 0, 0), fail.fault);
            self.emit(Insn::ldx(BPF_DW, R3, R10, READ_SLOT));
            self.jump(Insn::jmp_imm(JEQ, R3, 0, 0), fail.null);
        }
        match dst {
            Dst::Stack(off) => {
                self.use_stack(off);
                self.emit(Insn::alu64_reg(MOV, R1, R10));
                self.emit(Insn::alu64_imm(ADD, R1, off as i32));
            }
            Dst::Out(off) => {
                self.emit(Insn::alu64_reg(MOV, R1, R7));
                if off != 0 {
                    self.emit(Insn::alu64_imm(ADD, R1, off));
                }
            }
        }
        self.emit(Insn::alu64_imm(MOV, R2, size as i32));
        if acc.off != 0 {
            self.emit(Insn::alu64_imm(ADD, R3, acc.off));
        }
        self.emit(Insn::call(helper));
    }

    /// r0 = the scalar at `acc`, converted to its 64-bit two's-complement value.
    fn load(&mut self, acc: &Access, s: Scalar, fail: Fail) {
        let whole = matches!(s.size, 1 | 2 | 4 | 8);
        if !whole {
            // Bitfields spanning 3, 5, 6 or 7 bytes: read them into a zeroed word.
            self.emit(Insn::st(BPF_DW, R10, READ_SLOT, 0));
        }
        self.read(
            acc,
            Dst::Stack(READ_SLOT),
            s.size as u32,
            HELPER_PROBE_READ_KERNEL,
            fail,
        );
        self.jump(Insn::jmp_imm(JNE, R0, 0, 0), fail.fault);
        let width = match s.size {
            1 => BPF_B,
            2 => BPF_H,
            4 => BPF_W,
            _ => BPF_DW,
        };
        self.emit(Insn::ldx(
            if whole { width } else { BPF_DW },
            R0,
            R10,
            READ_SLOT,
        ));
        if s.swap {
            self.emit(Insn::to_be(R0, s.size as i32 * 8));
        }
        let (shift, bits) = (s.shift as i32, s.bits as i32);
        let top = 64 - shift - bits; // bits above the value in the 64-bit word
        if s.signed {
            if bits < 64 {
                if top > 0 {
                    self.emit(Insn::alu64_imm(LSH, R0, top));
                }
                self.emit(Insn::alu64_imm(ARSH, R0, 64 - bits));
            }
        } else {
            if shift > 0 {
                self.emit(Insn::alu64_imm(RSH, R0, shift));
            }
            let loaded = if whole { s.size as i32 * 8 } else { 64 };
            if bits < loaded - shift {
                if bits <= 31 {
                    self.emit(Insn::alu64_imm(AND, R0, ((1u32 << bits) - 1) as i32));
                } else {
                    self.emit(Insn::alu64_imm(LSH, R0, 64 - bits));
                    self.emit(Insn::alu64_imm(RSH, R0, 64 - bits));
                }
            }
        }
    }

    /// r0 = the value of `v`; spill slots from `depth` on are free to use.
    fn value(&mut self, v: &Val, depth: usize, fail: Fail) -> Result<(), ExprError> {
        match v {
            Val::Const(c) => self.mov_const(R0, *c),
            Val::Root => self.emit(Insn::alu64_reg(MOV, R0, R6)),
            Val::Load(acc, s) => self.load(acc, *s, fail),
            Val::Mask(a, b) => {
                let (a, b) = if matches!(**a, Val::Const(_)) {
                    (b, a)
                } else {
                    (a, b)
                };
                self.value(a, depth, fail)?;
                if let Val::Const(c) = **b {
                    let bits = c as i64;
                    if let Ok(imm) = i32::try_from(bits) {
                        self.emit(Insn::alu64_imm(AND, R0, imm));
                    } else {
                        self.emit2(Insn::ld_imm64(R1, bits as u64));
                        self.emit(Insn::alu64_reg(AND, R0, R1));
                    }
                } else {
                    let slot = self.spill(depth)?;
                    self.emit(Insn::stx(BPF_DW, R10, R0, slot));
                    self.value(b, depth + 1, fail)?;
                    self.emit(Insn::ldx(BPF_DW, R1, R10, slot));
                    self.emit(Insn::alu64_reg(AND, R0, R1));
                }
            }
        }
        Ok(())
    }

    fn spill(&mut self, depth: usize) -> Result<i16, ExprError> {
        if depth >= MAX_SPILL {
            return Err(too_complex(&format!(
                "operands nested more than {MAX_SPILL} deep"
            )));
        }
        let slot = spill_slot(depth);
        self.use_stack(slot);
        Ok(slot)
    }

    fn cond(&mut self, c: &Cond, t: Label, f: Label) -> Result<(), ExprError> {
        match c {
            Cond::Const(true) => self.goto(t),
            Cond::Const(false) => self.goto(f),
            Cond::And(a, b) => {
                let mid = self.label();
                self.cond(a, mid, f)?;
                self.place(mid);
                self.cond(b, t, f)?;
            }
            Cond::Or(a, b) => {
                let mid = self.label();
                self.cond(a, t, mid)?;
                self.place(mid);
                self.cond(b, t, f)?;
            }
            Cond::Not(a) => self.cond(a, f, t)?,
            Cond::Truth(v) => self.cmp(CmpOp::Ne, v, &Val::Const(0), t, f)?,
            Cond::Cmp(op, l, r) => self.cmp(*op, l, r, t, f)?,
            Cond::StrEq {
                acc,
                src,
                lit,
                negate,
            } => {
                let (eq, ne) = if *negate { (f, t) } else { (t, f) };
                self.str_eq(acc, *src, lit, eq, ne, f);
            }
        }
        Ok(())
    }

    fn cmp(&mut self, op: CmpOp, l: &Val, r: &Val, t: Label, f: Label) -> Result<(), ExprError> {
        let fail = Fail::both(f);
        let (rl, rr) = (range(l), range(r));
        if let Some(known) = decided(op, rl, rr) {
            if known {
                // True whenever both sides can be read.
                self.value(l, 0, fail)?;
                self.value(r, 0, fail)?;
                self.goto(t);
            } else {
                self.goto(f);
            }
            return Ok(());
        }
        let (op, l, r, rl, rr) = if matches!(l, Val::Const(_)) {
            (op.swap(), r, l, rr, rl)
        } else {
            (op, l, r, rl, rr)
        };
        self.value(l, 0, fail)?;
        let (lreg, rreg) = if let Val::Const(c) = *r {
            let signed = rl.1 <= I64_MAX && rr.1 <= I64_MAX;
            let fits = if signed {
                i32::try_from(c).is_ok()
            } else {
                (0..=i32::MAX as i128).contains(&c)
            };
            if fits {
                self.jump(Insn::jmp_imm(jump_op(op, signed), R0, c as i32, 0), t);
                self.goto(f);
                return Ok(());
            }
            self.emit2(Insn::ld_imm64(R1, c as i64 as u64));
            (R0, R1)
        } else {
            let slot = self.spill(0)?;
            self.emit(Insn::stx(BPF_DW, R10, R0, slot));
            self.value(r, 1, fail)?;
            self.emit(Insn::ldx(BPF_DW, R1, R10, slot));
            (R1, R0)
        };
        let (ls, rs) = (rl.1 <= I64_MAX, rr.1 <= I64_MAX);
        let signed = ls && rs;
        if ls != rs {
            // One side may exceed i64, the other may be negative: a negative side is the smaller one.
            let (neg_reg, neg_range) = if ls { (lreg, rl) } else { (rreg, rr) };
            if neg_range.0 < 0 {
                let neg_is_left = ls;
                let smaller_left = neg_is_left;
                let outcome = match op {
                    CmpOp::Ne => true,
                    CmpOp::Eq => false,
                    CmpOp::Lt | CmpOp::Le => smaller_left,
                    CmpOp::Gt | CmpOp::Ge => !smaller_left,
                };
                self.jump(
                    Insn::jmp_imm(JSLT, neg_reg, 0, 0),
                    if outcome { t } else { f },
                );
            }
        }
        self.jump(Insn::jmp_reg(jump_op(op, signed), lreg, rreg, 0), t);
        self.goto(f);
        Ok(())
    }

    /// Compares the string at `acc` with `lit`: to `eq` or `ne`, or to `fault` when it cannot be read.
    fn str_eq(
        &mut self,
        acc: &Access,
        src: StrSrc,
        lit: &[u8],
        eq: Label,
        ne: Label,
        fault: Label,
    ) {
        let fail = Fail::both(fault);
        let expected: Vec<u8> = match src {
            StrSrc::Array { len } => {
                let mut want = lit.to_vec();
                want.push(0);
                if len > 0 {
                    want.truncate(len as usize);
                }
                self.read(
                    acc,
                    Dst::Stack(STR_BUF),
                    want.len() as u32,
                    HELPER_PROBE_READ_KERNEL,
                    fail,
                );
                self.jump(Insn::jmp_imm(JNE, R0, 0, 0), fault);
                want
            }
            StrSrc::Pointer => {
                // Reading one byte more than the literal and its NUL tells "eth0" from "eth01": only an exact
                // match copies len + 1 bytes.
                self.read(
                    acc,
                    Dst::Stack(STR_BUF),
                    lit.len() as u32 + 2,
                    HELPER_PROBE_READ_KERNEL_STR,
                    fail,
                );
                self.jump(Insn::jmp_imm(JSLT, R0, 0, 0), fault);
                self.jump(Insn::jmp_imm(JNE, R0, lit.len() as i32 + 1, 0), ne);
                lit.to_vec()
            }
        };
        let mut at = 0usize;
        while at < expected.len() {
            let left = expected.len() - at;
            let (width, n) = match left {
                8.. => (BPF_DW, 8),
                4.. => (BPF_W, 4),
                2.. => (BPF_H, 2),
                _ => (BPF_B, 1),
            };
            let mut word = [0u8; 8];
            word[..n].copy_from_slice(&expected[at..at + n]);
            let want = u64::from_le_bytes(word);
            self.emit(Insn::ldx(width, R1, R10, STR_BUF + at as i16));
            match n {
                8 => {
                    self.emit2(Insn::ld_imm64(R2, want));
                    self.jump(Insn::jmp_reg(JNE, R1, R2, 0), ne);
                }
                4 => self.jump(Insn::jmp32_imm(JNE, R1, want as u32 as i32, 0), ne),
                _ => self.jump(Insn::jmp_imm(JNE, R1, want as i32, 0), ne),
            }
            at += n;
        }
        self.goto(eq);
    }
}

/// Removes what no path reaches (the verifier refuses unreachable instructions: a branch decided at compile
/// time leaves some) and jumps to the next instruction, and resolves jump offsets. `target[i]` is the
/// absolute target of the jump at `i`.
fn drop_dead_code(code: &[Insn], target: &[Option<usize>]) -> Result<Vec<Insn>, ExprError> {
    let n = code.len();
    let mut reach = vec![false; n];
    let mut second_half = vec![false; n];
    let mut stack = vec![0usize];
    while let Some(i) = stack.pop() {
        if i >= n || reach[i] {
            continue;
        }
        reach[i] = true;
        let c = code[i].code;
        if c == BPF_LD | BPF_IMM | BPF_DW {
            reach[i + 1] = true;
            second_half[i + 1] = true;
            stack.push(i + 2);
        } else if c == BPF_JMP | EXIT {
        } else if let Some(t) = target[i] {
            stack.push(t);
            if c != BPF_JMP | JA {
                stack.push(i + 1);
            }
        } else {
            stack.push(i + 1);
        }
    }
    // Kept: reachable, and not a `goto` whose target is the next reachable instruction.
    let mut keep = reach.clone();
    for i in 0..n {
        if reach[i]
            && !second_half[i]
            && code[i].code == BPF_JMP | JA
            && target[i].is_some_and(|t| (i + 1..t).all(|j| !reach[j]))
        {
            keep[i] = false;
        }
    }
    // new_at[i]: index of the first kept instruction at or after i.
    let mut new_at = vec![0usize; n + 1];
    for i in 0..n {
        new_at[i + 1] = new_at[i] + keep[i] as usize;
    }
    let mut out = Vec::with_capacity(new_at[n]);
    for i in 0..n {
        if !keep[i] {
            continue;
        }
        let mut insn = code[i];
        if let Some(t) = target[i].filter(|_| !second_half[i]) {
            let off = new_at[t] as i64 - new_at[i] as i64 - 1;
            insn.off = i16::try_from(off).map_err(|_| too_complex("jump too far"))?;
        }
        out.push(insn);
    }
    Ok(out)
}

/// The opcode of the opposite conditional jump (same class and source), if there is one.
fn invert(code: u8) -> Option<u8> {
    let class = code & 0x07;
    if class != BPF_JMP && class != BPF_JMP32 {
        return None;
    }
    Some(code & 0x0f | inverse(code & 0xf0)?)
}

fn jump_op(op: CmpOp, signed: bool) -> u8 {
    match (op, signed) {
        (CmpOp::Eq, _) => JEQ,
        (CmpOp::Ne, _) => JNE,
        (CmpOp::Lt, false) => JLT,
        (CmpOp::Le, false) => JLE,
        (CmpOp::Gt, false) => JGT,
        (CmpOp::Ge, false) => JGE,
        (CmpOp::Lt, true) => JSLT,
        (CmpOp::Le, true) => JSLE,
        (CmpOp::Gt, true) => JSGT,
        (CmpOp::Ge, true) => JSGE,
    }
}

/// `int f(void *root)`: 1 when `c` holds, else 0.
pub(crate) fn filter(c: &Cond) -> Result<Output, ExprError> {
    let mut g = Gen::default();
    let (t, f) = (g.label(), g.label());
    g.emit(Insn::alu64_reg(MOV, R6, R1));
    g.cond(c, t, f)?;
    g.place(t);
    g.emit(Insn::alu64_imm(MOV, R0, 1));
    g.emit(Insn::exit());
    g.place(f);
    g.emit(Insn::alu64_imm(MOV, R0, 0));
    g.emit(Insn::exit());
    g.finish()
}

/// Status words of a fetch slot (docs/btf-expr-abi.md).
pub const STATUS_OK: i32 = 0;
/// A pointer on the path (or the root) was NULL.
pub const STATUS_NULL: i32 = 1;
/// The kernel refused a read (`bpf_probe_read_kernel` failed).
pub const STATUS_FAULT: i32 = 2;

/// `int f(void *root, void *out)`: fills one slot per item at the given offsets; returns 0.
pub(crate) fn fetch(items: &[(FetchCode<'_>, u32)]) -> Result<Output, ExprError> {
    let mut g = Gen::default();
    g.emit(Insn::alu64_reg(MOV, R6, R1));
    g.emit(Insn::alu64_reg(MOV, R7, R2));
    for (item, off) in items {
        let off = *off as i32;
        let status = |s: i32| Insn::st(BPF_DW, R7, off as i16, s);
        let (null, fault, next) = (g.label(), g.label(), g.label());
        let fail = Fail { null, fault };
        match item {
            FetchCode::Value(v) => {
                g.value(v, 0, fail)?;
                g.emit(Insn::stx(BPF_DW, R7, R0, off as i16 + 8));
            }
            FetchCode::Cond(c) => {
                let (t, f, done) = (g.label(), g.label(), g.label());
                g.cond(c, t, f)?;
                g.place(t);
                g.emit(Insn::st(BPF_DW, R7, off as i16 + 8, 1));
                g.goto(done);
                g.place(f);
                g.emit(Insn::st(BPF_DW, R7, off as i16 + 8, 0));
                g.place(done);
            }
            FetchCode::Str { acc, src, cap } => match src {
                StrSrc::Array { .. } => {
                    g.read(acc, Dst::Out(off + 8), *cap, HELPER_PROBE_READ_KERNEL, fail);
                    g.jump(Insn::jmp_imm(JNE, R0, 0, 0), fault);
                }
                StrSrc::Pointer => {
                    g.read(
                        acc,
                        Dst::Out(off + 8),
                        *cap,
                        HELPER_PROBE_READ_KERNEL_STR,
                        fail,
                    );
                    g.jump(Insn::jmp_imm(JSLT, R0, 0, 0), fault);
                }
            },
            FetchCode::Bytes { acc, len } => {
                g.read(acc, Dst::Out(off + 8), *len, HELPER_PROBE_READ_KERNEL, fail);
                g.jump(Insn::jmp_imm(JNE, R0, 0, 0), fault);
            }
        }
        g.emit(status(STATUS_OK));
        g.goto(next);
        g.place(null);
        g.emit(status(STATUS_NULL));
        g.goto(next);
        g.place(fault);
        g.emit(status(STATUS_FAULT));
        g.place(next);
    }
    g.emit(Insn::alu64_imm(MOV, R0, 0));
    g.emit(Insn::exit());
    g.finish()
}
