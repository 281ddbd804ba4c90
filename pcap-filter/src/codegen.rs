//! Predicates to eBPF, per docs/filter-abi.md.
//!
//! Registers: r1 = buf, r2 = caplen, r3 = wirelen (all kept), r0 = accumulator,
//! r4 = right operand reloaded from the stack, r5 = address scratch, r6-r9 = cache of packet
//! loads (raw, in little-endian order) and IP header lengths. Along each path the generator
//! remembers which cache register holds which value and how many bytes are known to be
//! captured, so a value is loaded and a bound is checked once per path. All jumps go forward.

use crate::FilterError;
use crate::insn::*;
use crate::ir::{AluOp, CmpOp, Pred, ProtoChain, Val};

pub const FILTER_BUF_SIZE: u32 = 2048;
const CACHE_REGS: [u8; 4] = [6, 7, 8, 9];
const MAX_SPILL: usize = 48;
/// Scratch slots for values computed on the path (`geneve` offsets), below the spill slots.
pub const MEM_SLOTS: u8 = 8;

fn mem_off(slot: u8) -> i16 {
    -8 * (MAX_SPILL as i16 + 1 + slot as i16)
}

/// Cache key for the pointer `buf + v` (a shape the semantics never produce: size 0).
fn ptr_key(v: &Val) -> Val {
    Val::Load {
        base: Some(Box::new(v.clone())),
        off: u32::MAX,
        size: 0,
    }
}

fn has_store(p: &Pred) -> bool {
    match p {
        Pred::Store(..) => true,
        Pred::And(a, b) | Pred::Or(a, b) => has_store(a) || has_store(b),
        Pred::Not(a) => has_store(a),
        _ => false,
    }
}

type Label = usize;
const ACCEPT: Label = 0;
const REJECT: Label = 1;

/// What is known to hold at a point of the program.
#[derive(Clone, Debug, Default, PartialEq)]
struct Facts {
    regs: [Option<Val>; 4],
    /// caplen >= len_ok.
    len_ok: u32,
    /// caplen >= value + n.
    var_ok: Vec<(Val, u32)>,
    /// Outcomes of comparisons already made on this path.
    known: Vec<(Key, bool)>,
}

/// A comparison of a value against a constant.
type Key = (CmpOp, Val, u32);

impl Facts {
    fn meet(&self, o: &Facts) -> Facts {
        let mut regs: [Option<Val>; 4] = Default::default();
        for (i, r) in regs.iter_mut().enumerate() {
            if self.regs[i] == o.regs[i] {
                *r = self.regs[i].clone();
            }
        }
        let var_ok = self
            .var_ok
            .iter()
            .filter_map(|(v, n)| {
                o.var_ok
                    .iter()
                    .find(|(w, _)| w == v)
                    .map(|(_, m)| (v.clone(), (*n).min(*m)))
            })
            .collect();
        let known = self
            .known
            .iter()
            .filter(|k| o.known.contains(k))
            .cloned()
            .collect();
        Facts {
            regs,
            len_ok: self.len_ok.min(o.len_ok),
            var_ok,
            known,
        }
    }
}

/// How a register holds a value.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Form {
    Norm,
    /// Byte-swapped (raw little-endian load of `size` bytes).
    Swapped(u8),
}

struct LabelInfo {
    pos: Option<usize>,
    facts: Option<Facts>,
}

pub struct Codegen {
    insns: Vec<Insn>,
    labels: Vec<LabelInfo>,
    fixups: Vec<(usize, Label)>,
    cur: Facts,
    reachable: bool,
    rr: usize,
    spill: usize,
    pub max_reach: u64,
    /// The comparison the next `branch` decides, to record its outcome on each side.
    outcome: Option<Key>,
}

fn swap(k: u32, size: u8) -> u32 {
    match size {
        2 => ((k & 0xff) << 8) | ((k >> 8) & 0xff),
        4 => k.swap_bytes(),
        _ => k,
    }
}

fn fits(k: u32, size: u8) -> bool {
    match size {
        1 => k <= 0xff,
        2 => k <= 0xffff,
        _ => true,
    }
}

fn size_code(size: u8) -> u8 {
    match size {
        1 => BPF_B,
        2 => BPF_H,
        _ => BPF_W,
    }
}

