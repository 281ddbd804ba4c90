//! The counts behind `--summary` and `--metrics`: events per function, packets, and each packet's drop (once per
//! packet, grouped into [`paths`](super::paths)) by reason × function × interface × netns (× Cilium's reason), plus
//! the flows with the most drops. Memory is bounded: past [`Tally::new`]'s cap new drop groups count under one
//! `other` row, and the flows are a fixed-size heavy-hitter table (space-saving), exact until it is full.

use super::paths::{Gone, Paths};
use event::{Event, Tuple};
use std::collections::{BTreeSet, HashMap};

/// Label value of the group that collects what is past a cap.
pub const OTHER: &str = "other";
/// Packets followed at once to tell one packet's drop from the next (the least recently seen is forgotten).
const MAX_PACKETS: usize = 65_536;
/// Flows tracked for the top list.
const MAX_FLOWS: usize = 1024;

/// What a drop is grouped by.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DropKey {
    /// `NO_SOCKET`, the number when unnamed, `unknown` when the kernel gave none.
    pub reason: String,
    /// The function or tracepoint that dropped it.
    pub function: String,
    /// Interface name, else its ifindex, else `-`.
    pub ifname: String,
    /// netns name (`--output-netns-names`), else its inode.
    pub netns: String,
    /// Cilium's drop reason (`POLICY_DENIED`), with `--cilium` when Cilium counted one.
    pub cilium: Option<String>,
}

impl DropKey {
    fn other() -> DropKey {
        DropKey {
            reason: OTHER.into(),
            function: OTHER.into(),
            ifname: OTHER.into(),
            netns: OTHER.into(),
            cilium: None,
        }
    }

    /// The key of `ev`'s drop.
    pub fn of(ev: &Event, reason: String) -> DropKey {
        DropKey {
            reason,
            function: ev.func.clone(),
            ifname: event::fate::iface_label(ev).unwrap_or_else(|| "-".into()),
            netns: ev
                .netns_name
                .clone()
                .unwrap_or_else(|| ev.netns.to_string()),
            cilium: cilium_reason(ev),
        }
    }

    /// Whether this is the `other` row.
    pub fn is_other(&self) -> bool {
        self.reason == OTHER && self.function == OTHER
    }
}

/// Cilium's name for the drop, from the `cilium_drop` annotation `--cilium` puts on drop events.
fn cilium_reason(ev: &Event) -> Option<String> {
    let a = ev.annotations.iter().find(|a| a.name == "cilium_drop")?;
    Some(a.json.get(0)?.get("name")?.as_str()?.to_string())
}

/// A flow: addresses, ports, protocol (a packet's tuple without its TCP flags); reads as the [`Tuple`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Flow(Tuple);

impl Flow {
    fn of(t: &Tuple) -> Flow {
        Flow(Tuple { tcp_flags: 0, ..*t })
    }

    /// `10.0.0.1:5000->10.0.0.2:53(udp)`.
    pub fn display(&self) -> String {
        self.0.display(false)
    }
}

impl std::ops::Deref for Flow {
    type Target = Tuple;
    fn deref(&self) -> &Tuple {
        &self.0
    }
}

/// A group's count and when it was first seen (groups keep their order of arrival, so a metric's label set never
/// moves between explicit and `other`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count {
    /// Drops.
    pub n: u64,
    /// Arrival order of the group.
    pub first: u64,
}

/// The heavy hitters of a stream (Metwally et al.'s space-saving): exact while fewer than `cap` flows were seen;
/// then a new flow takes the place of the smallest, inheriting its count as a possible overestimate (`error`).
#[derive(Debug, Default)]
pub struct TopFlows {
    cap: usize,
    counts: HashMap<Flow, (u64, u64)>,
    /// (count, flow), smallest first.
    by_count: BTreeSet<(u64, Flow)>,
}

impl TopFlows {
    fn new(cap: usize) -> TopFlows {
        TopFlows {
            cap: cap.max(1),
            ..Default::default()
        }
    }

    fn add(&mut self, f: Flow) {
        if let Some((n, _)) = self.counts.get_mut(&f) {
            self.by_count.remove(&(*n, f));
            *n += 1;
            self.by_count.insert((*n, f));
            return;
        }
        let (n, err) = if self.counts.len() >= self.cap {
            let (min, victim) = self.by_count.pop_first().expect("full");
            self.counts.remove(&victim);
            (min + 1, min)
        } else {
            (1, 0)
        };
        self.counts.insert(f, (n, err));
        self.by_count.insert((n, f));
    }

