//! The optimised graph to eBPF, per docs/filter-abi.md.
//!
//! Registers: r1 = buf and r2 = caplen, both moved by the Ethernet body's rebase (so r2 may be
//! negative there: it is compared signed); r3 = wirelen; r0 = 0 from the first instruction on,
//! so a reject is a jump to the final `exit` and an accept sets 1 just before it. r4-r9 (and
//! r3 when `len` is not used) hold values: a value stays in its register along the paths
//! after it (register contents meet where paths join), and the register to reuse is the one
//! whose value is needed furthest ahead. Caplen is checked, where a load first needs it, for
//! the most that every accepting path from there will load, so one check covers a run of loads
//! (exact: a shorter packet would be rejected by a later load anyway).
//!
//! Nodes are laid out so that every jump goes forward, a node's successor following it where it
//! can, so most comparisons are a single conditional jump.

mod analysis;

use std::collections::HashMap;

use analysis::{
    Dominators, Need, anticipate, l2_reads, layout, mentions_len, operands, own_need, shallow,
    snaplen, walk,
};

use crate::FilterError;
use crate::cfg::{ACCEPT, Graph, Node, NodeId, Operand, REJECT, V, ValId, Walk};
use crate::insn::*;
use crate::ir::{AluOp, CmpOp};

pub const FILTER_BUF_SIZE: u32 = 2048;
/// Scratch slots for values computed on the path (`geneve` offsets), on the stack.
pub const MEM_SLOTS: u8 = 8;

fn mem_off(slot: u8) -> i16 {
    -8 * (slot as i16 + 1)
}

/// How a register holds a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    Norm,
    /// As loaded: `size` bytes in network order, read little-endian.
    Swapped(u8),
}

/// What a register holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Val(ValId),
    /// r1 + the value.
    Ptr(ValId),
    /// caplen - the value (the room left after a variable offset).
    Lim(ValId),
}

/// What is known at a point of the program.
#[derive(Clone, Debug, PartialEq)]
struct State {
    regs: [Option<(Key, Form)>; 10],
    /// caplen >= known (body coordinates).
    known: i32,
    /// Loads already made on some path here that reach past `known` and are not checked yet
    /// (the highest end): a check covering them must come before the packet is accepted.
    pending: i32,
    /// caplen >= value + n.
    var_known: Vec<(ValId, i32)>,
}

impl State {
    fn new(known: i32) -> State {
        State {
            regs: [None; 10],
            known,
            pending: i32::MIN,
            var_known: Vec::new(),
        }
    }

    fn meet(&self, o: &State) -> State {
        let mut regs = [None; 10];
        for (i, r) in regs.iter_mut().enumerate() {
            if self.regs[i] == o.regs[i] {
                *r = self.regs[i];
            }
        }
        let var_known = self
            .var_known
            .iter()
            .filter_map(|(v, n)| {
                o.var_known
                    .iter()
                    .find(|(w, _)| w == v)
                    .map(|(_, m)| (*v, (*n).min(*m)))
            })
            .collect();
        State {
            regs,
            known: self.known.min(o.known),
            pending: self.pending.max(o.pending),
            var_known,
        }
    }
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

pub struct Codegen<'g> {
    g: &'g Graph,
    insns: Vec<Insn>,
    /// (instruction, target node) for the jump offsets.
    fixups: Vec<(usize, NodeId)>,
    label: HashMap<NodeId, usize>,
    pending: HashMap<NodeId, State>,
    cur: State,
    /// Layout position of the node being emitted.
    pos: usize,
    /// Layout positions where each key is used.
    uses: HashMap<Key, Vec<usize>>,
    dom: Dominators,
    /// How often each value occurs in the node being emitted.
    occ: HashMap<ValId, u32>,
    pins: Vec<u8>,
    pool: Vec<u8>,
    need: HashMap<NodeId, Need>,
    layout: Vec<NodeId>,
    /// The register (and form) of each register variable, fixed by its first `Bind`.
    slots: HashMap<ValId, (u8, Form)>,
    /// The register the next `alloc` should return.
    hint: Option<u8>,
    /// Whether the Ethernet body moves r1 and caplen (see `Node::Entry`).
    rebase: bool,
}

impl<'g> Codegen<'g> {
    fn emit(&mut self, i: Insn) {
        self.insns.push(i);
    }