fn alu_code(op: AluOp) -> u8 {
    match op {
        AluOp::Add => ADD,
        AluOp::Sub => SUB,
        AluOp::Mul => MUL,
        AluOp::Div => DIV,
        AluOp::Mod => MOD,
        AluOp::And => AND,
        AluOp::Or => OR,
        AluOp::Xor => XOR,
        AluOp::Lsh => LSH,
        AluOp::Rsh => RSH,
    }
}

fn jmp_code(op: CmpOp) -> u8 {
    match op {
        CmpOp::Eq => JEQ,
        CmpOp::Gt => JGT,
        CmpOp::Ge => JGE,
        CmpOp::Set => JSET,
    }
}

fn invert(code: u8) -> Option<u8> {
    Some(match code {
        JEQ => JNE,
        JNE => JEQ,
        JGT => JLE,
        JLE => JGT,
        JGE => JLT,
        JLT => JGE,
        _ => return None,
    })
}

/// Is this the IP-header-length pattern `(pkt[k] & 0xf) << 2`, worth a cache register?
fn is_cacheable_alu(v: &Val) -> bool {
    matches!(v, Val::Alu(AluOp::Lsh, a, b) if matches!(**b, Val::K(2))
        && matches!(&**a, Val::Alu(AluOp::And, x, m) if matches!(**m, Val::K(0xf))
            && matches!(**x, Val::Load { base: None, size: 1, .. })))
}

impl Codegen {
    pub fn new() -> Self {
        Codegen {
            insns: Vec::new(),
            labels: vec![
                LabelInfo {
                    pos: None,
                    facts: None,
                },
                LabelInfo {
                    pos: None,
                    facts: None,
                },
            ],
            fixups: Vec::new(),
            cur: Facts::default(),
            reachable: true,
            rr: 0,
            spill: 0,
            max_reach: 0,
            outcome: None,
        }
    }

    fn emit(&mut self, i: Insn) {
        if self.reachable {
            self.insns.push(i);
        }
    }

    fn label(&mut self) -> Label {
        self.labels.push(LabelInfo {
            pos: None,
            facts: None,
        });
        self.labels.len() - 1
    }

    fn note_jump(&mut self, l: Label) {
        let f = match self.labels[l].facts.take() {
            None => self.cur.clone(),
            Some(f) => f.meet(&self.cur),
        };
        self.labels[l].facts = Some(f);
    }

    /// Emit a jump instruction whose offset will point at `l`.
    fn jump(&mut self, i: Insn, l: Label) {
        if !self.reachable {
            return;
        }
        self.note_jump(l);
        self.fixups.push((self.insns.len(), l));
        self.insns.push(i);
        if i.code == BPF_JMP | JA {
            self.reachable = false;
        }
    }

    fn goto(&mut self, l: Label, next: Label) {
        if l != next {
            self.jump(Insn::ja(0), l);
        }
    }

    fn place(&mut self, l: Label) {
        self.labels[l].pos = Some(self.insns.len());
        if let Some(f) = self.labels[l].facts.take() {
            self.cur = if self.reachable { self.cur.meet(&f) } else { f };
            self.reachable = true;
        }
    }

    /// A conditional branch: `op` on `reg` against `imm` (or register `src`), to `t` if true.
    #[allow(clippy::too_many_arguments)]
    fn branch(
        &mut self,
        class: u8,
        op: u8,
        reg: u8,
        src: Option<u8>,
        imm: u32,
        t: Label,
        f: Label,
        next: Label,
    ) {
        let mk = |op: u8| match src {
            Some(s) => Insn::new(class | op | BPF_X, reg, s, 0, 0),
            None => Insn::new(class | op | BPF_K, reg, 0, 0, imm as i32),
        };
        let key = self.outcome.take();
        if next == f {
            self.push_known(&key, true);
            self.jump(mk(op), t);
            self.pop_known(&key);
            self.push_known(&key, false);
        } else if next == t {
            match invert(op) {
                Some(inv) => {
                    self.push_known(&key, false);
                    self.jump(mk(inv), f);
                    self.pop_known(&key);
                    self.push_known(&key, true);
                }
                None => {
                    // JSET has no inverse: skip over the jump to f.
                    if self.reachable {
                        self.push_known(&key, true);
                        self.note_jump(t);
                        self.pop_known(&key);
                        self.insns.push(Insn::new(
                            mk(op).code,
                            reg,
                            src.unwrap_or(0),
                            1,
                            imm as i32,
                        ));
                        self.push_known(&key, false);
                        self.jump(Insn::ja(0), f);
                        // t is the next instruction, reached only by the jset.
                        self.reachable = true;
                        if let Some(ft) = self.labels[t].facts.clone() {
                            self.cur = ft;
                        }
                    }
                }
            }
        } else {
            self.push_known(&key, true);
            self.jump(mk(op), t);
            self.pop_known(&key);
            self.push_known(&key, false);
            self.jump(Insn::ja(0), f);
        }
    }

