//! The packets the TUI keeps: events grouped per skb (clones under their parent), fates, drop statistics and
//! bounded memory. Pure code, no terminal: everything here is driven by recorded event streams in tests.

pub use crate::fate::iface_label;
use crate::fate::{self, Fate, FateTracker, Life};
use crate::filter::DisplayFilter;
use event::{Event, Tuple};
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};

/// A packet's number, in order of first appearance (never reused).
pub type PacketId = u64;

/// How long after an `skb_clone`-like call on a CPU a new skb address on that CPU is taken to be the copy.
const CLONE_WINDOW_NS: u64 = 1_000_000;

/// One packet: the events of one skb from its first appearance until it is freed.
#[derive(Debug)]
pub struct Packet {
    /// Its number.
    pub id: PacketId,
    /// The skb address.
    pub skb: u64,
    /// With `--filter-track-skb`: the packet this one was cloned or copied from.
    pub parent: Option<PacketId>,
    events: Vec<Event>,
    /// Events beyond the per-packet cap that were counted but not kept.
    pub events_dropped: u64,
    fate: FateTracker,
    ifaces: Vec<String>,
    life: Life,
    /// (filter generation, events seen, result): the display filter is re-evaluated only when either changes.
    match_cache: Cell<(u64, u64, bool)>,
}

impl Packet {
    fn new(id: PacketId, skb: u64, parent: Option<PacketId>) -> Self {
        Self {
            id,
            skb,
            parent,
            events: Vec::new(),
            events_dropped: 0,
            fate: FateTracker::default(),
            ifaces: Vec::new(),
            life: Life::Live,
            match_cache: Cell::new((u64::MAX, 0, false)),
        }
    }

    /// Its events, in order (at most the per-packet cap).
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Its fate so far.
    pub fn fate(&self) -> &Fate {
        self.fate.fate()
    }

    /// Interfaces crossed, in order, without repeats in a row.
    pub fn ifaces(&self) -> &[String] {
        &self.ifaces
    }

    /// Its first event.
    pub fn first(&self) -> &Event {
        &self.events[0]
    }

    /// Its latest kept event.
    pub fn last(&self) -> &Event {
        &self.events[self.events.len() - 1]
    }

    /// Number of function events observed (kept or not).
    pub fn func_count(&self) -> u64 {
        self.events.len() as u64 + self.events_dropped
    }

    /// Time from its first to its latest kept event.
    pub fn duration_ns(&self) -> u64 {
        self.last().ktime_ns.saturating_sub(self.first().ktime_ns)
    }

    /// The first tuple seen (before any NAT).
    pub fn tuple(&self) -> Option<&Tuple> {
        self.events.iter().find_map(|e| e.tuple.as_ref())
    }

    /// Whether the tuple changed along the path (NAT), and to what.
    pub fn last_tuple(&self) -> Option<&Tuple> {
        self.events.iter().rev().find_map(|e| e.tuple.as_ref())
    }

    /// Adds the event; true when it took a new slot (false when it replaced the last one at the cap).
    fn push(&mut self, ev: Event, cap: usize) -> bool {
        self.fate.observe(&ev);
        if let Some(name) = iface_label(&ev)
            && self.ifaces.last() != Some(&name)
        {
            self.ifaces.push(name);
        }
        if self.events.len() < cap {
            self.events.push(ev);
            true
        } else {
            // Keep the last event so duration and the final function stay right.
            self.events_dropped += 1;
            *self.events.last_mut().expect("cap >= 1") = ev;
            false
        }
    }
}

/// Annotations the Cilium pane shows: `cilium` (endpoint, identity, service, CT, policy) and `cilium_*` (e.g.
/// `cilium_drop`, the Cilium drop reason behind a kfree_skb).
pub fn is_cilium(name: &str) -> bool {
    name == "cilium" || name.starts_with("cilium_")
}

/// Cilium's own name for why the packet was dropped (`POLICY_DENIED`), from a `cilium_drop` annotation.
pub fn cilium_drop_name(p: &Packet) -> Option<String> {
    p.events()
        .iter()
        .flat_map(|e| e.annotations.iter())
        .filter(|a| a.name == "cilium_drop")
        .find_map(|a| a.json.get(0)?.get("name")?.as_str().map(str::to_string))
}

