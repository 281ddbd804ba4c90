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
    /// All of the operands, in order (kept flat, so long `and` chains do not nest).
    And(Vec<Pred>),
    /// Any of the operands, in order.
    Or(Vec<Pred>),
    Not(Box<Pred>),
    ProtoChain(ProtoChain),
    /// Store a value into scratch slot n; always true.
    Store(u8, Val),
}

impl Val {
    /// How deep the value's tree is.
    pub fn depth(&self) -> usize {
        match self {
            Val::Load { base: Some(b), .. } => 1 + b.depth(),
            Val::Alu(_, a, b) => 1 + a.depth().max(b.depth()),
            Val::Neg(a) => 1 + a.depth(),
            _ => 1,
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
}

impl Pred {
    pub fn cmp(op: CmpOp, a: Val, k: u32) -> Pred {
        Pred::Cmp(op, a, Val::K(k))
    }
    pub fn and(a: Pred, b: Pred) -> Pred {
        match (a, b) {
            (Pred::True, b) => b,
            (a, Pred::True) => a,
            (Pred::And(mut v), Pred::And(w)) => {
                v.extend(w);
                Pred::And(v)
            }
            (Pred::And(mut v), b) => {
                v.push(b);
                Pred::And(v)
            }
            (a, Pred::And(mut w)) => {
                w.insert(0, a);
                Pred::And(w)
            }
            (a, b) => Pred::And(vec![a, b]),
        }
    }
    pub fn or(a: Pred, b: Pred) -> Pred {
        match (a, b) {
            (Pred::False, b) => b,
            (a, Pred::False) => a,
            (Pred::Or(mut v), Pred::Or(w)) => {
                v.extend(w);
                Pred::Or(v)
            }
            (Pred::Or(mut v), b) => {
                v.push(b);
                Pred::Or(v)
            }
            (a, Pred::Or(mut w)) => {
                w.insert(0, a);
                Pred::Or(w)
            }
            (a, b) => Pred::Or(vec![a, b]),
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