    fn push_known(&mut self, key: &Option<Key>, v: bool) {
        if let Some(k) = key {
            self.cur.known.push((k.clone(), v));
        }
    }

    fn pop_known(&mut self, key: &Option<Key>) {
        if key.is_some() {
            self.cur.known.pop();
        }
    }

    /// The outcome of `a op k` if this path already decided it.
    fn known(&self, op: CmpOp, a: &Val, k: u32) -> Option<bool> {
        for ((o, v, c), r) in &self.cur.known {
            if *o == op && v == a {
                if *c == k {
                    return Some(*r);
                }
                if op == CmpOp::Eq && *r {
                    return Some(false);
                }
            }
        }
        None
    }

    fn reject_if(&mut self, class: u8, op: u8, reg: u8, src: Option<u8>, imm: u32) {
        let i = match src {
            Some(s) => Insn::new(class | op | BPF_X, reg, s, 0, 0),
            None => Insn::new(class | op | BPF_K, reg, 0, 0, imm as i32),
        };
        self.jump(i, REJECT);
    }

    fn alloc_cache(&mut self) -> usize {
        if let Some(i) = self.cur.regs.iter().position(|r| r.is_none()) {
            return i;
        }
        let i = self.rr % CACHE_REGS.len();
        self.rr += 1;
        i
    }

    fn cached(&self, v: &Val) -> Option<u8> {
        self.cur
            .regs
            .iter()
            .position(|r| r.as_ref() == Some(v))
            .map(|i| CACHE_REGS[i])
    }

    fn set_cache(&mut self, i: usize, v: Val) {
        // The register's old value is gone; so is any bound check keyed on it.
        if let Some(old) = self.cur.regs[i].take() {
            self.cur.var_ok.retain(|(w, _)| *w != old);
        }
        self.cur.regs[i] = Some(v);
    }

    /// Check that `end` bytes are captured.
    fn check_len(&mut self, end: u64) {
        self.max_reach = self.max_reach.max(end.min(FILTER_BUF_SIZE as u64));
        if end > FILTER_BUF_SIZE as u64 {
            self.jump(Insn::ja(0), REJECT);
            return;
        }
        if (self.cur.len_ok as u64) < end {
            self.reject_if(BPF_JMP, JLT, R2, None, end as u32);
            self.cur.len_ok = end as u32;
        }
    }

