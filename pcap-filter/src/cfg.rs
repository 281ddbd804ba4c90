//! The program as a graph of comparisons, before registers and instructions: what the optimiser
//! (`opt.rs`) rewrites and the generator (`codegen/`) lays out.
//!
//! Values and nodes are hash-consed: an equal value or an equal node (same comparison, same
//! successors) exists once, so common tails of the expression are shared. Both entry points
//! live in one graph: the Ethernet body may be *rebased* (r1 and caplen moved by `delta`
//! bytes, so that its offsets are the raw-IP body's), and then the two bodies share every node
//! that means the same in both.

use std::collections::HashMap;

use crate::FilterError;
use crate::codegen::FILTER_BUF_SIZE;
use crate::ir::{AluOp, CmpOp, Pred, ProtoChain, Val};

pub type ValId = u32;
pub type NodeId = u32;

/// A value computed from the packet, in the body's coordinates (offsets from r1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum V {
    K(u32),
    Len,
    /// `size` bytes in network order at `r1 + off` (plus the value `base`). `guard`: when the
    /// base could carry the load past the buffer, the largest base the load accepts.
    Load {
        base: Option<ValId>,
        off: i32,
        size: u8,
        guard: Option<u32>,
    },
    Alu(AluOp, ValId, ValId),
    Neg(ValId),
    Mem(u8),
    /// A register variable set by [`Node::Bind`]: one copy of a comparison chain serves
    /// several values (`opt::share_tails`).
    Slot(u32),
}

/// The right side of a comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operand {
    K(u32),
    V(ValId),
}

/// The hash-consed values.
#[derive(Default)]
pub struct Vals {
    list: Vec<V>,
    map: HashMap<V, ValId>,
    /// Scratch slots each value reads (bit n: slot n).
    slots: Vec<u32>,
    max: Vec<u64>,
}

impl Vals {
    pub fn get(&self, v: ValId) -> &V {
        &self.list[v as usize]
    }

    pub fn mentions_slot(&self, v: ValId, slot: u8) -> bool {
        self.slots[v as usize] & (1 << slot) != 0
    }

    /// An upper bound of the value (what the verifier will also see, for the load guards).
    pub fn max(&self, v: ValId) -> u64 {
        self.max[v as usize]
    }

    pub fn intern(&mut self, v: V) -> ValId {
        if let Some(&id) = self.map.get(&v) {
            return id;
        }
        let m = |w: &ValId| self.max[*w as usize];
        let s = |w: &ValId| self.slots[*w as usize];
        const U32: u64 = u32::MAX as u64;
        let (max, slots) = match &v {
            V::K(k) => (*k as u64, 0),
            V::Len => (U32, 0),
            V::Load { base, size, .. } => {
                ((1u64 << (8 * *size as u64)) - 1, base.as_ref().map_or(0, s))
            }
            V::Alu(op, a, b) => {
                let max = match (op, self.get(*b)) {
                    (AluOp::And, _) => m(a).min(m(b)),
                    (AluOp::Add, _) => (m(a) + m(b)).min(U32),
                    (AluOp::Lsh, V::K(k)) if *k < 32 => (m(a) << k).min(U32),
                    (AluOp::Rsh | AluOp::Div, _) => m(a),
                    (AluOp::Mod, _) => m(a).min(m(b)),
                    _ => U32,
                };
                (max, s(a) | s(b))
            }
            V::Neg(a) => (U32, s(a)),
            V::Mem(slot) => (U32, 1 << slot),
            V::Slot(_) => (U32, 0),
        };
        let id = self.list.len() as ValId;
        self.list.push(v.clone());
        self.max.push(max);
        self.slots.push(slots);
        self.map.insert(v, id);
        id
    }

