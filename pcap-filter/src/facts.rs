//! What is known about packet values at a point of the program, on every path to it: the
//! lattice the optimiser (`opt.rs`) threads jumps with.
//!
//! Per value: a small set it is one of, constants it is not, an unsigned range and known bits.
//! A comparison `v op k` (or `(x & m) op k`) is decided when these facts fix its outcome.
//! Facts only come from comparisons the path has made, so deciding a later comparison never
//! skips a load that the path has not done already.

use crate::cfg::{Operand, V, ValId, Vals};
use crate::ir::{AluOp, CmpOp};

/// At most this many constants in a value set or an exclusion list (larger sets are
/// forgotten: fewer facts are always sound).
const MAX_SET: usize = 16;

/// Facts about one value.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ValFacts {
    /// The value is one of these (sorted); `None`: any value.
    one_of: Option<Vec<u32>>,
    /// The value is none of these (sorted).
    not_in: Vec<u32>,
    lo: u32,
    hi: u32,
    /// Bits whose values are known, and those values.
    kmask: u32,
    kval: u32,
}

impl Default for ValFacts {
    fn default() -> Self {
        ValFacts {
            one_of: None,
            not_in: Vec::new(),
            lo: 0,
            hi: u32::MAX,
            kmask: 0,
            kval: 0,
        }
    }
}

impl ValFacts {
    fn is_top(&self) -> bool {
        *self == ValFacts::default()
    }

    /// Is `c` impossible for this value?
    fn excludes(&self, c: u32) -> bool {
        c < self.lo
            || c > self.hi
            || (c ^ self.kval) & self.kmask != 0
            || self.not_in.binary_search(&c).is_ok()
            || self
                .one_of
                .as_ref()
                .is_some_and(|s| s.binary_search(&c).is_err())
    }

    fn exact(&self) -> Option<u32> {
        match &self.one_of {
            Some(s) if s.len() == 1 => Some(s[0]),
            _ if self.lo == self.hi => Some(self.lo),
            _ if self.kmask == u32::MAX => Some(self.kval),
            _ => None,
        }
    }

    /// The facts of `v & m`, derived from those of `v`.
    fn masked(&self, m: u32) -> ValFacts {
        let mut f = ValFacts {
            hi: m.min(self.hi),
            kmask: self.kmask | !m,
            kval: self.kval & m,
            ..ValFacts::default()
        };
        if let Some(s) = &self.one_of {
            let mut t: Vec<u32> = s.iter().map(|c| c & m).collect();
            t.sort_unstable();
            t.dedup();
            f.one_of = Some(t);
        }
        f.normalise();
        f
    }

    fn decide(&self, op: CmpOp, k: u32) -> Option<bool> {
        if let Some(x) = self.exact() {
            return Some(eval(op, x, k));
        }
        if let Some(s) = &self.one_of {
            if s.is_empty() {
                return None;
            }
            let first = eval(op, s[0], k);
            if s.iter().all(|&c| eval(op, c, k) == first) {
                return Some(first);
            }
        }
        match op {
            CmpOp::Eq => self.excludes(k).then_some(false),
            CmpOp::Gt if self.lo > k => Some(true),
            CmpOp::Gt if self.hi <= k => Some(false),
            CmpOp::Ge if self.lo >= k => Some(true),
            CmpOp::Ge if self.hi < k => Some(false),
            CmpOp::Set if self.kval & k != 0 => Some(true),
            CmpOp::Set if k & !self.kmask == 0 => Some(false),
            CmpOp::Set if k != 0 && (self.hi as u64) < (1u64 << k.trailing_zeros()) => Some(false),
            _ => None,
        }
    }