    /// Evaluate `v`; the register may be a read-only cache register.
    fn eval(&mut self, v: &Val) -> Result<(u8, Form), FilterError> {
        match v {
            Val::K(k) => {
                self.emit(Insn::alu32_imm(MOV, R0, *k as i32));
                Ok((R0, Form::Norm))
            }
            Val::Len => Ok((R3, Form::Norm)),
            Val::Load {
                base: None,
                off,
                size,
            } => {
                let form = if *size > 1 {
                    Form::Swapped(*size)
                } else {
                    Form::Norm
                };
                if let Some(r) = self.cached(v) {
                    return Ok((r, form));
                }
                self.check_len(*off as u64 + *size as u64);
                if !self.reachable {
                    return Ok((R0, Form::Norm));
                }
                let i = self.alloc_cache();
                let r = CACHE_REGS[i];
                self.emit(Insn::ldx(size_code(*size), r, R1, *off as i16));
                self.set_cache(i, v.clone());
                Ok((r, form))
            }
            Val::Load {
                base: Some(b),
                off,
                size,
            } => {
                let br = self.eval_base(b)?;
                let end = *off as u64 + *size as u64;
                self.max_reach = self
                    .max_reach
                    .max((b.max() + end).min(FILTER_BUF_SIZE as u64));
                if end > FILTER_BUF_SIZE as u64 {
                    self.jump(Insn::ja(0), REJECT);
                    return Ok((R0, Form::Norm));
                }
                if b.max() + end > FILTER_BUF_SIZE as u64 {
                    // Tell the verifier the offset stays inside the buffer (caplen <= 2048, so
                    // libpcap would reject such a load as well).
                    self.reject_if(BPF_JMP, JGT, br, None, FILTER_BUF_SIZE - end as u32);
                }
                let known = self
                    .cur
                    .var_ok
                    .iter()
                    .any(|(w, n)| w == &**b && *n as u64 >= end);
                if !known {
                    self.emit(Insn::alu64_reg(MOV, R5, br));
                    self.emit(Insn::alu64_imm(ADD, R5, end as i32));
                    self.reject_if(BPF_JMP, JGT, R5, Some(R2), 0);
                    if self.cached(b).is_some() {
                        let e = end as u32;
                        self.cur.var_ok.retain(|(w, _)| w != &**b);
                        self.cur.var_ok.push(((**b).clone(), e));
                    }
                }
                if br != R0 && self.cached(b) == Some(br) {
                    // Keep buf + base in a cache register: later loads from it are one insn.
                    let pkey = ptr_key(b);
                    let rp = match self.cached(&pkey) {
                        Some(r) => r,
                        None => {
                            let mut i = self.alloc_cache();
                            if CACHE_REGS[i] == br {
                                i = (i + 1) % CACHE_REGS.len();
                            }
                            let rp = CACHE_REGS[i];
                            self.emit(Insn::alu64_reg(MOV, rp, R1));
                            self.emit(Insn::alu64_reg(ADD, rp, br));
                            self.set_cache(i, pkey);
                            rp
                        }
                    };
                    self.emit(Insn::ldx(size_code(*size), R0, rp, *off as i16));
                } else {
                    if br == R0 {
                        self.emit(Insn::alu64_reg(ADD, R0, R1));
                    } else {
                        self.emit(Insn::alu64_reg(MOV, R0, R1));
                        self.emit(Insn::alu64_reg(ADD, R0, br));
                    }
                    self.emit(Insn::ldx(size_code(*size), R0, R0, *off as i16));
                }
                let form = if *size > 1 {
                    Form::Swapped(*size)
                } else {
                    Form::Norm
                };
                Ok((R0, form))
            }
            v if is_cacheable_alu(v) => {
                if let Some(r) = self.cached(v) {
                    return Ok((r, Form::Norm));
                }
                let Val::Alu(_, a, _) = v else { unreachable!() };
                let Val::Alu(_, x, _) = &**a else {
                    unreachable!()
                };
                let (xr, _) = self.eval(x)?;
                if !self.reachable {
                    return Ok((R0, Form::Norm));
                }
                // Keep the byte load cached too: pick a register other than xr.
                let mut i = self.alloc_cache();
                if CACHE_REGS[i] == xr {
                    i = (i + 1) % CACHE_REGS.len();
                }
                let r = CACHE_REGS[i];
                self.emit(Insn::alu32_reg(MOV, r, xr));
                self.emit(Insn::alu32_imm(AND, r, 0xf));
                self.emit(Insn::alu32_imm(LSH, r, 2));
                self.set_cache(i, v.clone());
                Ok((r, Form::Norm))
            }
            v => {
                self.eval_r0(v)?;
                Ok((R0, Form::Norm))
            }
        }
    }

    /// The base of a variable load, normalised, in a register (R0 or a cache register).
    fn eval_base(&mut self, b: &Val) -> Result<u8, FilterError> {
        let (r, form) = self.eval(b)?;
        if let Form::Swapped(s) = form {
            self.emit(Insn::alu32_reg(MOV, R0, r));
            self.emit(Insn::to_be(R0, s as i32 * 8));
            return Ok(R0);
        }
        Ok(r)
    }