/// Drop counts per (reason, function).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropStat {
    /// As in [`Fate::Dropped`].
    pub reason: String,
    /// The dropping function.
    pub func: String,
    /// Drops seen.
    pub count: u64,
    /// Order of the latest occurrence (larger is newer).
    pub last_seq: u64,
    /// The packet of the latest occurrence.
    pub last_packet: PacketId,
}

/// The model's memory bounds and grouping.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// Packets kept; the oldest are evicted (and counted) beyond it.
    pub max_packets: usize,
    /// Events kept per packet; beyond it the last one is replaced and the rest counted.
    pub max_events_per_packet: usize,
    /// Events kept over all packets: the oldest packets go first when it is exceeded (~400 bytes an event).
    pub max_events_total: usize,
    /// `--filter-track-skb`: group clones and copies under the packet they came from.
    pub track_skb: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            max_packets: 5000,
            max_events_per_packet: 2048,
            max_events_total: 100_000,
            track_skb: false,
        }
    }
}

/// One line of the packets pane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    /// The packet shown.
    pub id: PacketId,
    /// 0 for a packet, 1+ for clones/copies.
    pub depth: u8,
}

/// Every kept packet, the skb addresses in use, and drop statistics; fed one event at a time by [`Model::push`].
pub struct Model {
    cfg: ModelConfig,
    packets: BTreeMap<PacketId, Packet>,
    children: HashMap<PacketId, Vec<PacketId>>,
    /// skb address -> packet currently using it.
    by_skb: HashMap<u64, PacketId>,
    /// cpu -> (packet that called a clone function, when).
    pending_copy: HashMap<u32, (PacketId, u64)>,
    drops: HashMap<(String, String), DropStat>,
    /// The kernel's frees of skbs XDP programs dropped: the verdict counted those packets already.
    xdp: fate::XdpFollowups,
    next_id: PacketId,
    seq: u64,
    /// Packets evicted to stay within the bounds.
    pub evicted: u64,
    /// Events received.
    pub events_total: u64,
    /// Events currently kept, over all packets.
    pub events_kept: usize,
    /// Some event carried a Cilium annotation (the Cilium pane is shown).
    pub has_cilium: bool,
    filter: DisplayFilter,
    filter_gen: u64,
}

impl Model {
    /// An empty model; bounds below 1 are raised to 1.
    pub fn new(cfg: ModelConfig) -> Self {
        let cfg = ModelConfig {
            max_packets: cfg.max_packets.max(1),
            max_events_per_packet: cfg.max_events_per_packet.max(1),
            max_events_total: cfg.max_events_total.max(1),
            ..cfg
        };
        Self {
            cfg,
            packets: BTreeMap::new(),
            children: HashMap::new(),
            by_skb: HashMap::new(),
            pending_copy: HashMap::new(),
            drops: HashMap::new(),
            xdp: fate::XdpFollowups::default(),
            next_id: 1,
            seq: 0,
            evicted: 0,
            events_total: 0,
            events_kept: 0,
            has_cilium: false,
            filter: DisplayFilter::default(),
            filter_gen: 0,
        }
    }

    /// Its bounds, as raised by [`Model::new`].
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// Packets kept.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// Whether no packet is kept.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Packet `id`, if still kept.
    pub fn packet(&self, id: PacketId) -> Option<&Packet> {
        self.packets.get(&id)
    }

    /// Every kept packet, oldest first.
    pub fn packets(&self) -> impl DoubleEndedIterator<Item = &Packet> {
        self.packets.values()
    }

    /// The display filter in use.
    pub fn filter(&self) -> &DisplayFilter {
        &self.filter
    }

    /// Replaces the display filter.
    pub fn set_filter(&mut self, f: DisplayFilter) {
        if f != self.filter {
            self.filter = f;
            self.filter_gen += 1;
        }
    }

    /// Drop statistics, newest first.
    pub fn drops(&self) -> Vec<&DropStat> {
        let mut v: Vec<_> = self.drops.values().collect();
        v.sort_by_key(|d| std::cmp::Reverse(d.last_seq));
        v
    }