    /// The `k` flows with the most drops, most first: (flow, count, overestimate at most).
    pub fn top(&self, k: usize) -> Vec<(Flow, u64, u64)> {
        let mut v: Vec<_> = self
            .by_count
            .iter()
            .rev()
            .take(k)
            .map(|&(n, f)| (f, n, self.counts[&f].1))
            .collect();
        // Equal counts in address order, however the table was filled.
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }
}

/// What the kernel counted in a summary-only run (the probes ship only drops then).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelCounts {
    /// Events per function or tracepoint (a name may come twice: a kprobe and a tracepoint).
    pub functions: Vec<(String, u64)>,
    /// Packets (paths started).
    pub packets: u64,
    /// Events whose packet the kernel's table of live skbs could not hold.
    pub untracked: u64,
}

/// Everything counted so far.
pub struct Tally {
    /// Events seen.
    pub events: u64,
    /// Packets seen (paths started).
    pub packets: u64,
    /// Drops (packets dropped).
    pub drops: u64,
    /// Events per function or tracepoint.
    pub functions: HashMap<String, u64>,
    /// Drops per group; past the cap in [`OTHER`].
    pub groups: HashMap<DropKey, Count>,
    /// Most groups kept apart.
    pub max_groups: usize,
    /// The flows with the most drops.
    pub flows: TopFlows,
    /// Counted in the kernel: events whose packet its table could not hold ([`KernelCounts::untracked`]).
    pub kernel_untracked: Option<u64>,
    paths: Paths<()>,
    gone: Vec<Gone<()>>,
}

impl Tally {
    /// At most `max_groups` drop groups apart (one more, [`OTHER`], takes the rest).
    pub fn new(max_groups: usize) -> Tally {
        Tally {
            events: 0,
            packets: 0,
            drops: 0,
            functions: HashMap::new(),
            groups: HashMap::new(),
            max_groups: max_groups.max(1),
            flows: TopFlows::new(MAX_FLOWS),
            kernel_untracked: None,
            paths: Paths::new(MAX_PACKETS),
            gone: Vec::new(),
        }
    }

    /// Counts one event.
    pub fn add(&mut self, ev: &Event) {
        self.events += 1;
        match self.functions.get_mut(ev.func.as_str()) {
            Some(n) => *n += 1,
            None => {
                self.functions.insert(ev.func.clone(), 1);
            }
        }
        let seen = self.paths.observe(ev, &mut self.gone);
        let (drop, frees) = (seen.drop, seen.frees);
        self.packets += seen.new as u64;
        if frees {
            self.paths.freed(ev.skb);
        }
        self.gone.clear();
        if let Some(reason) = drop {
            self.count_drop(ev, reason);
        }
    }

    /// Counts one event the kernel shipped in a summary-only run: a packet's first drop (the kernel counted the
    /// events and packets, [`Tally::set_kernel`]).
    pub fn add_drop(&mut self, ev: &Event) {
        if let event::fate::Step::Drop { reason } = event::fate::classify(ev) {
            self.count_drop(ev, reason);
        }
    }

    /// Takes the kernel's counts of events and packets (a summary-only run).
    pub fn set_kernel(&mut self, k: &KernelCounts) {
        self.functions.clear();
        for (f, n) in k.functions.iter().filter(|(_, n)| *n > 0) {
            *self.functions.entry(f.clone()).or_default() += n;
        }
        self.events = k.functions.iter().map(|(_, n)| n).sum();
        self.packets = k.packets;
        self.kernel_untracked = Some(k.untracked);
    }

    fn count_drop(&mut self, ev: &Event, reason: String) {
        self.drops += 1;
        let key = DropKey::of(ev, reason);
        let next = self.groups.len() as u64;
        let key = if self.groups.contains_key(&key) || self.groups.len() < self.max_groups {
            key
        } else {
            DropKey::other()
        };
        self.groups
            .entry(key)
            .or_insert(Count { n: 0, first: next })
            .n += 1;
        if let Some(t) = &ev.tuple {
            self.flows.add(Flow::of(t));
        }
    }