    fn learn(&mut self, op: CmpOp, k: u32, outcome: bool) {
        match (op, outcome) {
            (CmpOp::Eq, true) => {
                self.one_of = Some(vec![k]);
            }
            (CmpOp::Eq, false) => {
                if let Some(s) = &mut self.one_of {
                    s.retain(|&c| c != k);
                } else if let Err(i) = self.not_in.binary_search(&k)
                    && self.not_in.len() < MAX_SET
                {
                    self.not_in.insert(i, k);
                }
            }
            (CmpOp::Gt, true) => self.lo = self.lo.max(k.saturating_add(1)),
            (CmpOp::Gt, false) => self.hi = self.hi.min(k),
            (CmpOp::Ge, true) => self.lo = self.lo.max(k),
            (CmpOp::Ge, false) => self.hi = self.hi.min(k.saturating_sub(1)),
            (CmpOp::Set, true) => {
                if k.count_ones() == 1 {
                    self.kmask |= k;
                    self.kval |= k;
                }
            }
            (CmpOp::Set, false) => {
                self.kmask |= k;
                self.kval &= !k;
            }
        }
        self.normalise();
    }

    /// Learn `(v & m) == c` (or its negation) on `v` itself.
    fn learn_masked(&mut self, m: u32, c: u32, outcome: bool) {
        if outcome {
            self.kmask |= m;
            self.kval = (self.kval & !m) | (c & m);
        } else if m.count_ones() == 1 {
            // (v & bit) != c: the bit is the other value.
            self.kmask |= m;
            self.kval = (self.kval & !m) | (!c & m);
        }
        self.normalise();
    }

    fn normalise(&mut self) {
        if let Some(s) = &mut self.one_of {
            let (lo, hi, km, kv) = (self.lo, self.hi, self.kmask, self.kval);
            let nin = &self.not_in;
            s.retain(|&c| {
                c >= lo && c <= hi && (c ^ kv) & km == 0 && nin.binary_search(&c).is_err()
            });
            if s.is_empty() {
                // A contradiction: the path cannot be taken. Keep the facts consistent (it
                // never decides anything wrongly, as no packet gets here).
                return;
            }
            self.lo = s[0];
            self.hi = s[s.len() - 1];
            let mut same = u32::MAX;
            for &c in s.iter() {
                same &= !(c ^ s[0]);
            }
            self.kmask |= same;
            self.kval = (self.kval & !same) | (s[0] & same);
            self.not_in.clear();
        } else {
            let (lo, hi) = (self.lo, self.hi);
            self.not_in.retain(|&c| c >= lo && c <= hi);
        }
        self.kval &= self.kmask;
    }

    fn meet(&self, o: &ValFacts) -> ValFacts {
        let one_of = match (&self.one_of, &o.one_of) {
            (Some(a), Some(b)) => {
                let mut u: Vec<u32> = a.iter().chain(b.iter()).copied().collect();
                u.sort_unstable();
                u.dedup();
                (u.len() <= MAX_SET).then_some(u)
            }
            _ => None,
        };
        let mut not_in: Vec<u32> = self
            .not_in
            .iter()
            .chain(o.not_in.iter())
            .copied()
            .filter(|&c| self.excludes(c) && o.excludes(c))
            .collect();
        not_in.sort_unstable();
        not_in.dedup();
        not_in.truncate(MAX_SET);
        let kmask = self.kmask & o.kmask & !(self.kval ^ o.kval);
        let mut f = ValFacts {
            one_of,
            not_in,
            lo: self.lo.min(o.lo),
            hi: self.hi.max(o.hi),
            kmask,
            kval: self.kval & kmask,
        };
        f.normalise();
        f
    }
}

fn eval(op: CmpOp, a: u32, k: u32) -> bool {
    match op {
        CmpOp::Eq => a == k,
        CmpOp::Gt => a > k,
        CmpOp::Ge => a >= k,
        CmpOp::Set => a & k != 0,
    }
}

/// Facts about several values, sorted by value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    vals: Vec<(ValId, ValFacts)>,
}

impl Facts {
    fn get(&self, v: ValId) -> Option<&ValFacts> {
        self.vals
            .binary_search_by_key(&v, |(w, _)| *w)
            .ok()
            .map(|i| &self.vals[i].1)
    }

    fn entry(&mut self, v: ValId) -> &mut ValFacts {
        let i = match self.vals.binary_search_by_key(&v, |(w, _)| *w) {
            Ok(i) => i,
            Err(i) => {
                self.vals.insert(i, (v, ValFacts::default()));
                i
            }
        };
        &mut self.vals[i].1
    }