    /// Adds one event: to the packet using its skb address, to a new packet (a clone's under its parent with
    /// `track_skb`), or starting a new one when the address was freed; then evicts beyond the bounds.
    pub fn push(&mut self, ev: Event) {
        self.events_total += 1;
        self.seq += 1;
        if !self.has_cilium && ev.annotations.iter().any(|a| is_cilium(&a.name)) {
            self.has_cilium = true;
        }
        let id = self.packet_for(&ev);
        // A packet's drop counts once, as in pwru's --summary: at its first drop, and not at the kernel's free of a
        // packet an XDP verdict dropped.
        let dropped_before = matches!(self.packets[&id].fate(), Fate::Dropped { .. });
        let drop = match fate::classify(&ev) {
            fate::Step::Drop { reason } if !dropped_before => {
                (!self.xdp.is_followup(&ev, &reason)).then_some(reason)
            }
            _ => None,
        };
        let frees = fate::frees_skb(&ev);
        let copies = self.cfg.track_skb && fate::makes_copy(&ev.func);
        let (cpu, ktime, func) = (ev.cpu, ev.ktime_ns, ev.func.clone());

        let cap = self.cfg.max_events_per_packet;
        let p = self
            .packets
            .get_mut(&id)
            .expect("packet_for returns a live packet");
        if p.push(ev, cap) {
            self.events_kept += 1;
        }
        p.life = p.life.after(p.last());
        if frees {
            let skb = p.skb;
            if self.by_skb.get(&skb) == Some(&id) {
                self.by_skb.remove(&skb);
            }
        }
        if let Some(reason) = drop {
            let seq = self.seq;
            let stat = self
                .drops
                .entry((reason.clone(), func.clone()))
                .or_insert_with(|| DropStat {
                    reason,
                    func,
                    count: 0,
                    last_seq: 0,
                    last_packet: id,
                });
            stat.count += 1;
            stat.last_seq = seq;
            stat.last_packet = id;
        }
        if copies {
            self.pending_copy.insert(cpu, (id, ktime));
        }
        self.evict();
    }

    /// The packet this event belongs to, creating it when the address is new or was freed.
    fn packet_for(&mut self, ev: &Event) -> PacketId {
        if let Some(&id) = self.by_skb.get(&ev.skb)
            && let Some(p) = self.packets.get(&id)
            && fate::same_packet(p.life, p.last(), ev)
        {
            return id;
        }
        let parent = self
            .cfg
            .track_skb
            .then(|| self.take_copy_parent(ev))
            .flatten();
        let id = self.next_id;
        self.next_id += 1;
        self.packets.insert(id, Packet::new(id, ev.skb, parent));
        if let Some(pid) = parent {
            self.children.entry(pid).or_default().push(id);
        }
        self.by_skb.insert(ev.skb, id);
        id
    }

    fn take_copy_parent(&mut self, ev: &Event) -> Option<PacketId> {
        let (pid, at) = self.pending_copy.remove(&ev.cpu)?;
        let fresh = ev.ktime_ns.saturating_sub(at) <= CLONE_WINDOW_NS;
        let parent = self.packets.get(&pid)?;
        (fresh && parent.skb != ev.skb).then_some(pid)
    }

    fn evict(&mut self) {
        while self.packets.len() > self.cfg.max_packets
            || (self.events_kept > self.cfg.max_events_total && self.packets.len() > 1)
        {
            let Some((id, p)) = self.packets.pop_first() else {
                break;
            };
            self.events_kept -= p.events.len();
            if self.by_skb.get(&p.skb) == Some(&id) {
                self.by_skb.remove(&p.skb);
            }
            self.children.remove(&id);
            if let Some(parent) = p.parent
                && let Some(c) = self.children.get_mut(&parent)
            {
                c.retain(|&x| x != id);
            }
            self.pending_copy.retain(|_, (pid, _)| *pid != id);
            self.evicted += 1;
        }
    }

    /// Whether the packet passes the display filter (cached per packet until it changes).
    pub fn shown(&self, p: &Packet) -> bool {
        if self.filter.is_empty() {
            return true;
        }
        let (g, n, r) = p.match_cache.get();
        let seen = p.func_count();
        if g == self.filter_gen && n == seen {
            return r;
        }
        let r = self.filter.matches(p);
        p.match_cache.set((self.filter_gen, seen, r));
        r
    }