    /// The captured bytes a value needs: (variable base, end offset) per load, base first.
    pub fn needs(&self, v: ValId, out: &mut Vec<(Option<ValId>, i32)>) {
        match self.get(v) {
            V::Load {
                base, off, size, ..
            } => {
                if let Some(b) = base {
                    self.needs(*b, out);
                }
                out.push((*base, off + *size as i32));
            }
            V::Alu(_, a, b) => {
                self.needs(*a, out);
                self.needs(*b, out);
            }
            V::Neg(a) => self.needs(*a, out),
            _ => {}
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    Accept,
    Reject,
    /// `a op b`: to `t` when it holds, else to `f`.
    Test {
        op: CmpOp,
        a: ValId,
        b: Operand,
        t: NodeId,
        f: NodeId,
    },
    /// Store a value in a scratch slot, then go on.
    Store {
        slot: u8,
        v: ValId,
        next: NodeId,
    },
    /// Compute `v` into the register variable `slot` (a [`V::Slot`]), then go on.
    Bind {
        slot: ValId,
        v: ValId,
        next: NodeId,
    },
    /// libpcap's `protochain` ([`Walk`]): to `t` when the header is found.
    Chain {
        walk: Walk,
        t: NodeId,
        f: NodeId,
    },
    /// The function's start: raw IP (r4 != 0) to `l3`; Ethernet to `l2`, after r1 and caplen
    /// are moved by `delta` bytes.
    Entry {
        l2: NodeId,
        l3: NodeId,
        delta: i32,
    },
}

/// libpcap's `protochain` for `proto`, walked at `nl` (body coordinates). The walk stops `delta`
/// bytes short of the buffer's end, the most either body's r1 is moved: so both bodies can
/// share the walk (a raw-IP header chain reaching into the buffer's last 14 bytes is
/// rejected, as one past it always is).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Walk {
    /// Offset of the IP header.
    pub nl: i32,
    /// IPv6 extension headers (else IPv4 AH).
    pub v6: bool,
    /// The header looked for.
    pub proto: u8,
    /// Bytes short of the buffer's end the walk stops.
    pub delta: i32,
}

impl Node {
    /// The successors, in order (true side first).
    pub fn succs(&self) -> impl Iterator<Item = NodeId> {
        let (a, b) = match *self {
            Node::Accept | Node::Reject => (None, None),
            Node::Test { t, f, .. } | Node::Chain { t, f, .. } => (Some(t), Some(f)),
            Node::Store { next, .. } | Node::Bind { next, .. } => (Some(next), None),
            Node::Entry { l2, l3, .. } => (Some(l3), Some(l2)),
        };
        a.into_iter().chain(b)
    }

    /// The same node with its successors mapped.
    pub fn map_succs(&self, mut m: impl FnMut(NodeId) -> NodeId) -> Node {
        match self.clone() {
            Node::Test { op, a, b, t, f } => Node::Test {
                op,
                a,
                b,
                t: m(t),
                f: m(f),
            },
            Node::Chain { walk, t, f } => Node::Chain {
                walk,
                t: m(t),
                f: m(f),
            },
            Node::Store { slot, v, next } => Node::Store {
                slot,
                v,
                next: m(next),
            },
            Node::Bind { slot, v, next } => Node::Bind {
                slot,
                v,
                next: m(next),
            },
            Node::Entry { l2, l3, delta } => Node::Entry {
                l2: m(l2),
                l3: m(l3),
                delta,
            },
            n => n,
        }
    }
}

pub const ACCEPT: NodeId = 0;
pub const REJECT: NodeId = 1;

pub struct Graph {
    pub vals: Vals,
    nodes: Vec<Node>,
    unique: HashMap<Node, NodeId>,
    pub entry: NodeId,
}

impl Graph {
    pub fn new(vals: Vals) -> Graph {
        let mut g = Graph {
            vals,
            nodes: Vec::new(),
            unique: HashMap::new(),
            entry: ACCEPT,
        };
        g.mk(Node::Accept);
        g.mk(Node::Reject);
        g
    }

    pub fn node(&self, n: NodeId) -> &Node {
        &self.nodes[n as usize]
    }

    /// The node, shared if it exists; a comparison whose sides meet is dropped (as libpcap's
    /// optimiser drops it, load included).
    pub fn mk(&mut self, n: Node) -> NodeId {
        match n {
            Node::Test { t, f, .. } | Node::Chain { t, f, .. } if t == f => return t,
            // A store only matters to what comes after it.
            Node::Store { next, .. } | Node::Bind { next, .. }
                if next == ACCEPT || next == REJECT =>
            {
                return next;
            }
            _ => {}
        }
        if let Some(&id) = self.unique.get(&n) {
            return id;
        }
        let id = self.nodes.len() as NodeId;
        self.nodes.push(n.clone());
        self.unique.insert(n, id);
        id
    }

    /// Nodes reachable from the entry, each after all its predecessors.
    pub fn topo(&self) -> Vec<NodeId> {
        self.topo_with(self.entry, |n| self.node(n).clone())
    }

