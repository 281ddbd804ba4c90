//! The global optimiser: facts carried over the whole graph (values known after a comparison,
//! meets where paths join), jumps threaded past comparisons those facts decide, comparisons
//! whose outcome does not matter dropped, and equal tails merged (by `Graph::rebuild`).
//!
//! Each round: facts flow forward (each node gets the meet of its incoming edges); then, from
//! the last node back, every edge is threaded with the facts of its source, and a comparison
//! `P ? t : f` is replaced by `f` when `f` under `P` leads to `t` anyway (or by `t` when `t`
//! under `!P` leads to `f`); then the graph is rebuilt. Rounds repeat until nothing changes.

use std::collections::HashMap;

use crate::cfg::{Graph, Node, NodeId, Operand, V, ValId};
use crate::facts::Facts;

/// Rounds at most (each one is linear in the graph; real filters settle in two or three).
const MAX_ROUNDS: usize = 12;
/// Steps one edge may be threaded past (bounds the time on huge graphs).
const MAX_THREAD: usize = 4096;

pub fn optimise(g: &mut Graph) {
    for _ in 0..MAX_ROUNDS {
        if !round(g) {
            break;
        }
    }
}

/// Follow `n` past every comparison `f` decides, learning their outcomes.
fn thread(g: &Graph, r: &Rewrites, mut n: NodeId, mut f: Facts) -> (NodeId, Facts) {
    for _ in 0..MAX_THREAD {
        n = r.resolve(n);
        let Node::Test { op, a, b, .. } = *g.node(n) else {
            break;
        };
        let Some(out) = f.decide(&g.vals, op, a, b) else {
            break;
        };
        f.learn(&g.vals, op, a, b, out);
        let (t, e) = r.succs(g, n);
        n = if out { t } else { e };
    }
    (n, f)
}

/// A round's rewrites, applied by `Graph::rebuild` at its end.
struct Rewrites {
    /// Node -> the node that replaces it (itself when none).
    alias: Vec<NodeId>,
    /// New (true, false) successors of a comparison.
    over: Vec<Option<(NodeId, NodeId)>>,
}

impl Rewrites {
    fn resolve(&self, mut n: NodeId) -> NodeId {
        while self.alias[n as usize] != n {
            n = self.alias[n as usize];
        }
        n
    }

    fn succs(&self, g: &Graph, n: NodeId) -> (NodeId, NodeId) {
        match (self.over[n as usize], g.node(n)) {
            (Some(s), _) => s,
            (None, Node::Test { t, f, .. }) => (*t, *f),
            _ => unreachable!("successors of a comparison only"),
        }
    }
}

fn round(g: &mut Graph) -> bool {
    let order = g.topo();
    let n = g.node_count();
    // Facts on entry to each node: the meet over its incoming edges.
    let mut at: Vec<Option<Facts>> = vec![None; n];
    let push = |at: &mut Vec<Option<Facts>>, s: NodeId, f: Facts| {
        let slot = &mut at[s as usize];
        *slot = Some(match slot.take() {
            None => f,
            Some(o) => o.meet(&f),
        });
    };
    for &id in &order {
        let f = at[id as usize].clone().unwrap_or_default();
        match *g.node(id) {
            Node::Test { op, a, b, t, f: e } => {
                let mut ft = f.clone();
                ft.learn(&g.vals, op, a, b, true);
                push(&mut at, t, ft);
                let mut fe = f;
                fe.learn(&g.vals, op, a, b, false);
                push(&mut at, e, fe);
            }
            Node::Store { slot, next, .. } => {
                let mut f = f;
                f.forget_slot(&g.vals, slot);
                push(&mut at, next, f);
            }
            Node::Bind { next, .. } => push(&mut at, next, f),
            Node::Chain { t, f: e, .. } => {
                push(&mut at, t, f.clone());
                push(&mut at, e, f);
            }
            Node::Entry { l2, l3, .. } => {
                push(&mut at, l2, Facts::default());
                push(&mut at, l3, Facts::default());
            }
            Node::Accept | Node::Reject => {}
        }
    }

    // Thread from the last node back, so that successors are already short-cut.
    let mut rw = Rewrites {
        alias: (0..n as NodeId).collect(),
        over: vec![None; n],
    };
    let mut changed = false;
    for &id in order.iter().rev() {
        let Node::Test { op, a, b, t, f: e } = *g.node(id) else {
            continue;
        };
        let f = at[id as usize].take().unwrap_or_default();
        let mut ft = f.clone();
        ft.learn(&g.vals, op, a, b, true);
        let mut fe = f;
        fe.learn(&g.vals, op, a, b, false);
        let (t2, _) = thread(g, &rw, t, ft.clone());
        let (e2, _) = thread(g, &rw, e, fe.clone());
        if (t2, e2) != (t, e) {
            rw.over[id as usize] = Some((t2, e2));
            changed = true;
        }
        let drop_to = if t2 == e2 {
            Some(t2)
        } else if thread(g, &rw, e2, ft).0 == t2 {
            // Under P the false side leads to t anyway: P need not be tested.
            Some(e2)
        } else if thread(g, &rw, t2, fe).0 == e2 {
            Some(t2)
        } else {
            None
        };
        if let Some(to) = drop_to {
            rw.alias[id as usize] = to;
            changed = true;
        }
    }
    if changed {
        g.rebuild(&rw.alias, &rw.over);
    }
    changed
}