    /// Rows of the packets pane: packets in arrival order, each followed by its clones (indented); only those that
    /// pass the display filter, plus the parents of shown clones so the tree stays readable.
    pub fn rows(&self) -> Vec<Row> {
        let mut rows = Vec::with_capacity(self.packets.len());
        for p in self.packets.values() {
            // Children are emitted under a parent that is still kept.
            if p.parent.is_some_and(|pid| self.packets.contains_key(&pid)) {
                continue;
            }
            self.emit(p, 0, &mut rows);
        }
        rows
    }

    /// Emits `p` and its subtree if anything in it is shown; returns whether it emitted.
    fn emit(&self, p: &Packet, depth: u8, rows: &mut Vec<Row>) -> bool {
        let at = rows.len();
        let own = self.shown(p);
        rows.push(Row { id: p.id, depth });
        let mut any_child = false;
        if let Some(kids) = self.children.get(&p.id) {
            for k in kids {
                if let Some(c) = self.packets.get(k) {
                    any_child |= self.emit(c, depth.saturating_add(1), rows);
                }
            }
        }
        if !own && !any_child {
            rows.truncate(at);
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    fn model(track: bool) -> Model {
        Model::new(ModelConfig {
            track_skb: track,
            ..Default::default()
        })
    }

    #[test]
    fn ping_groups_request_and_reply() {
        let mut m = model(false);
        fixtures::ping().into_iter().for_each(|e| m.push(e));
        let rows = m.rows();
        assert_eq!(rows.len(), 2, "echo request and echo reply");
        let req = m.packet(rows[0].id).unwrap();
        let rep = m.packet(rows[1].id).unwrap();
        assert_eq!(req.tuple().unwrap().daddr.to_string(), "10.0.0.2");
        assert_eq!(rep.tuple().unwrap().daddr.to_string(), "10.0.0.1");
        assert_eq!(req.ifaces(), ["veth0", "eth0"]);
        assert_eq!(*req.fate(), Fate::Delivered(fate::Delivery::Consumed));
        assert_eq!(*rep.fate(), Fate::Delivered(fate::Delivery::Socket));
        assert_eq!(
            req.func_count() + rep.func_count(),
            fixtures::ping().len() as u64
        );
    }

    #[test]
    fn address_reuse_after_free_is_a_new_packet() {
        let mut m = model(false);
        // The UDP datagram reuses the ping request's address after kfree_skbmem in the fixtures.
        fixtures::ping()
            .into_iter()
            .chain(fixtures::udp_no_socket())
            .for_each(|e| m.push(e));
        let rows = m.rows();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            m.packet(rows[0].id).unwrap().skb,
            m.packet(rows[2].id).unwrap().skb
        );
        assert_eq!(m.packet(rows[2].id).unwrap().first().func, "net_dev_queue");
        // A release helper after a kprobe'd free stays with the freed packet.
        assert_eq!(m.packet(rows[0].id).unwrap().last().func, "kfree_skbmem");
    }

    #[test]
    fn reuse_after_an_unseen_free_is_a_new_packet() {
        // Tracepoint backend with --filter-netns: an ARP request and then the echo reply leave the netns through the
        // same veth at the same address; their frees happen in the other netns and are not reported.
        use fixtures::{Ev, PEER_NS, tuple};
        let rp = tuple("10.0.0.2", 0, "10.0.0.1", 0, 1);
        let ev = |at, f: &str, len| {
            Ev::new(0xffff_8883_bb39_1300, at, f)
                .tp()
                .ns(PEER_NS)
                .dev("eth0", 2)
                .len(len)
        };
        let stream = [
            ev(0, "net_dev_queue", 42).proto(0x0806),
            ev(1, "net_dev_start_xmit", 42).proto(0x0806),
            ev(60, "net_dev_queue", 98).tuple(&rp),
            ev(61, "net_dev_start_xmit", 98).tuple(&rp),
            // A tunnel re-queues the same skb on another device: still one packet.
            ev(62, "net_dev_queue", 148).dev("vxlan0", 9).tuple(&rp),
            ev(63, "net_dev_start_xmit", 148)
                .dev("vxlan0", 9)
                .tuple(&rp),
            // Recorded on 6.18 with the tracepoint backend: a veth crossing, where net_dev_xmit fires after the peer's
            // netif_rx, then netif_receive_skb on the same device: one packet.
            ev(90, "netif_rx_entry", 84).dev("eth0", 2),
            ev(91, "netif_rx", 84).dev("eth0", 2),
            ev(92, "net_dev_xmit", 84).dev("eth0", 2),
            ev(93, "netif_receive_skb", 84).dev("eth0", 2),
            ev(94, "net_dev_queue", 84).dev("eth0", 2),
            ev(95, "net_dev_start_xmit", 84).dev("eth0", 2),
            // 14 ms later an unrelated packet arrives at the same address on that device (its previous user was
            // freed in a netns the kernel filter hides).
            ev(14_095, "netif_rx_entry", 84).dev("eth0", 2),
            ev(14_096, "netif_rx", 84).dev("eth0", 2),
        ];
        let mut m = model(false);
        stream.into_iter().for_each(|e| m.push(e.0));
        let rows = m.rows();
        let counts: Vec<u64> = rows
            .iter()
            .map(|r| m.packet(r.id).unwrap().func_count())
            .collect();
        assert_eq!(counts, [2, 10, 2]);
        assert_eq!(m.packet(rows[1].id).unwrap().tuple(), Some(&rp));
    }

    #[test]
    fn udp_no_socket_is_dropped_and_counted() {
        let mut m = model(false);
        fixtures::udp_no_socket()
            .into_iter()
            .for_each(|e| m.push(e));
        let rows = m.rows();
        assert_eq!(rows.len(), 1);
        let p = m.packet(rows[0].id).unwrap();
        assert_eq!(
            *p.fate(),
            Fate::Dropped {
                reason: "NO_SOCKET".into(),
                func: "kfree_skb".into()
            }
        );
        let d = m.drops();
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].reason.as_str(), d[0].func.as_str(), d[0].count),
            ("NO_SOCKET", "kfree_skb", 1)
        );
        assert_eq!(d[0].last_packet, p.id);
    }

    #[test]
    fn a_verdict_drop_and_the_kernels_free_after_it_count_once() {
        let t = fixtures::tuple("10.0.0.1", 40000, "10.0.0.2", 7003, 17);
        let verdict = |skb, at_us, prog, kind, v: event::Verdict| {
            let mut e = fixtures::Ev::new(skb, at_us, prog).tuple(&t).0;
            e.func_kind = kind;
            e.verdict = Some(v);
            e
        };
        let mut m = model(false);
        // A generic XDP program drops the packet (the event is at the xdp_buff), then the kernel frees the skb that
        // held it, on the same CPU.
        m.push(verdict(
            0xffff_c900_0001_0000,
            10,
            "xdp_drop_udp",
            event::FuncKind::Xdp,
            event::Verdict::xdp(1),
        ));
        m.push(
            fixtures::Ev::new(0xffff_8880_0500_0000, 12, "kfree_skb")
                .tp()
                .tuple(&t)
                .reason(2, "NOT_SPECIFIED")
                .0,
        );
        // A tc program shoots another packet, and the kernel frees that skb with TC_INGRESS.
        m.push(verdict(
            0xffff_8880_0600_0000,
            50,
            "tc_shoot",
            event::FuncKind::Tc,
            event::Verdict::tc(2),
        ));
        m.push(
            fixtures::Ev::new(0xffff_8880_0600_0000, 51, "kfree_skb")
                .tp()
                .tuple(&t)
                .reason(68, "TC_INGRESS")
                .0,
        );
        let d: Vec<_> = m
            .drops()
            .iter()
            .map(|d| (d.reason.as_str(), d.func.as_str(), d.count))
            .collect();
        assert_eq!(
            d,
            [
                ("TC_ACT_SHOT by tc_shoot", "tc_shoot", 1),
                ("XDP_DROP by xdp_drop_udp", "xdp_drop_udp", 1)
            ]
        );
    }

    #[test]
    fn tracked_clone_is_grouped_under_its_parent() {
        let mut m = model(true);
        fixtures::nat_clone().into_iter().for_each(|e| m.push(e));
        let rows = m.rows();
        assert_eq!(rows.iter().map(|r| r.depth).collect::<Vec<_>>(), [0, 1]);
        let parent = m.packet(rows[0].id).unwrap();
        let clone = m.packet(rows[1].id).unwrap();
        assert_eq!(clone.parent, Some(parent.id));
        // NAT rewrote the destination along the path.
        assert_eq!(parent.tuple().unwrap().daddr.to_string(), "10.96.0.10");
        assert_eq!(parent.last_tuple().unwrap().daddr.to_string(), "10.244.1.5");
        // Without tracking the clone is its own packet.
        let mut m = model(false);
        fixtures::nat_clone().into_iter().for_each(|e| m.push(e));
        assert_eq!(m.rows().iter().map(|r| r.depth).collect::<Vec<_>>(), [0, 0]);
        assert!(m.has_cilium);
    }

    #[test]
    fn display_filter_on_recorded_streams() {
        let mut m = model(true);
        for e in fixtures::ping()
            .into_iter()
            .chain(fixtures::udp_no_socket())
            .chain(fixtures::nat_clone())
        {
            m.push(e);
        }
        assert_eq!(m.rows().len(), 5);
        let shown = |m: &mut Model, f: &str| {
            m.set_filter(DisplayFilter::parse(f).unwrap());
            m.rows()
                .iter()
                .map(|r| m.packet(r.id).unwrap().id)
                .collect::<Vec<_>>()
        };
        assert_eq!(shown(&mut m, "icmp").len(), 2);
        assert_eq!(shown(&mut m, "dropped"), [3]);
        assert_eq!(shown(&mut m, "reason:no_socket"), [3]);
        assert_eq!(shown(&mut m, "port:9999"), [3]);
        assert_eq!(shown(&mut m, "10.0.0.2 !udp").len(), 2);
        assert_eq!(shown(&mut m, "if:veth0"), [1, 2, 3]);
        assert_eq!(shown(&mut m, "lxc12ab"), [4]);
        assert_eq!(shown(&mut m, "func:icmp_echo"), [1]);
        // The clone matches by the NAT'ed address; its parent is kept to anchor it.
        assert_eq!(shown(&mut m, "10.244.1.5"), [4, 5]);
        assert_eq!(shown(&mut m, "func:skb_clone"), [4]);
        assert_eq!(shown(&mut m, "nosuchthing"), Vec::<u64>::new());
        assert_eq!(shown(&mut m, "").len(), 5);
    }

    #[test]
    fn eviction_keeps_the_newest_packets() {
        let mut m = Model::new(ModelConfig {
            max_packets: 2,
            ..Default::default()
        });
        for e in fixtures::ping()
            .into_iter()
            .chain(fixtures::udp_no_socket())
        {
            m.push(e);
        }
        assert_eq!(m.len(), 2);
        assert_eq!(m.evicted, 1);
        assert_eq!(m.rows().iter().map(|r| r.id).collect::<Vec<_>>(), [2, 3]);
        // The drop statistics outlive eviction.
        assert_eq!(m.drops()[0].count, 1);
    }

    #[test]
    fn total_event_budget_evicts_the_oldest_packets() {
        let mut m = Model::new(ModelConfig {
            max_events_total: 45,
            ..Default::default()
        });
        // 23 + 17 events for the ping, then 6 for the UDP packet: 46 > 45, so the request goes.
        for e in fixtures::ping()
            .into_iter()
            .chain(fixtures::udp_no_socket())
        {
            m.push(e);
        }
        assert_eq!(m.rows().iter().map(|r| r.id).collect::<Vec<_>>(), [2, 3]);
        assert_eq!((m.evicted, m.events_kept), (1, 17 + 6));
    }

    #[test]
    fn per_packet_event_cap_keeps_the_last_event() {
        let mut m = Model::new(ModelConfig {
            max_events_per_packet: 3,
            ..Default::default()
        });
        fixtures::udp_no_socket()
            .into_iter()
            .for_each(|e| m.push(e));
        let p = m.packets().next().unwrap();
        assert_eq!(p.events().len(), 3);
        assert_eq!(p.func_count(), fixtures::udp_no_socket().len() as u64);
        assert_eq!(p.last().func, "kfree_skb");
    }
}