    /// Like [`Graph::topo`], with `eff` giving each node as it is to be read.
    fn topo_with(&self, entry: NodeId, eff: impl Fn(NodeId) -> Node) -> Vec<NodeId> {
        let mut state = vec![0u8; self.nodes.len()]; // 0 new, 1 open, 2 done
        let mut post = Vec::new();
        let mut stack: Vec<(NodeId, bool)> = vec![(entry, false)];
        while let Some((n, expanded)) = stack.pop() {
            if expanded {
                state[n as usize] = 2;
                post.push(n);
                continue;
            }
            if state[n as usize] != 0 {
                continue;
            }
            state[n as usize] = 1;
            stack.push((n, true));
            let succs: Vec<NodeId> = eff(n).succs().collect();
            for s in succs.into_iter().rev() {
                if state[s as usize] == 0 {
                    stack.push((s, false));
                }
            }
        }
        post.reverse();
        post
    }

    /// A fresh graph holding only what is reachable once `alias` (node -> the node replacing
    /// it) and `over` (node -> its new true and false successors) are applied, with equal
    /// nodes merged again.
    pub fn rebuild(&mut self, alias: &[NodeId], over: &[Option<(NodeId, NodeId)>]) {
        // Nodes made during the round (past the ends of `alias` and `over`) are unchanged.
        let resolve = |mut n: NodeId| {
            while alias.get(n as usize).is_some_and(|&a| a != n) {
                n = alias[n as usize];
            }
            n
        };
        let eff = |n: NodeId| {
            let node = match (self.node(n), over.get(n as usize).copied().flatten()) {
                (Node::Test { op, a, b, .. }, Some((t, f))) => Node::Test {
                    op: *op,
                    a: *a,
                    b: *b,
                    t,
                    f,
                },
                (node, _) => node.clone(),
            };
            node.map_succs(resolve)
        };
        let entry = resolve(self.entry);
        let order = self.topo_with(entry, eff);
        let nodes: Vec<(NodeId, Node)> = order.iter().rev().map(|&n| (n, eff(n))).collect();
        let mut new = Graph::new(std::mem::take(&mut self.vals));
        let mut map: HashMap<NodeId, NodeId> = HashMap::new();
        map.insert(ACCEPT, ACCEPT);
        map.insert(REJECT, REJECT);
        for (n, node) in nodes {
            if n == ACCEPT || n == REJECT {
                continue;
            }
            let node = node.map_succs(|s| map[&s]);
            let id = new.mk(node);
            map.insert(n, id);
        }
        new.entry = map[&entry];
        *self = new;
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

/// Builds a graph from the two bodies' predicates.
pub struct Lower {
    pub g: Graph,
    /// How far the current body's r1 is from the start of the captured bytes.
    delta: i32,
    /// How far the Ethernet body's r1 is moved.
    rebase: i32,
}

/// A lowered value: `None` when a load certainly lies past the buffer (the packet is rejected).
type LVal = Option<ValId>;

impl Lower {
    /// The graph of `l2` (Ethernet, rebased by `delta`) and `l3` (raw IP).
    pub fn build(l2: &Pred, l3: &Pred, delta: i32) -> Result<Graph, FilterError> {
        let mut lw = Lower {
            g: Graph::new(Vals::default()),
            delta,
            rebase: delta,
        };
        let l2n = lw.pred(l2, ACCEPT, REJECT)?;
        lw.delta = 0;
        let l3n = lw.pred(l3, ACCEPT, REJECT)?;
        lw.g.entry = lw.g.mk(Node::Entry {
            l2: l2n,
            l3: l3n,
            delta,
        });
        Ok(lw.g)
    }

    fn pred(&mut self, p: &Pred, t: NodeId, f: NodeId) -> Result<NodeId, FilterError> {
        Ok(match p {
            Pred::True => t,
            Pred::False => f,
            Pred::Not(x) => self.pred(x, f, t)?,
            Pred::And(v) => {
                let mut cur = t;
                for p in v.iter().rev() {
                    cur = self.pred(p, cur, f)?;
                }
                cur
            }
            Pred::Or(v) => {
                let mut cur = f;
                for p in v.iter().rev() {
                    cur = self.pred(p, t, cur)?;
                }
                cur
            }
            Pred::Cmp(op, a, b) => {
                let (Some(a), Some(b)) = (self.val(a), self.val(b)) else {
                    return Ok(REJECT);
                };
                self.test(*op, a, b, t, f)
            }
            Pred::Store(slot, v) => match self.val(v) {
                None => REJECT,
                Some(v) => self.g.mk(Node::Store {
                    slot: *slot,
                    v,
                    next: t,
                }),
            },
            Pred::ProtoChain(ProtoChain { nl, v6, proto }) => self.g.mk(Node::Chain {
                walk: Walk {
                    nl: *nl as i32 - self.delta,
                    v6: *v6,
                    proto: *proto,
                    delta: self.rebase,
                },
                t,
                f,
            }),
        })
    }

    /// `a op b` with the constant on the right.
    fn test(&mut self, op: CmpOp, a: ValId, b: ValId, t: NodeId, f: NodeId) -> NodeId {
        let ka = match self.g.vals.get(a) {
            V::K(k) => Some(*k),
            _ => None,
        };
        let kb = match self.g.vals.get(b) {
            V::K(k) => Some(*k),
            _ => None,
        };
        let holds = |x: u32, y: u32| match op {
            CmpOp::Eq => x == y,
            CmpOp::Gt => x > y,
            CmpOp::Ge => x >= y,
            CmpOp::Set => x & y != 0,
        };
        match (ka, kb) {
            (Some(x), Some(y)) => {
                if holds(x, y) {
                    t
                } else {
                    f
                }
            }
            (_, Some(k)) => self.g.mk(Node::Test {
                op,
                a,
                b: Operand::K(k),
                t,
                f,
            }),
            // k op b, turned around: k > b is !(b >= k), k >= b is !(b > k).
            (Some(k), None) => {
                let (op, t, f) = match op {
                    CmpOp::Eq | CmpOp::Set => (op, t, f),
                    CmpOp::Gt => (CmpOp::Ge, f, t),
                    CmpOp::Ge => (CmpOp::Gt, f, t),
                };
                self.g.mk(Node::Test {
                    op,
                    a: b,
                    b: Operand::K(k),
                    t,
                    f,
                })
            }
            (None, None) => self.g.mk(Node::Test {
                op,
                a,
                b: Operand::V(b),
                t,
                f,
            }),
        }
    }

    fn val(&mut self, v: &Val) -> LVal {
        let v = match v {
            Val::K(k) => V::K(*k),
            Val::Len => V::Len,
            Val::Mem(s) => V::Mem(*s),
            Val::Neg(a) => V::Neg(self.val(a)?),
            Val::Alu(op, a, b) => {
                let (a, b) = (self.val(a)?, self.val(b)?);
                match (op, self.g.vals.get(a), self.g.vals.get(b)) {
                    // libpcap's optimiser folds `x & 0` to 0 and drops the load; so do we.
                    (AluOp::And, _, V::K(0)) | (AluOp::And, V::K(0), _) => V::K(0),
                    (op, V::K(x), V::K(y)) if !matches!(op, AluOp::Div | AluOp::Mod) || *y != 0 => {
                        V::K(fold(*op, *x, *y))
                    }
                    _ => V::Alu(*op, a, b),
                }
            }
            Val::Load { base, off, size } => {
                let end = *off as u64 + *size as u64;
                if end > FILTER_BUF_SIZE as u64 {
                    return None;
                }
                let mut off = *off;
                let mut base = match base {
                    None => None,
                    Some(b) => Some(self.val(b)?),
                };
                // A constant added to the base moves the load instead (`tcp[k]`): loads from
                // the same base then share its pointer and caplen room.
                while let Some(b) = base
                    && let V::Alu(AluOp::Add, x, y) = *self.g.vals.get(b)
                {
                    let (x, k) = match (self.g.vals.get(x), self.g.vals.get(y)) {
                        (_, V::K(k)) => (x, *k),
                        (V::K(k), _) => (y, *k),
                        _ => break,
                    };
                    if self.g.vals.max(x) + k as u64 > u32::MAX as u64
                        || off as u64 + k as u64 + *size as u64 > FILTER_BUF_SIZE as u64
                    {
                        break;
                    }
                    base = Some(x);
                    off += k;
                }
                let end = off as u64 + *size as u64;
                let guard = base.and_then(|b| {
                    (self.g.vals.max(b) + end > FILTER_BUF_SIZE as u64)
                        .then(|| FILTER_BUF_SIZE - end as u32)
                });
                V::Load {
                    base,
                    off: off as i32 - self.delta,
                    size: *size,
                    guard,
                }
            }
        };
        Some(self.g.vals.intern(v))
    }
}

/// cBPF's 32-bit arithmetic on constants.
pub fn fold(op: AluOp, x: u32, y: u32) -> u32 {
    match op {
        AluOp::Add => x.wrapping_add(y),
        AluOp::Sub => x.wrapping_sub(y),
        AluOp::Mul => x.wrapping_mul(y),
        AluOp::Div => x.checked_div(y).unwrap_or(0),
        AluOp::Mod => x.checked_rem(y).unwrap_or(0),
        AluOp::And => x & y,
        AluOp::Or => x | y,
        AluOp::Xor => x ^ y,
        AluOp::Lsh => x.checked_shl(y).unwrap_or(0),
        AluOp::Rsh => x.checked_shr(y).unwrap_or(0),
    }
}