    fn jump_to(&mut self, i: Insn, target: NodeId) {
        if target != ACCEPT && target != REJECT {
            let st = match self.pending.remove(&target) {
                None => self.cur.clone(),
                Some(s) => s.meet(&self.cur),
            };
            self.pending.insert(target, st);
        }
        self.fixups.push((self.insns.len(), target));
        self.insns.push(i);
    }

    fn reject_if(&mut self, i: Insn) {
        self.jump_to(i, REJECT);
    }

    /// The next layout position using `k` that the current node dominates: elsewhere the
    /// paths that join there take the register's contents away anyway.
    fn next_use(&self, k: Key) -> Option<usize> {
        let v = self.uses.get(&k)?;
        let i = v.partition_point(|&p| p <= self.pos);
        v[i..]
            .iter()
            .take(64)
            .copied()
            .find(|&p| self.dom.dominates(self.pos, p))
    }

    fn find(&self, k: Key) -> Option<(u8, Form)> {
        let mut best = None;
        for (r, slot) in self.cur.regs.iter().enumerate() {
            if let Some((key, form)) = slot
                && *key == k
                && (best.is_none() || *form == Form::Norm)
            {
                best = Some((r as u8, *form));
            }
        }
        best
    }

    fn set(&mut self, r: u8, k: Key, form: Form) {
        self.cur.regs[r as usize] = Some((k, form));
    }

    fn pin(&mut self, r: u8) {
        self.pins.push(r);
    }

    fn unpin(&mut self, r: u8) {
        if let Some(i) = self.pins.iter().rposition(|&p| p == r) {
            self.pins.swap_remove(i);
        }
    }

