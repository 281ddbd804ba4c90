//! The compiled meaning of an expression, independent of eBPF: predicates over packet values.

/// A 32-bit value computed from the packet, with cBPF's unsigned 32-bit arithmetic.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Val {
    K(u32),
    /// The packet's length on the wire (`len`).
    Len,
    /// `size` (1, 2 or 4) bytes in network order at `base + off`; outside the captured bytes
    /// the whole filter rejects the packet, as in libpcap.
    Load {
        base: Option<Box<Val>>,
        off: u32,
        size: u8,
    },
    Alu(AluOp, Box<Val>, Box<Val>),
    Neg(Box<Val>),
    /// A value stored earlier on the path by [`Pred::Store`] (libpcap's scratch memory).
    Mem(u8),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    And,
    Or,
    Xor,
    Lsh,
    Rsh,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Gt,
    Ge,
    /// `a & b != 0`.
    Set,
}

/// IPv6/IPv4 extension-header walk for `protochain`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProtoChain {
    /// Offset of the IP header.
    pub nl: u32,
    pub v6: bool,
    pub proto: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Pred {
    True,
    False,
    Cmp(CmpOp, Val, Val),
    And(Box<Pred>, Box<Pred>),
    Or(Box<Pred>, Box<Pred>),
    Not(Box<Pred>),
    ProtoChain(ProtoChain),
    /// Store a value into scratch slot n; always true.
    Store(u8, Val),
}

impl Val {
    pub fn mentions_mem(&self) -> bool {
        match self {
            Val::Mem(_) => true,
            Val::Load { base: Some(b), .. } => b.mentions_mem(),
            Val::Alu(_, a, b) => a.mentions_mem() || b.mentions_mem(),
            Val::Neg(a) => a.mentions_mem(),
            _ => false,
        }
    }
    pub fn load(off: u32, size: u8) -> Val {
        Val::Load {
            base: None,
            off,
            size,
        }
    }
    pub fn alu(op: AluOp, a: Val, b: Val) -> Val {
        Val::Alu(op, Box::new(a), Box::new(b))
    }
    /// An upper bound of the value, when one is obvious (used to spare verifier checks).
    pub fn max(&self) -> u64 {
        match self {
            Val::K(k) => *k as u64,
            Val::Len => u32::MAX as u64,
            Val::Load { size, .. } => (1u64 << (8 * *size as u64)) - 1,
            Val::Alu(AluOp::And, a, b) => a.max().min(b.max()),
            Val::Alu(AluOp::Add, a, b) => (a.max() + b.max()).min(u32::MAX as u64),
            Val::Alu(AluOp::Lsh, a, b) => match **b {
                Val::K(k) if k < 32 => (a.max() << k).min(u32::MAX as u64),
                _ => u32::MAX as u64,
            },
            Val::Alu(AluOp::Rsh, a, _) => a.max(),
            Val::Alu(AluOp::Div, a, _) => a.max(),
            Val::Alu(AluOp::Mod, a, b) => a.max().min(b.max()),
            _ => u32::MAX as u64,
        }
    }
}

impl Pred {
    pub fn cmp(op: CmpOp, a: Val, k: u32) -> Pred {
        Pred::Cmp(op, a, Val::K(k))
    }
    pub fn and(a: Pred, b: Pred) -> Pred {
        match (a, b) {
            (Pred::True, b) => b,
            (a, Pred::True) => a,
            (a, b) => Pred::And(Box::new(a), Box::new(b)),
        }
    }
    pub fn or(a: Pred, b: Pred) -> Pred {
        match (a, b) {
            (Pred::False, b) => b,
            (a, Pred::False) => a,
            (a, b) => Pred::Or(Box::new(a), Box::new(b)),
        }
    }
    #[allow(clippy::should_implement_trait)]
    pub fn not(a: Pred) -> Pred {
        match a {
            Pred::True => Pred::False,
            Pred::False => Pred::True,
            Pred::Not(x) => *x,
            a => Pred::Not(Box::new(a)),
        }
    }
}
