//! The checked form of an expression: every member path is reduced to pointer hops and byte offsets, every
//! value knows its width and signedness. Code generation reads only this.

use crate::parser::CmpOp;

/// Where a value lives: start at the root pointer, load and follow the pointer at each hop's offset (a NULL
/// pointer stops the walk), then read at `off` from the last base.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Access {
    pub hops: Vec<i32>,
    pub off: i32,
}

/// How to turn the bytes read into a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Scalar {
    /// Bytes read: 1..=8.
    pub size: u8,
    /// Bit position of the value in the little-endian word read (bitfields).
    pub shift: u8,
    /// Value bits (`size * 8` for ordinary members).
    pub bits: u8,
    pub signed: bool,
    /// A `__be16`/`__be32`/`__be64`: convert to host order (what pwru does, so `skb->protocol == 0x800`).
    pub swap: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Val {
    Const(i128),
    /// The root pointer itself.
    Root,
    Load(Access, Scalar),
    /// Bitwise and, on the values' two's-complement representation.
    Mask(Box<Val>, Box<Val>),
}

/// Where the compared characters come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StrSrc {
    /// A `char[len]` member at the access (`len` 0: a flexible array).
    Array { len: u32 },
    /// A `char *` loaded by the access's last hop; the string is read with `bpf_probe_read_kernel_str`.
    Pointer,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cond {
    Const(bool),
    Cmp(CmpOp, Val, Val),
    /// The value is non-zero.
    Truth(Val),
    /// The string at the access equals `lit` (or differs, with `negate`); false when unreadable either way.
    StrEq {
        acc: Access,
        src: StrSrc,
        lit: Vec<u8>,
        negate: bool,
    },
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

pub(crate) const I64_MAX: i128 = i64::MAX as i128;
pub(crate) const U64_MAX: i128 = u64::MAX as i128;

/// The values `v` can take, as an inclusive range of mathematical integers.
pub(crate) fn range(v: &Val) -> (i128, i128) {
    match v {
        Val::Const(c) => (*c, *c),
        Val::Root => (0, U64_MAX),
        Val::Load(_, s) => scalar_range(s.bits as u32, s.signed),
        Val::Mask(a, b) => {
            let (a, b) = (range(a), range(b));
            match (a.0 >= 0, b.0 >= 0) {
                (true, true) => (0, a.1.min(b.1)),
                (true, false) => (0, a.1),
                (false, true) => (0, b.1),
                // Both may be negative: the result is a signed 64-bit value.
                (false, false) => (i64::MIN as i128, I64_MAX),
            }
        }
    }
}

pub(crate) fn scalar_range(bits: u32, signed: bool) -> (i128, i128) {
    if signed {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    }
}

/// The outcome of `a op b` when the ranges alone decide it.
pub(crate) fn decided(op: CmpOp, a: (i128, i128), b: (i128, i128)) -> Option<bool> {
    let (al, ah) = a;
    let (bl, bh) = b;
    match op {
        CmpOp::Eq if ah < bl || bh < al => Some(false),
        CmpOp::Eq if al == ah && bl == bh && al == bl => Some(true),
        CmpOp::Ne => decided(CmpOp::Eq, a, b).map(|x| !x),
        CmpOp::Lt if ah < bl => Some(true),
        CmpOp::Lt if al >= bh => Some(false),
        CmpOp::Le if ah <= bl => Some(true),
        CmpOp::Le if al > bh => Some(false),
        CmpOp::Gt | CmpOp::Ge => decided(op.swap(), b, a),
        _ => None,
    }
}