/// Comparison chains on one value at most this long are shared (and the substitution that
/// finds them recurses this deep).
const MAX_CHAIN: usize = 64;

/// Share comparison chains that differ only in the value compared (libpcap gets this from
/// its accumulator): `tcp dst portrange 25-53` tests the IPv4 and the IPv6 port the same
/// way. Each copy becomes a [`Node::Bind`] of its value into one register variable, followed
/// by a single chain on that variable. Runs once, after `optimise` (facts know nothing about
/// register variables).
pub fn share_tails(g: &mut Graph) {
    let order = g.topo();
    let mut groups: HashMap<NodeId, Vec<(NodeId, ValId)>> = HashMap::new();
    for &n in &order {
        let Node::Test { a, .. } = *g.node(n) else {
            continue;
        };
        let Some(class) = class(g, a) else { continue };
        if chain_len(g, n, a, 0) < 2 {
            continue;
        }
        let key_slot = g.vals.intern(V::Slot(u32::MAX - class));
        let key = subst(g, n, a, key_slot, 0);
        groups.entry(key).or_default().push((n, a));
    }
    let mut alias: Vec<NodeId> = (0..g.node_count() as NodeId).collect();
    let mut next_slot = 0;
    let mut keys: Vec<NodeId> = groups.keys().copied().collect();
    keys.sort_unstable();
    let mut changed = false;
    for key in keys {
        let members = &groups[&key];
        if members.len() < 2 {
            continue;
        }
        let slot = g.vals.intern(V::Slot(next_slot));
        next_slot += 1;
        let (n0, x0) = members[0];
        let shared = subst(g, n0, x0, slot, 0);
        for &(n, x) in members {
            let b = g.mk(Node::Bind {
                slot,
                v: x,
                next: shared,
            });
            alias[n as usize] = b;
            changed = true;
        }
    }
    if changed {
        g.rebuild(&alias, &[]);
    }
}

/// Values whose copies can share a register variable must be held the same way: loads of
/// one size (kept in network order), or computed values.
fn class(g: &Graph, v: ValId) -> Option<u32> {
    match g.vals.get(v) {
        V::Load { size, .. } => Some(*size as u32),
        V::Alu(..) | V::Neg(_) | V::Mem(_) => Some(0),
        _ => None,
    }
}

fn chain_len(g: &Graph, n: NodeId, x: ValId, depth: usize) -> usize {
    match *g.node(n) {
        Node::Test { a, t, f, .. } if a == x && depth < MAX_CHAIN => {
            1 + chain_len(g, t, x, depth + 1).max(chain_len(g, f, x, depth + 1))
        }
        _ => 0,
    }
}

/// The chain of comparisons on `x` from `n`, comparing `y` instead.
fn subst(g: &mut Graph, n: NodeId, x: ValId, y: ValId, depth: usize) -> NodeId {
    match *g.node(n) {
        Node::Test { op, a, b, t, f } if a == x && depth < MAX_CHAIN => {
            let b = match b {
                Operand::V(v) if v == x => Operand::V(y),
                b => b,
            };
            let t = subst(g, t, x, y, depth + 1);
            let f = subst(g, f, x, y, depth + 1);
            g.mk(Node::Test { op, a: y, b, t, f })
        }
        _ => n,
    }
}