    /// Evaluate into r0, normalised.
    fn eval_r0(&mut self, v: &Val) -> Result<(), FilterError> {
        match v {
            Val::Alu(op, a, b) => {
                if let Val::K(k) = **b {
                    self.eval_r0(a)?;
                    self.emit(Insn::alu32_imm(alu_code(*op), R0, k as i32));
                    return Ok(());
                }
                self.eval_r0(b)?;
                let slot = self.push_spill()?;
                self.eval_r0(a)?;
                self.pop_spill(slot);
                if matches!(op, AluOp::Div | AluOp::Mod) {
                    // cBPF rejects the packet on division by zero.
                    self.reject_if(BPF_JMP32, JEQ, R4, None, 0);
                }
                self.emit(Insn::alu32_reg(alu_code(*op), R0, R4));
                Ok(())
            }
            Val::Neg(a) => {
                self.eval_r0(a)?;
                self.emit(Insn::alu32_imm(NEG, R0, 0));
                Ok(())
            }
            Val::Mem(slot) => {
                self.emit(Insn::ldx(BPF_DW, R0, R10, mem_off(*slot)));
                Ok(())
            }
            v => {
                let (r, form) = self.eval(v)?;
                if r != R0 {
                    self.emit(Insn::alu32_reg(MOV, R0, r));
                }
                if let Form::Swapped(s) = form {
                    self.emit(Insn::to_be(R0, s as i32 * 8));
                }
                Ok(())
            }
        }
    }

    fn push_spill(&mut self) -> Result<usize, FilterError> {
        if self.spill >= MAX_SPILL {
            return Err(FilterError::new("expression too complex".into(), 0));
        }
        let slot = self.spill;
        self.spill += 1;
        self.emit(Insn::stx(BPF_DW, R10, R0, -8 * (slot as i16 + 1)));
        Ok(slot)
    }

    fn pop_spill(&mut self, slot: usize) {
        self.emit(Insn::ldx(BPF_DW, R4, R10, -8 * (slot as i16 + 1)));
        self.spill -= 1;
    }

    fn cond(&mut self, p: &Pred, t: Label, f: Label, next: Label) -> Result<(), FilterError> {
        if !self.reachable {
            return Ok(());
        }
        match p {
            Pred::True => self.goto(t, next),
            Pred::False => self.goto(f, next),
            Pred::Not(x) => self.cond(x, f, t, next)?,
            Pred::And(a, b) => {
                let m = self.label();
                self.cond(a, m, f, m)?;
                self.place(m);
                self.cond(b, t, f, next)?;
            }
            Pred::Or(a, b) => {
                let m = self.label();
                self.cond(a, t, m, m)?;
                self.place(m);
                self.cond(b, t, f, next)?;
            }
            Pred::Cmp(op, a, b) => self.compare(*op, a, b, t, f, next)?,
            Pred::ProtoChain(pc) => self.protochain(pc, t, f, next)?,
            Pred::Store(slot, v) => {
                self.eval_r0(v)?;
                self.emit(Insn::stx(BPF_DW, R10, R0, mem_off(*slot)));
                self.cur.var_ok.retain(|(w, _)| !w.mentions_mem());
                self.cur.known.retain(|((_, w, _), _)| !w.mentions_mem());
                self.goto(t, next);
            }
        }
        Ok(())
    }