    /// The outcome of `a op b`, if these facts fix it.
    pub fn decide(&self, vals: &Vals, op: CmpOp, a: ValId, b: Operand) -> Option<bool> {
        let Operand::K(k) = b else { return None };
        if let V::K(c) = vals.get(a) {
            return Some(eval(op, *c, k));
        }
        if let Some(r) = self.get(a).and_then(|f| f.decide(op, k)) {
            return Some(r);
        }
        if let V::Alu(AluOp::And, x, m) = vals.get(a)
            && let V::K(m) = vals.get(*m)
            && let Some(fx) = self.get(*x)
        {
            return fx.masked(*m).decide(op, k);
        }
        None
    }

    /// Record the outcome of `a op b`.
    pub fn learn(&mut self, vals: &Vals, op: CmpOp, a: ValId, b: Operand, outcome: bool) {
        let Operand::K(k) = b else { return };
        if matches!(vals.get(a), V::K(_)) {
            return;
        }
        self.entry(a).learn(op, k, outcome);
        if op == CmpOp::Eq
            && let V::Alu(AluOp::And, x, m) = vals.get(a)
            && let V::K(m) = vals.get(*m)
        {
            self.entry(*x).learn_masked(*m, k, outcome);
        }
        self.vals.retain(|(_, f)| !f.is_top());
    }

    /// Forget what a store to scratch slot `slot` may change.
    pub fn forget_slot(&mut self, vals: &Vals, slot: u8) {
        self.vals.retain(|(v, _)| !vals.mentions_slot(*v, slot));
    }

    /// What holds on both `self`'s paths and `o`'s.
    pub fn meet(&self, o: &Facts) -> Facts {
        let mut vals = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < self.vals.len() && j < o.vals.len() {
            let (a, fa) = &self.vals[i];
            let (b, fb) = &o.vals[j];
            match a.cmp(b) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    let f = fa.meet(fb);
                    if !f.is_top() {
                        vals.push((*a, f));
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        Facts { vals }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_and_exclusions() {
        let mut f = ValFacts::default();
        f.learn(CmpOp::Eq, 0x800, false);
        assert_eq!(f.decide(CmpOp::Eq, 0x800), Some(false));
        assert_eq!(f.decide(CmpOp::Eq, 0x806), None);
        let mut a = ValFacts::default();
        a.learn(CmpOp::Eq, 0x806, true);
        let mut b = ValFacts::default();
        b.learn(CmpOp::Eq, 0x8035, true);
        let m = a.meet(&b);
        assert_eq!(m.decide(CmpOp::Eq, 0x800), Some(false));
        assert_eq!(m.decide(CmpOp::Eq, 0x806), None);
        assert_eq!(m.decide(CmpOp::Gt, 1500), Some(true));
        let mut m2 = m.clone();
        m2.learn(CmpOp::Eq, 0x806, false);
        assert_eq!(m2.decide(CmpOp::Eq, 0x8035), Some(true));
    }

    #[test]
    fn masks_and_ranges() {
        let mut f = ValFacts::default();
        f.learn_masked(0xf0, 0x40, true);
        assert_eq!(f.masked(0xf0).decide(CmpOp::Eq, 0x60), Some(false));
        assert_eq!(f.masked(0xf0).decide(CmpOp::Eq, 0x40), Some(true));
        assert_eq!(f.decide(CmpOp::Eq, 0x45), None);
        assert_eq!(f.decide(CmpOp::Eq, 0x65), Some(false));
        let mut r = ValFacts::default();
        r.learn(CmpOp::Gt, 1500, false);
        assert_eq!(r.decide(CmpOp::Eq, 0x800), Some(false));
        assert_eq!(r.decide(CmpOp::Ge, 1501), Some(false));
        let mut s = ValFacts::default();
        s.learn(CmpOp::Set, 0x1fff, false);
        assert_eq!(s.decide(CmpOp::Set, 0x100), Some(false));
        assert_eq!(s.decide(CmpOp::Set, 0x2000), None);
    }
}