    /// A register for a new value: a free one, else the one needed furthest ahead.
    fn alloc(&mut self) -> Result<u8, FilterError> {
        if let Some(h) = self.hint.take()
            && !self.pins.contains(&h)
        {
            self.drop_reg(h);
            return Ok(h);
        }
        let mut best: Option<(u8, usize)> = None;
        for &r in &self.pool {
            if self.pins.contains(&r) {
                continue;
            }
            let score = match self.cur.regs[r as usize] {
                None => usize::MAX,
                Some((k, _)) => self.next_use(k).unwrap_or(usize::MAX - 1),
            };
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((r, score));
            }
        }
        let (r, _) =
            best.ok_or_else(|| FilterError::new("expression needs too many registers".into(), 0))?;
        self.drop_reg(r);
        Ok(r)
    }

    fn drop_reg(&mut self, r: u8) {
        self.cur.regs[r as usize] = None;
    }

    /// The register to compute `f(a)` into, given `a` in `ra`: `ra` itself when nothing needs
    /// `a` afterwards, else a copy.
    fn dest(&mut self, a: ValId, ra: u8) -> Result<u8, FilterError> {
        let last = self.occ.get(&a).copied().unwrap_or(0) <= 1
            && self.next_use(Key::Val(a)).is_none()
            && self.pool.contains(&ra);
        if last {
            self.drop_reg(ra);
            return Ok(ra);
        }
        self.pin(ra);
        let rd = self.alloc();
        self.unpin(ra);
        let rd = rd?;
        self.emit(Insn::alu32_reg(MOV, rd, ra));
        Ok(rd)
    }

    /// `v` in a register, in whatever form is at hand.
    fn eval(&mut self, v: ValId) -> Result<(u8, Form), FilterError> {
        if let Some(x) = self.find(Key::Val(v)) {
            return Ok(x);
        }
        let vals = &self.g.vals;
        let (r, form) = match vals.get(v).clone() {
            V::K(k) => {
                let r = self.alloc()?;
                self.emit(Insn::alu32_imm(MOV, r, k as i32));
                (r, Form::Norm)
            }
            V::Len => return Ok((R3, Form::Norm)),
            V::Slot(_) => {
                return Err(FilterError::new(
                    "internal error: a register variable was lost".into(),
                    0,
                ));
            }
            V::Mem(slot) => {
                let r = self.alloc()?;
                self.emit(Insn::ldx(BPF_DW, r, R10, mem_off(slot)));
                (r, Form::Norm)
            }
            V::Load {
                base: None,
                off,
                size,
                ..
            } => {
                let r = self.alloc()?;
                self.emit(Insn::ldx(size_code(size), r, R1, off as i16));
                (r, load_form(size))
            }
            V::Load {
                base: Some(b),
                off,
                size,
                guard,
            } => {
                let mut rb = None;
                if let Some(gd) = guard {
                    // Tell the verifier the offset stays inside the buffer (a packet that far
                    // would fail the caplen check anyway).
                    let r = self.base(b, &mut rb)?;
                    self.reject_if(Insn::jmp_imm(JGT, r, gd as i32, 0));
                }
                self.var_check(b, &mut rb, off + size as i32)?;
                let rp = match self.find(Key::Ptr(b)) {
                    Some((r, _)) => r,
                    None => {
                        let r = self.base(b, &mut rb)?;
                        self.ptr(b, r)?
                    }
                };
                if let Some(r) = rb {
                    self.unpin(r);
                }
                let r = if self.next_use(Key::Ptr(b)).is_none() {
                    self.drop_reg(rp);
                    rp
                } else {
                    self.pin(rp);
                    let r = self.alloc();
                    self.unpin(rp);
                    r?
                };
                self.emit(Insn::ldx(size_code(size), r, rp, off as i16));
                (r, load_form(size))
            }
            V::Alu(op, a, b) => {
                let k = match vals.get(b) {
                    V::K(k) => Some(*k),
                    _ => None,
                };
                let ra = self.eval_norm(a)?;
                let r = match k {
                    Some(k) => {
                        let rd = self.dest(a, ra)?;
                        self.emit(Insn::alu32_imm(alu_code(op), rd, k as i32));
                        rd
                    }
                    None => {
                        self.pin(ra);
                        let rb = self.eval_norm(b);
                        let rb = match rb {
                            Ok(rb) => rb,
                            Err(e) => {
                                self.unpin(ra);
                                return Err(e);
                            }
                        };
                        self.pin(rb);
                        if matches!(op, AluOp::Div | AluOp::Mod) {
                            // cBPF rejects the packet on division by zero.
                            self.reject_if(Insn::jmp32_imm(JEQ, rb, 0, 0));
                        }
                        self.unpin(ra);
                        let rd = self.dest(a, ra);
                        self.unpin(rb);
                        let rd = rd?;
                        self.emit(Insn::alu32_reg(alu_code(op), rd, rb));
                        rd
                    }
                };
                (r, Form::Norm)
            }
            V::Neg(a) => {
                let ra = self.eval_norm(a)?;
                let rd = self.dest(a, ra)?;
                self.emit(Insn::alu32_imm(NEG, rd, 0));
                (rd, Form::Norm)
            }
        };
        self.set(r, Key::Val(v), form);
        Ok((r, form))
    }

    /// `v` in a register, in host order.
    fn eval_norm(&mut self, v: ValId) -> Result<u8, FilterError> {
        if let Some((r, Form::Norm)) = self.find(Key::Val(v)) {
            return Ok(r);
        }
        let (r, form) = self.eval(v)?;
        if let Form::Swapped(s) = form {
            // The host-order value serves every later use, so convert in place.
            self.emit(Insn::to_be(r, s as i32 * 8));
            self.set(r, Key::Val(v), Form::Norm);
        }
        Ok(r)
    }

    /// r1 + `b` in a register.
    fn ptr(&mut self, b: ValId, rb: u8) -> Result<u8, FilterError> {
        if let Some((r, _)) = self.find(Key::Ptr(b)) {
            return Ok(r);
        }
        if self.occ.get(&b).copied().unwrap_or(0) <= 1
            && self.next_use(Key::Val(b)).is_none()
            && self.pool.contains(&rb)
        {
            // The offset is not needed again: turn it into the pointer.
            self.emit(Insn::alu64_reg(ADD, rb, R1));
            self.set(rb, Key::Ptr(b), Form::Norm);
            return Ok(rb);
        }
        let rp = self.alloc()?;
        self.emit(Insn::alu64_reg(MOV, rp, R1));
        self.emit(Insn::alu64_reg(ADD, rp, rb));
        self.set(rp, Key::Ptr(b), Form::Norm);
        Ok(rp)
    }

    /// Make sure caplen >= b + end, checking (once) what every accepting path will need.
    /// The offset `b` of a variable load in a register (pinned), computed once per load.
    fn base(&mut self, b: ValId, rb: &mut Option<u8>) -> Result<u8, FilterError> {
        if let Some(r) = *rb {
            return Ok(r);
        }
        let r = self.eval_norm(b)?;
        self.pin(r);
        *rb = Some(r);
        Ok(r)
    }

    fn var_check(&mut self, b: ValId, rb: &mut Option<u8>, end: i32) -> Result<(), FilterError> {
        if self.cur.known as i64 >= self.g.vals.max(b) as i64 + end as i64 {
            return Ok(());
        }
        if self.cur.var_known.iter().any(|(w, n)| *w == b && *n >= end) {
            return Ok(());
        }
        let want = self
            .need
            .get(&self.node_at())
            .and_then(|n| n.var.as_ref())
            .and_then(|v| v.iter().find(|(w, _)| *w == b).map(|(_, n)| *n))
            .unwrap_or(end)
            .max(end);
        let rl = match self.find(Key::Lim(b)) {
            Some((r, _)) => r,
            None => {
                let rb = self.base(b, rb)?;
                let rl = self.alloc()?;
                self.emit(Insn::alu32_reg(MOV, rl, R2));
                self.emit(Insn::alu32_reg(SUB, rl, rb));
                self.set(rl, Key::Lim(b), Form::Norm);
                rl
            }
        };
        self.reject_if(Insn::jmp32_imm(JSLT, rl, want, 0));
        self.cur.var_known.retain(|(w, _)| *w != b);
        self.cur.var_known.push((b, want));
        Ok(())
    }

    fn node_at(&self) -> NodeId {
        self.layout[self.pos]
    }

    /// Account for node `n`'s constant-offset loads (ending at `own`). A load past caplen
    /// only has to reject the packet before it is accepted: reading stale buffer bytes in the
    /// meantime is harmless (every load stays inside the buffer for the verifier). So the check
    /// waits until it must be made: before an edge to accept, or before an edge into a part of
    /// the program that will not check as much itself. It then checks what every accepting
    /// path from here loads anyway, which covers the waiting loads (they are all at most that).
    fn const_check(&mut self, n: NodeId, own: i32) {
        if own > self.cur.known {
            self.cur.pending = self.cur.pending.max(own);
        }
        if self.cur.pending <= self.cur.known {
            self.cur.pending = i32::MIN;
            return;
        }
        let pending = self.cur.pending;
        let forced = self.g.node(n).succs().any(|s| {
            s == ACCEPT || (s != REJECT && self.need.get(&s).is_none_or(|ns| ns.known < pending))
        });
        if !forced {
            return;
        }
        let want = self
            .need
            .get(&n)
            .map_or(pending, |ns| ns.known)
            .clamp(pending, FILTER_BUF_SIZE as i32 + 1);
        self.reject_if(Insn::jmp32_imm(JSLT, R2, want, 0));
        self.cur.known = want;
        self.cur.pending = i32::MIN;
    }

    /// A conditional jump on `code` to `t`, else `f`; `next` is the node laid out next.
    /// Returns whether control falls through into `next`.
    #[allow(clippy::too_many_arguments)]
    fn branch(
        &mut self,
        code: u8,
        reg: u8,
        src: Option<u8>,
        imm: u32,
        t: NodeId,
        f: NodeId,
        next: NodeId,
    ) -> bool {
        let mk = |c: u8| match src {
            Some(s) => Insn::new(BPF_JMP32 | c | BPF_X, reg, s, 0, 0),
            None => Insn::new(BPF_JMP32 | c | BPF_K, reg, 0, 0, imm as i32),
        };
        if next == f {
            self.jump_to(mk(code), t);
            return true;
        }
        if next == t
            && let Some(inv) = inverse(code)
        {
            self.jump_to(mk(inv), f);
            return true;
        }
        self.jump_to(mk(code), t);
        self.goto(f, next)
    }

    /// Continue at `to`: by falling through when it is next, else by a jump.
    fn goto(&mut self, to: NodeId, next: NodeId) -> bool {
        if to == next {
            return true;
        }
        self.jump_to(Insn::ja(0), to);
        false
    }

    fn test(
        &mut self,
        op: CmpOp,
        a: ValId,
        b: Operand,
        t: NodeId,
        f: NodeId,
        next: NodeId,
    ) -> Result<bool, FilterError> {
        let code = jmp_code(op);
        let k = match b {
            Operand::K(k) => k,
            Operand::V(bv) => {
                let ra = self.eval_norm(a)?;
                self.pin(ra);
                let rb = self.eval_norm(bv);
                self.unpin(ra);
                let rb = rb?;
                return Ok(self.branch(code, ra, Some(rb), 0, t, f, next));
            }
        };
        // (x & m) == k: mask and compare in the load's byte order.
        if op == CmpOp::Eq
            && self.find(Key::Val(a)).is_none()
            && let V::Alu(AluOp::And, x, m) = *self.g.vals.get(a)
            && let V::K(m) = *self.g.vals.get(m)
        {
            let (mut rx, mut form) = self.eval(x)?;
            let (m2, k2) = match form {
                Form::Swapped(s) if fits(m, s) && fits(k, s) => (swap(m, s), swap(k, s)),
                Form::Swapped(_) => {
                    rx = self.eval_norm(x)?;
                    form = Form::Norm;
                    (m, k)
                }
                Form::Norm => (m, k),
            };
            let rd = self.dest(x, rx)?;
            self.emit(Insn::alu32_imm(AND, rd, m2 as i32));
            self.set(rd, Key::Val(a), form);
            return Ok(self.branch(JEQ, rd, None, k2, t, f, next));
        }
        let (r, form) = self.eval(a)?;
        Ok(match form {
            Form::Swapped(s) if matches!(op, CmpOp::Eq | CmpOp::Set) && fits(k, s) => {
                self.branch(code, r, None, swap(k, s), t, f, next)
            }
            // Ranges that are bit tests need no byte swap: v >= 1 is v != 0, and
            // v > 2^n - 1 is v & ~(2^n - 1) != 0.
            Form::Swapped(_) if matches!((op, k), (CmpOp::Ge, 1) | (CmpOp::Gt, 0)) => {
                self.branch(JEQ, r, None, 0, f, t, next)
            }
            Form::Swapped(s) if high_bits(op, k, s).is_some() && next != t => {
                let m = high_bits(op, k, s).unwrap_or(0);
                self.branch(JSET, r, None, swap(m, s), t, f, next)
            }
            Form::Swapped(_) => {
                let r = self.eval_norm(a)?;
                self.branch(code, r, None, k, t, f, next)
            }
            Form::Norm => self.branch(code, r, None, k, t, f, next),
        })
    }

    /// Walk IPv6 extension headers (or IPv4 AH) looking for `proto`, as libpcap's loop does.
    /// The loop is bounded for the verifier by the offset: every header moves it on by at least
    /// 8 bytes, and past the buffer the packet is rejected (as past caplen).
    fn chain(
        &mut self,
        walk: Walk,
        t: NodeId,
        f: NodeId,
        next: NodeId,
    ) -> Result<bool, FilterError> {
        let Walk {
            nl,
            v6,
            proto,
            delta,
        } = walk;
        let mut regs = [0u8; 3];
        for r in regs.iter_mut() {
            *r = self.alloc()?;
            self.pin(*r);
        }
        for r in regs {
            self.unpin(r);
        }
        // rn: next header, ro: offset of the current header from nl, rt: scratch.
        let [rn, ro, rt] = regs;
        if v6 {
            self.emit(Insn::ldx(BPF_B, rn, R1, (nl + 6) as i16));
            self.emit(Insn::alu64_imm(MOV, ro, 40));
        } else {
            self.emit(Insn::ldx(BPF_B, rn, R1, (nl + 9) as i16));
            self.emit(Insn::ldx(BPF_B, ro, R1, nl as i16));
            self.emit(Insn::alu32_imm(AND, ro, 0xf));
            self.emit(Insn::alu32_imm(LSH, ro, 2));
        }
        // The walk clobbers its three registers, wherever it leaves.
        for r in regs {
            self.drop_reg(r);
        }
        let here = |g: &Self| g.insns.len();
        let head = here(self);
        self.jump_to(Insn::jmp32_imm(JEQ, rn, proto as i32, 0), t);
        let mut to_ext = Vec::new();
        if v6 {
            for h in [0, 43, 44, 60] {
                to_ext.push(here(self));
                self.emit(Insn::jmp32_imm(JEQ, rn, h, 0));
            }
        }
        self.jump_to(Insn::jmp32_imm(JNE, rn, 51, 0), f);
        // AH counts 4-byte units after 8 bytes, any other extension header 8-byte units.
        for (units, jumps) in [(2, Vec::new()), (3, to_ext)] {
            if units == 3 && jumps.is_empty() {
                break;
            }
            let at = here(self);
            for j in jumps {
                self.insns[j].off = (at - j - 1) as i16;
            }
            let end = nl + 2;
            let limit = FILTER_BUF_SIZE as i32 - delta - end;
            self.reject_if(Insn::jmp_imm(JGT, ro, limit, 0));
            self.emit(Insn::alu32_reg(MOV, rt, ro));
            self.emit(Insn::alu32_imm(ADD, rt, end));
            self.reject_if(Insn::new(BPF_JMP32 | JSGT | BPF_X, rt, R2, 0, 0));
            self.emit(Insn::alu64_reg(MOV, rt, R1));
            self.emit(Insn::alu64_reg(ADD, rt, ro));
            self.emit(Insn::ldx(BPF_B, rn, rt, (nl + 1) as i16));
            self.emit(Insn::alu64_imm(LSH, rn, units));
            self.emit(Insn::alu64_imm(ADD, rn, 8));
            self.emit(Insn::alu64_reg(ADD, ro, rn));
            self.emit(Insn::ldx(BPF_B, rn, rt, nl as i16));
            let back = head as i64 - here(self) as i64 - 1;
            self.emit(Insn::ja(back as i16));
        }
        // Control never falls out of the loop.
        let _ = next;
        Ok(false)
    }

    /// `v` into register variable `slot`: every binding of one variable uses the same register
    /// and form, so the chain after them finds it there whichever way it was reached.
    fn bind(&mut self, slot: ValId, v: ValId) -> Result<(), FilterError> {
        let fixed = self.slots.get(&slot).copied();
        if fixed.is_some() && self.find(Key::Val(v)).is_none() {
            self.hint = fixed.map(|(r, _)| r);
        }
        let got = self.eval(v);
        self.hint = None;
        let (mut r, mut form) = got?;
        let (dst, want) = match fixed {
            Some(f) => f,
            None => {
                let dst = if self.pool.contains(&r) {
                    r
                } else {
                    self.alloc()?
                };
                self.slots.insert(slot, (dst, form));
                (dst, form)
            }
        };
        if r != dst {
            self.drop_reg(dst);
            self.emit(Insn::alu64_reg(MOV, dst, r));
            r = dst;
        }
        if form != want {
            // Both forms of a size are one byte swap apart.
            let bits = match (form, want) {
                (Form::Swapped(s), _) | (_, Form::Swapped(s)) => s as i32 * 8,
                _ => 32,
            };
            self.emit(Insn::to_be(r, bits));
            form = want;
        }
        self.set(r, Key::Val(slot), form);
        Ok(())
    }

    /// Forget what a store to `slot` changes.
    fn forget_slot(&mut self, slot: u8) {
        let vals = &self.g.vals;
        for r in self.cur.regs.iter_mut() {
            if let Some((Key::Val(v) | Key::Ptr(v) | Key::Lim(v), _)) = r
                && vals.mentions_slot(*v, slot)
            {
                *r = None;
            }
        }
        self.cur
            .var_known
            .retain(|(v, _)| !vals.mentions_slot(*v, slot));
    }

    /// Emit one node; returns whether control falls through into `next`.
    fn node(&mut self, n: NodeId, next: NodeId) -> Result<bool, FilterError> {
        let own = own_need(self.g, n);
        match self.g.node(n).clone() {
            Node::Entry { l2, l3, delta } => {
                if l2 != l3 || self.rebase {
                    self.jump_to(Insn::jmp_imm(JNE, R4, 0, 0), l3);
                }
                if self.rebase {
                    self.emit(Insn::alu64_imm(ADD, R1, delta));
                    self.emit(Insn::alu32_imm(SUB, R2, delta));
                    self.cur.known = -delta;
                }
                Ok(self.goto(l2, next))
            }
            Node::Test { op, a, b, t, f } => {
                self.const_check(n, own);
                self.test(op, a, b, t, f, next)
            }
            Node::Bind { slot, v, next: s } => {
                self.const_check(n, own);
                self.bind(slot, v)?;
                Ok(self.goto(s, next))
            }
            Node::Store { slot, v, next: s } => {
                self.const_check(n, own);
                let r = self.eval_norm(v)?;
                self.emit(Insn::stx(BPF_DW, R10, r, mem_off(slot)));
                self.forget_slot(slot);
                Ok(self.goto(s, next))
            }
            Node::Chain { walk, t, f } => {
                self.const_check(n, own);
                self.chain(walk, t, f, next)
            }
            Node::Accept | Node::Reject => unreachable!("leaves are not laid out"),
        }
    }

    fn resolve(mut self) -> Result<Vec<Insn>, FilterError> {
        for (at, l) in std::mem::take(&mut self.fixups) {
            let pos = self.label[&l];
            let off = pos as i64 - at as i64 - 1;
            if !(0..=i16::MAX as i64).contains(&off) {
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

/// For `v > k` or `v >= k` on a `size`-byte value, when it is `v & m != 0`: that `m`.
fn high_bits(op: CmpOp, k: u32, size: u8) -> Option<u32> {
    let full = if size >= 4 {
        u32::MAX
    } else {
        (1u32 << (8 * size)) - 1
    };
    let below = match op {
        CmpOp::Gt => k.checked_add(1)?,
        CmpOp::Ge => k,
        _ => return None,
    };
    (below.is_power_of_two() && below <= full && below > 1).then(|| full & !(below - 1))
}

fn load_form(size: u8) -> Form {
    if size > 1 {
        Form::Swapped(size)
    } else {
        Form::Norm
    }
}

/// The eBPF function for an optimised graph, and its snap length.
pub fn generate(g: &Graph) -> Result<(Vec<Insn>, u32), FilterError> {
    let layout = layout(g);
    let order = g.topo();
    let has_reject = order.contains(&REJECT);
    let has_accept = order.contains(&ACCEPT);
    let mut uses: HashMap<Key, Vec<usize>> = HashMap::new();
    let mut uses_len = false;
    let mut slots_read = 0u32;
    for (p, &n) in layout.iter().enumerate() {
        let mut keys = Vec::new();
        for v in operands(g, n) {
            shallow(g, v, &mut keys);
            let mut all = Vec::new();
            walk(g, v, &mut all);
            for k in all {
                if let Key::Val(v) = k
                    && let V::Mem(s) = g.vals.get(v)
                {
                    slots_read |= 1 << s;
                }
            }
        }
        for k in keys {
            let e = uses.entry(k).or_default();
            if e.last() != Some(&p) {
                e.push(p);
            }
        }
        for v in operands(g, n) {
            uses_len |= mentions_len(g, v);
        }
    }
    let mut pool = vec![6, 7, 8, 9, 5, 4];
    if !uses_len {
        pool.push(3);
    }
    let rebase = match *g.node(g.entry) {
        Node::Entry { l2, delta, .. } => delta != 0 && l2_reads(g, l2),
        _ => false,
    };
    let mut cg = Codegen {
        g,
        insns: Vec::new(),
        fixups: Vec::new(),
        label: HashMap::new(),
        pending: HashMap::new(),
        cur: State::new(0),
        pos: 0,
        uses,
        dom: Dominators::new(g, &layout),
        occ: HashMap::new(),
        pins: Vec::new(),
        pool,
        need: anticipate(g, &layout),
        layout: layout.clone(),
        slots: HashMap::new(),
        hint: None,
        rebase,
    };
    if has_reject || slots_read != 0 {
        cg.emit(Insn::alu32_imm(MOV, R0, 0));
    }
    for slot in 0..MEM_SLOTS {
        if slots_read & (1 << slot) != 0 {
            // libpcap's scratch memory starts zeroed; the verifier also wants it written.
            cg.emit(Insn::stx(BPF_DW, R10, R0, mem_off(slot)));
        }
    }
    let mut fall: Option<State> = Some(State::new(0));
    for (p, &n) in layout.iter().enumerate() {
        let next = layout.get(p + 1).copied().unwrap_or(ACCEPT);
        cg.pos = p;
        cg.label.insert(n, cg.insns.len());
        cg.cur = match (fall.take(), cg.pending.remove(&n)) {
            (Some(a), Some(b)) => a.meet(&b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => unreachable!("a node laid out before its predecessors"),
        };
        cg.occ.clear();
        let mut keys = Vec::new();
        for v in operands(g, n) {
            walk(g, v, &mut keys);
        }
        for k in keys {
            if let Key::Val(v) = k {
                *cg.occ.entry(v).or_default() += 1;
            }
        }
        cg.pins.clear();
        if cg.node(n, next)? {
            fall = Some(cg.cur.clone());
        }
    }
    cg.label.insert(ACCEPT, cg.insns.len());
    if has_accept {
        cg.emit(Insn::alu32_imm(MOV, R0, 1));
    }
    cg.label.insert(REJECT, cg.insns.len());
    cg.emit(Insn::exit());
    let snap = snaplen(g);
    Ok((cg.resolve()?, snap))
}
