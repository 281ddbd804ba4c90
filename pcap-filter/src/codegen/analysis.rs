//! What code generation knows about the graph before it emits: the layout, dominance, what every accepting path
//! from a node loads (so one caplen check covers a run of loads), and the snap length.

use std::collections::HashMap;

use super::FILTER_BUF_SIZE;
use super::Key;
use crate::cfg::{ACCEPT, Graph, Node, NodeId, Operand, REJECT, V, ValId, Walk};

/// The bytes every accepting path from a node will load: constant part and per variable base.
/// `None`: no path accepts (everything is "needed").
#[derive(Clone, Debug)]
pub(super) struct Need {
    pub(super) known: i32,
    pub(super) var: Option<Vec<(ValId, i32)>>,
}

/// Order the nodes (leaves excluded) so that every node comes after its predecessors, a
/// node's successor right after it where possible: its false side first, then its true side.
pub(super) fn layout(g: &Graph) -> Vec<NodeId> {
    let order = g.topo();
    let leaf = |n: NodeId| n == ACCEPT || n == REJECT;
    let mut indeg: HashMap<NodeId, usize> = HashMap::new();
    for &n in &order {
        for s in g.node(n).succs() {
            if !leaf(s) {
                *indeg.entry(s).or_default() += 1;
            }
        }
    }
    let mut out = Vec::new();
    let mut ready: Vec<NodeId> = Vec::new();
    let mut cur = (!leaf(g.entry)).then_some(g.entry);
    while let Some(n) = cur {
        out.push(n);
        let succs: Vec<NodeId> = g.node(n).succs().collect();
        let mut released = Vec::new();
        for &s in &succs {
            if leaf(s) {
                continue;
            }
            let d = indeg.get_mut(&s).expect("counted");
            *d -= 1;
            if *d == 0 {
                released.push(s);
            }
        }
        // Prefer the false side (the last successor) falling through.
        let pick = succs.iter().rev().find(|s| released.contains(s)).copied();
        for s in released {
            if Some(s) != pick {
                ready.push(s);
            }
        }
        cur = pick.or_else(|| ready.pop());
    }
    out
}

/// Dominance between laid-out nodes (by layout position).
pub(super) struct Dominators {
    /// Entry and exit times of each position in a walk of the dominator tree.
    span: Vec<(usize, usize)>,
}

impl Dominators {
    pub(super) fn new(g: &Graph, layout: &[NodeId]) -> Dominators {
        let pos: HashMap<NodeId, usize> = layout.iter().enumerate().map(|(i, &n)| (n, i)).collect();
        // The layout is topological: a node's immediate dominator is the lowest common
        // ancestor of its predecessors in the tree built so far.
        let mut idom: Vec<Option<usize>> = vec![None; layout.len()];
        let mut depth = vec![0usize; layout.len()];
        for (i, &n) in layout.iter().enumerate() {
            // All of i's predecessors come before it: its immediate dominator is final.
            if let Some(d) = idom[i] {
                depth[i] = depth[d] + 1;
            }
            for s in g.node(n).succs() {
                let Some(&j) = pos.get(&s) else { continue };
                idom[j] = Some(match idom[j] {
                    None => i,
                    Some(mut a) => {
                        let mut b = i;
                        while a != b {
                            if depth[a] >= depth[b] {
                                a = idom[a].unwrap_or(0);
                            } else {
                                b = idom[b].unwrap_or(0);
                            }
                        }
                        a
                    }
                });
            }
        }
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); layout.len()];
        for (i, d) in idom.iter().enumerate() {
            if let Some(d) = d {
                children[*d].push(i);
            }
        }
        let mut span = vec![(0, 0); layout.len()];
        let mut clock = 0;
        let mut stack = vec![(0usize, false)];
        while let Some((n, done)) = stack.pop() {
            if done {
                span[n].1 = clock;
                continue;
            }
            span[n].0 = clock;
            clock += 1;
            stack.push((n, true));
            for &c in &children[n] {
                stack.push((c, false));
            }
        }
        Dominators { span }
    }

    pub(super) fn dominates(&self, a: usize, b: usize) -> bool {
        let (sa, sb) = (self.span[a], self.span[b]);
        sa.0 <= sb.0 && sb.1 <= sa.1
    }
}

/// The values a node computes.
pub(super) fn operands(g: &Graph, n: NodeId) -> Vec<ValId> {
    match *g.node(n) {
        Node::Test { a, b, .. } => match b {
            Operand::V(b) => vec![a, b],
            Operand::K(_) => vec![a],
        },
        Node::Store { v, .. } | Node::Bind { v, .. } => vec![v],
        _ => Vec::new(),
    }
}

/// The constant-offset bytes node `n` itself loads.
pub(super) fn own_need(g: &Graph, n: NodeId) -> i32 {
    let mut needs = Vec::new();
    for v in operands(g, n) {
        g.vals.needs(v, &mut needs);
    }
    let mut own = needs
        .iter()
        .filter(|(b, _)| b.is_none())
        .map(|(_, e)| *e)
        .max()
        .unwrap_or(i32::MIN);
    if let Node::Chain {
        walk: Walk { nl, v6, .. },
        ..
    } = *g.node(n)
    {
        own = own.max(nl + if v6 { 7 } else { 10 });
    }
    own
}