    fn compare(
        &mut self,
        op: CmpOp,
        a: &Val,
        b: &Val,
        t: Label,
        f: Label,
        next: Label,
    ) -> Result<(), FilterError> {
        let code = jmp_code(op);
        if let Val::K(k) = *b {
            if let Some(r) = self.known(op, a, k) {
                self.goto(if r { t } else { f }, next);
                return Ok(());
            }
            let key = Some((op, a.clone(), k));
            // (x & m) == k on a raw load: compare in the load's byte order.
            if op == CmpOp::Eq
                && let Val::Alu(AluOp::And, x, m) = a
                && let Val::K(m) = **m
            {
                if m == 0 {
                    // libpcap's optimiser folds `x & 0` to 0 and drops the load; so do we.
                    self.goto(if k == 0 { t } else { f }, next);
                    return Ok(());
                }
                let (xr, form) = self.eval(x)?;
                if !self.reachable {
                    return Ok(());
                }
                let (m2, k2) = match form {
                    Form::Swapped(s) if fits(m, s) && fits(k, s) => (swap(m, s), swap(k, s)),
                    Form::Swapped(s) => {
                        self.emit(Insn::alu32_reg(MOV, R0, xr));
                        self.emit(Insn::to_be(R0, s as i32 * 8));
                        self.emit(Insn::alu32_imm(AND, R0, m as i32));
                        {
                            self.outcome = key.clone();
                            self.branch(BPF_JMP32, JEQ, R0, None, k, t, f, next);
                        }
                        return Ok(());
                    }
                    Form::Norm => (m, k),
                };
                self.emit(Insn::alu32_reg(MOV, R0, xr));
                self.emit(Insn::alu32_imm(AND, R0, m2 as i32));
                {
                    self.outcome = key.clone();
                    self.branch(BPF_JMP32, JEQ, R0, None, k2, t, f, next);
                }
                return Ok(());
            }
            let (r, form) = self.eval(a)?;
            if !self.reachable {
                return Ok(());
            }
            match form {
                Form::Swapped(s) if matches!(op, CmpOp::Eq | CmpOp::Set) && fits(k, s) => {
                    self.outcome = key.clone();
                    self.branch(BPF_JMP32, code, r, None, swap(k, s), t, f, next);
                }
                Form::Swapped(s) => {
                    self.emit(Insn::alu32_reg(MOV, R0, r));
                    self.emit(Insn::to_be(R0, s as i32 * 8));
                    {
                        self.outcome = key.clone();
                        self.branch(BPF_JMP32, code, R0, None, k, t, f, next);
                    }
                }
                Form::Norm => {
                    self.outcome = key.clone();
                    self.branch(BPF_JMP32, code, r, None, k, t, f, next);
                }
            }
            return Ok(());
        }
        self.eval_r0(b)?;
        let slot = self.push_spill()?;
        self.eval_r0(a)?;
        self.pop_spill(slot);
        self.branch(BPF_JMP32, code, R0, Some(R4), 0, t, f, next);
        Ok(())
    }

    /// Walk IPv6 extension headers (or IPv4 AH) looking for `proto`, unrolled: no loops for
    /// the verifier. libpcap's loop has no bound; 8 headers cover real traffic.
    fn protochain(
        &mut self,
        pc: &ProtoChain,
        t: Label,
        f: Label,
        next: Label,
    ) -> Result<(), FilterError> {
        const STEPS: usize = 8;
        let nl = pc.nl;
        // r0 = next header, r5 = offset of the current extension header (from nl).
        if pc.v6 {
            self.check_len(nl as u64 + 7);
            self.emit(Insn::ldx(BPF_B, R0, R1, (nl + 6) as i16));
            self.emit(Insn::alu64_imm(MOV, R5, 40));
        } else {
            self.check_len(nl as u64 + 10);
            self.emit(Insn::ldx(BPF_B, R0, R1, (nl + 9) as i16));
            self.emit(Insn::ldx(BPF_B, R5, R1, nl as i16));
            self.emit(Insn::alu32_imm(AND, R5, 0xf));
            self.emit(Insn::alu32_imm(LSH, R5, 2));
        }
        self.max_reach = FILTER_BUF_SIZE as u64;
        // The walk's facts about registers are lost: it clobbers r0 and r5 only.
        for step in 0..=STEPS {
            self.jump(Insn::jmp32_imm(JEQ, R0, pc.proto as i32, 0), t);
            if step == STEPS {
                break;
            }
            let not_ext = self.label();
            let ah = self.label();
            let ext = self.label();
            if pc.v6 {
                for h in [0, 43, 44, 60] {
                    self.jump(Insn::jmp32_imm(JEQ, R0, h, 0), ext);
                }
            }
            self.jump(Insn::jmp32_imm(JEQ, R0, 51, 0), ah);
            self.jump(Insn::ja(0), f);
            // Generic extension header: length in 8-byte units after 8 bytes.
            self.place(ext);
            self.load_at_r5(nl, 2)?;
            // r0 = next header (byte 0), length byte in r4.
            self.emit(Insn::ldx(BPF_B, R4, R0, (nl + 1) as i16));
            self.emit(Insn::ldx(BPF_B, R0, R0, nl as i16));
            self.emit(Insn::alu64_imm(LSH, R4, 3));
            self.emit(Insn::alu64_imm(ADD, R4, 8));
            self.emit(Insn::alu64_reg(ADD, R5, R4));
            self.jump(Insn::ja(0), not_ext);
            // AH: length in 4-byte units after 8 bytes.
            self.place(ah);
            self.load_at_r5(nl, 2)?;
            self.emit(Insn::ldx(BPF_B, R4, R0, (nl + 1) as i16));
            self.emit(Insn::ldx(BPF_B, R0, R0, nl as i16));
            self.emit(Insn::alu64_imm(LSH, R4, 2));
            self.emit(Insn::alu64_imm(ADD, R4, 8));
            self.emit(Insn::alu64_reg(ADD, R5, R4));
            self.place(not_ext);
        }
        let _ = next;
        self.jump(Insn::ja(0), f);
        Ok(())
    }