    /// Drop groups, most drops first (ties: first seen first), `other` last.
    pub fn groups_by_count(&self) -> Vec<(&DropKey, Count)> {
        let mut v: Vec<_> = self.groups.iter().map(|(k, c)| (k, *c)).collect();
        v.sort_by_key(|(k, c)| (k.is_other(), std::cmp::Reverse(c.n), c.first));
        v
    }

    /// Functions, most events first (ties by name).
    pub fn functions_by_count(&self) -> Vec<(&str, u64)> {
        let mut v: Vec<_> = self
            .functions
            .iter()
            .map(|(f, n)| (f.as_str(), *n))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use event::{DropReason, FuncKind};

    fn ev(skb: u64, at: u64, func: &str, dport: u16) -> Event {
        Event {
            skb,
            ktime_ns: at,
            func: func.into(),
            func_kind: FuncKind::Tracepoint,
            netns: 42,
            ifindex: 2,
            ifname: Some("veth0".into()),
            tuple: Some(Tuple::new([10, 0, 0, 1], 4000, [10, 0, 0, 2], dport, 17)),
            ..Default::default()
        }
    }

    fn dropped(skb: u64, at: u64, dport: u16, reason: &str) -> Event {
        Event {
            drop_reason: Some(DropReason {
                code: 3,
                name: Some(reason.into()),
            }),
            ..ev(skb, at, "kfree_skb", dport)
        }
    }

    #[test]
    fn drops_by_group_and_flow() {
        let mut t = Tally::new(10);
        for i in 0..5 {
            t.add(&ev(i, i * 10, "netif_receive_skb", 9));
            t.add(&dropped(i, i * 10 + 1, 9, "NO_SOCKET"));
        }
        for i in 5..8 {
            t.add(&ev(i, i * 10, "netif_receive_skb", 7));
            t.add(&dropped(i, i * 10 + 1, 7, "NETFILTER_DROP"));
        }
        t.add(&ev(100, 200, "netif_receive_skb", 53));
        t.add(&ev(100, 201, "consume_skb", 53));
        assert_eq!((t.events, t.packets, t.drops), (18, 9, 8));
        let g = t.groups_by_count();
        assert_eq!(g.len(), 2);
        assert_eq!(
            (
                g[0].0.reason.as_str(),
                g[0].0.function.as_str(),
                g[0].0.ifname.as_str(),
                g[0].0.netns.as_str(),
                g[0].1.n
            ),
            ("NO_SOCKET", "kfree_skb", "veth0", "42", 5)
        );
        assert_eq!((g[1].0.reason.as_str(), g[1].1.n), ("NETFILTER_DROP", 3));
        let top = t.flows.top(5);
        assert_eq!(top.len(), 2);
        assert_eq!((top[0].0.dport, top[0].1, top[0].2), (9, 5, 0));
        assert_eq!(top[0].0.display(), "10.0.0.1:4000->10.0.0.2:9(udp)");
        assert_eq!(t.functions_by_count()[0], ("netif_receive_skb", 9));
    }

    #[test]
    fn groups_past_the_cap_go_to_other() {
        let mut t = Tally::new(2);
        for (i, r) in ["A", "B", "C", "D", "A"].iter().enumerate() {
            t.add(&dropped(i as u64, i as u64, 1, r));
        }
        let g = t.groups_by_count();
        let names: Vec<_> = g.iter().map(|(k, c)| (k.reason.as_str(), c.n)).collect();
        assert_eq!(names, [("A", 2), ("B", 1), (OTHER, 2)]);
    }

    #[test]
    fn space_saving_keeps_the_heavy_flows() {
        let mut f = TopFlows::new(4);
        let flow = |p: u16| {
            Flow::of(&Tuple {
                saddr: "10.0.0.1".parse().unwrap(),
                daddr: "10.0.0.2".parse().unwrap(),
                sport: p,
                dport: 80,
                proto: 6,
                tcp_flags: 0x10,
            })
        };
        for round in 0..100u16 {
            f.add(flow(1));
            f.add(flow(2));
            // A scan: a new flow each time.
            f.add(flow(1000 + round));
        }
        let top = f.top(2);
        let mut ports: Vec<u16> = top.iter().map(|t| t.0.sport).collect();
        ports.sort();
        assert_eq!(ports, [1, 2]);
        assert_eq!(
            (top[0].1, top[0].2),
            (100, 0),
            "exact for a flow kept from the start"
        );
        assert_eq!(f.counts.len(), 4);
    }
}