/// Every key a value's computation reads, with repetitions.
pub(super) fn walk(g: &Graph, v: ValId, out: &mut Vec<Key>) {
    match g.vals.get(v) {
        V::K(_) | V::Len => return,
        V::Load { base: Some(b), .. } => {
            out.push(Key::Ptr(*b));
            out.push(Key::Lim(*b));
            walk(g, *b, out);
        }
        V::Alu(_, a, b) => {
            walk(g, *a, out);
            walk(g, *b, out);
        }
        V::Neg(a) => walk(g, *a, out),
        _ => {}
    }
    out.push(Key::Val(v));
}

/// The keys a node computing `v` will likely look for: `v` itself, and for a load from a
/// variable offset its pointer and room. Operands matter only when the value is gone, and then
/// reloading them costs what keeping them would have.
pub(super) fn shallow(g: &Graph, v: ValId, out: &mut Vec<Key>) {
    out.push(Key::Val(v));
    // A load from a variable offset needs the pointer and the room, not the offset.
    if let V::Load { base: Some(b), .. } = g.vals.get(v) {
        out.extend([Key::Ptr(*b), Key::Lim(*b)]);
    }
}

/// What every accepting path from each node loads (see `Need`), from the leaves back.
pub(super) fn anticipate(g: &Graph, layout: &[NodeId]) -> HashMap<NodeId, Need> {
    let mut need: HashMap<NodeId, Need> = HashMap::new();
    need.insert(
        ACCEPT,
        Need {
            known: i32::MIN,
            var: Some(Vec::new()),
        },
    );
    need.insert(
        REJECT,
        Need {
            known: i32::MAX,
            var: None,
        },
    );
    for &n in layout.iter().rev() {
        if matches!(g.node(n), Node::Entry { .. }) {
            continue;
        }
        let mut known = i32::MAX;
        let mut var: Option<Vec<(ValId, i32)>> = None;
        for s in g.node(n).succs() {
            let ns = &need[&s];
            known = known.min(ns.known);
            let mut sv = ns.var.clone();
            if let (Node::Store { slot, .. }, Some(v)) = (g.node(n), &mut sv) {
                v.retain(|(b, _)| !g.vals.mentions_slot(*b, *slot));
            }
            var = match (var, sv) {
                (None, x) | (x, None) => x,
                (Some(a), Some(b)) => Some(
                    a.iter()
                        .filter_map(|(v, e)| {
                            b.iter()
                                .find(|(w, _)| w == v)
                                .map(|(_, f)| (*v, (*e).min(*f)))
                        })
                        .collect(),
                ),
            };
        }
        let mut needs = Vec::new();
        for v in operands(g, n) {
            g.vals.needs(v, &mut needs);
        }
        known = known.max(own_need(g, n));
        if let Some(var) = &mut var {
            for (b, e) in needs {
                let Some(b) = b else { continue };
                match var.iter_mut().find(|(w, _)| *w == b) {
                    Some((_, x)) => *x = (*x).max(e),
                    None => var.push((b, e)),
                }
            }
        }
        need.insert(n, Need { known, var });
    }
    need
}

/// The highest byte any load can reach, from the start of the captured bytes.
pub(super) fn snaplen(g: &Graph) -> u32 {
    let Node::Entry { l2, l3, delta } = *g.node(g.entry) else {
        return 0;
    };
    let mut reach: i64 = 0;
    for (root, d) in [(l2, delta), (l3, 0)] {
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![root];
        while let Some(n) = stack.pop() {
            if !seen.insert(n) {
                continue;
            }
            stack.extend(g.node(n).succs());
            if matches!(g.node(n), Node::Chain { .. }) {
                reach = FILTER_BUF_SIZE as i64;
            }
            let mut needs = Vec::new();
            for v in operands(g, n) {
                g.vals.needs(v, &mut needs);
            }
            for (b, e) in needs {
                let base = b.map_or(0, |b| g.vals.max(b) as i64);
                reach = reach.max(base + e as i64 + d as i64);
            }
        }
    }
    reach.clamp(0, FILTER_BUF_SIZE as i64) as u32
}

/// Does the Ethernet body read the buffer (and so need its rebase)?
pub(super) fn l2_reads(g: &Graph, l2: NodeId) -> bool {
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![l2];
    while let Some(n) = stack.pop() {
        if !seen.insert(n) {
            continue;
        }
        stack.extend(g.node(n).succs());
        if matches!(g.node(n), Node::Chain { .. }) || own_need(g, n) > i32::MIN {
            return true;
        }
        let mut needs = Vec::new();
        for v in operands(g, n) {
            g.vals.needs(v, &mut needs);
        }
        if !needs.is_empty() {
            return true;
        }
    }
    false
}

pub(super) fn mentions_len(g: &Graph, v: ValId) -> bool {
    match g.vals.get(v) {
        V::Len => true,
        V::Load { base: Some(b), .. } | V::Neg(b) => mentions_len(g, *b),
        V::Alu(_, a, b) => mentions_len(g, *a) || mentions_len(g, *b),
        _ => false,
    }
}