    /// Bounds-check `nl + r5 + size` and leave r0 = buf + r5 (a pointer for loads at nl+k).
    fn load_at_r5(&mut self, nl: u32, size: u32) -> Result<(), FilterError> {
        let end = nl + size;
        self.reject_if(BPF_JMP, JGT, R5, None, FILTER_BUF_SIZE - end);
        self.emit(Insn::alu64_reg(MOV, R0, R5));
        self.emit(Insn::alu64_imm(ADD, R0, end as i32));
        self.reject_if(BPF_JMP, JGT, R0, Some(R2), 0);
        self.emit(Insn::alu64_reg(MOV, R0, R1));
        self.emit(Insn::alu64_reg(ADD, R0, R5));
        Ok(())
    }

    fn resolve(mut self) -> Result<Vec<Insn>, FilterError> {
        for (at, l) in std::mem::take(&mut self.fixups) {
            let pos = self.labels[l]
                .pos
                .ok_or_else(|| FilterError::new("internal error: unplaced label".into(), 0))?;
            let off = pos as i64 - at as i64 - 1;
            if off < 0 || off > i16::MAX as i64 {
                return Err(FilterError::new(
                    "expression too long for eBPF jumps".into(),
                    0,
                ));
            }
            self.insns[at].off = off as i16;
        }
        Ok(self.insns)
    }
}

/// One function serving both entry points: branch on r4, then the L2 or the L3 body.
pub fn generate(l2: &Pred, l3: &Pred) -> Result<(Vec<Insn>, u32), FilterError> {
    let mut g = Codegen::new();
    // u32 arguments: make sure the upper halves are zero before 64-bit arithmetic.
    g.emit(Insn::alu32_reg(MOV, R2, R2));
    g.emit(Insn::alu32_reg(MOV, R3, R3));
    if has_store(l2) || has_store(l3) {
        // libpcap's scratch memory starts zeroed; the verifier also wants it written.
        g.emit(Insn::alu64_imm(MOV, R0, 0));
        for slot in 0..MEM_SLOTS {
            g.emit(Insn::stx(BPF_DW, R10, R0, mem_off(slot)));
        }
    }
    let l3_label = g.label();
    match l3 {
        Pred::False => g.jump(Insn::jmp_imm(JNE, R4, 0, 0), REJECT),
        Pred::True => g.jump(Insn::jmp_imm(JNE, R4, 0, 0), ACCEPT),
        _ => g.jump(Insn::jmp_imm(JNE, R4, 0, 0), l3_label),
    }
    g.cond(l2, ACCEPT, REJECT, l3_label)?;
    if !matches!(l3, Pred::False | Pred::True) {
        // The L3 body starts with nothing known.
        g.reachable = false;
        g.place(l3_label);
        g.cur = Facts::default();
        g.rr = 0;
        g.cond(l3, ACCEPT, REJECT, ACCEPT)?;
    }
    g.place(ACCEPT);
    g.emit(Insn::alu64_imm(MOV, R0, 1));
    g.emit(Insn::exit());
    g.reachable = false;
    g.place(REJECT);
    g.emit(Insn::alu64_imm(MOV, R0, 0));
    g.emit(Insn::exit());
    let reach = g.max_reach;
    let insns = g.resolve()?;
    Ok((insns, reach.min(FILTER_BUF_SIZE as u64) as u32))
}
