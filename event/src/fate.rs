//! What happened to a packet, decided from the names of the kernel functions and tracepoints it passed, and where
//! one packet ends and the next begins at the same skb address.
//!
//! All the name rules live here so they can be read, tested and extended in one place: the TUI groups its packets
//! with them, and pwru's `--drops-only`, `--summary` and `--metrics` decide with them what a drop is. They cover
//! both backends: kprobes see function names (`kfree_skb_reason`, `dev_hard_start_xmit`), the tracepoint backend
//! sees tracepoint names (`kfree_skb`, `net_dev_xmit`, `consume_skb`).
//!
//! A new kind of drop is added in [`classify`] as a [`Step::Drop`]: every consumer follows from there.
//!
//! The verdict of a traced BPF program (`--filter-trace-tc`/`--filter-trace-xdp`) that drops the packet
//! (`TC_ACT_SHOT`, `XDP_DROP`, `XDP_ABORTED`) is a drop whose reason names the verdict and the program
//! (`TC_ACT_SHOT by cil_from_container`) and whose function is the program. It owns the packet's drop: it comes
//! first, it says who decided, and it is the only trace of a packet a native XDP program dropped before any skb
//! existed. The kernel's free that follows (`kfree_skb_reason` with `TC_INGRESS`/`TC_EGRESS`, or the free of the skb
//! a generic or veth XDP program ran on) is the same packet and is not a second drop: after a tc verdict it is at the
//! same skb address, so the packet's first drop wins; after an XDP verdict the skb is at another address than the
//! `xdp_buff`, and [`XdpFollowups`] recognises its free.

use crate::Event;

/// Drop reason names (without `SKB_DROP_REASON_`) that mean "freed after normal use", not a drop.
const CONSUMED_REASONS: &[&str] = &["CONSUMED", "SKB_CONSUMED"];

/// The final (or so far) outcome of one packet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Fate {
    /// No decisive function seen yet.
    #[default]
    InFlight,
    /// Handed to a device driver; `iface` is where.
    Transmitted {
        /// `name:ifindex` of the device, when known.
        iface: Option<String>,
    },
    /// Delivered locally.
    Delivered(Delivery),
    /// Dropped by the kernel.
    Dropped {
        /// Reason name (`NO_SOCKET`), the number when the name is unknown, or `unknown` when none was recorded.
        reason: String,
        /// The function that dropped it (`kfree_skb`).
        func: String,
    },
}

/// How a packet was delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Queued to or copied into a socket.
    Socket,
    /// Freed after normal use by the kernel (e.g. an ICMP echo answered, a TX completion after a local receive).
    Consumed,
}

/// The role a single event plays in deciding a packet's fate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A drop (a drop function, or a free with a drop reason).
    Drop {
        /// As in [`Fate::Dropped`].
        reason: String,
    },
    /// Freed after normal use (`consume_skb`, or a free with reason CONSUMED).
    Consume,
    /// Queued to a socket.
    Socket,
    /// Handed to a device driver.
    Transmit,
    /// Received by the stack (`netif_receive_skb`, `netif_rx`, GRO).
    Receive,
    /// Says nothing about the fate.
    Other,
}

/// Classifies one event.
pub fn classify(ev: &Event) -> Step {
    if let Some(v) = ev.verdict.as_ref().filter(|v| v.drop) {
        return Step::Drop {
            reason: verdict_reason(v, &ev.func),
        };
    }
    let f = ev.func.as_str();
    if let Some(r) = &ev.drop_reason {
        let name = r.name.as_deref();
        if name.is_some_and(is_consumed_reason) {
            return Step::Consume;
        }
        if is_drop_func(f) || is_reasoned_free(f) {
            return Step::Drop {
                reason: reason_text(r),
            };
        }
    }
    if is_drop_func(f) {
        return Step::Drop {
            reason: "unknown".into(),
        };
    }
    if is_socket_delivery(f) {
        return Step::Socket;
    }
    if is_consume(f) {
        return Step::Consume;
    }
    if is_transmit(f) {
        return Step::Transmit;
    }
    if is_receive(f) {
        return Step::Receive;
    }
    Step::Other
}

/// `NO_SOCKET`, or the number when the kernel's BTF did not name it.
pub fn reason_text(r: &crate::DropReason) -> String {
    match &r.name {
        Some(n) => n.clone(),
        None => r.code.to_string(),
    }
}

/// `TC_ACT_SHOT by cil_from_container`: a dropping verdict and the program that returned it.
pub fn verdict_reason(v: &crate::Verdict, prog: &str) -> String {
    match &v.name {
        Some(n) => format!("{n} by {prog}"),
        None => format!("{} by {prog}", v.code),
    }
}

/// Whether a drop reason's name (without `SKB_DROP_REASON_`) means "freed after normal use".
pub fn is_consumed_reason(name: &str) -> bool {
    CONSUMED_REASONS.contains(&name)
}

/// What a probed function is to its packets, decided once from its name by the rules here, for counting where
/// only the function is known (pwru's in-kernel summary applies [`classify`]'s drops and [`same_packet`] to it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Roles {
    /// A drop function: a drop unless its reason says consumed.
    pub drop: bool,
    /// A free that is a drop when its reason is not consumed.
    pub reasoned_free: bool,
    /// [`frees_skb`].
    pub frees: bool,
    /// [`starts_release`].
    pub starts_release: bool,
    /// [`is_release_step`].
    pub release_step: bool,
    /// [`starts_tx_path`].
    pub starts_tx: bool,
    /// [`starts_rx_path`].
    pub starts_rx: bool,
    /// [`is_handoff`].
    pub handoff: bool,
    /// Queued to a socket.
    pub socket: bool,
    /// Received by the stack.
    pub receive: bool,
    /// Where a locally made packet enters IP output.
    pub local_out: bool,
}

/// The roles of the function or tracepoint `func` of `kind`.
pub fn roles(func: &str, kind: crate::FuncKind) -> Roles {
    let ev = Event {
        func: func.into(),
        func_kind: kind,
        ..Default::default()
    };
    Roles {
        drop: is_drop_func(func),
        reasoned_free: is_reasoned_free(func),
        frees: frees_skb(&ev),
        starts_release: starts_release(&ev),
        release_step: is_release_step(func),
        starts_tx: starts_tx_path(func),
        starts_rx: starts_rx_path(func),
        handoff: is_handoff(func),
        socket: is_socket_delivery(func),
        receive: is_receive(func),
        local_out: is_local_out(func),
    }
}

/// Reasons the kernel gives when it frees the skb an XDP program dropped (`kfree_skb` says `NOT_SPECIFIED`).
const XDP_FREE_REASONS: &[&str] = &["NOT_SPECIFIED", "XDP", "unknown"];

/// Recognises the kernel's free of the skb a generic or veth XDP program dropped, so the packet counts once (at the
/// verdict, see the module doc). The free runs on the CPU that ran the program, right after it returned, on a skb
/// holding the same packet: per CPU, the latest XDP drop is remembered until a free with a reason `kfree_skb` gives
/// and the same 5-tuple follows within [`HANDOFF_RX_GAP_NS`]. Memory: one entry per CPU.
#[derive(Clone, Debug, Default)]
pub struct XdpFollowups {
    by_cpu: std::collections::HashMap<u32, (u64, Option<crate::Tuple>)>,
}

impl XdpFollowups {
    /// Takes an event [`classify`] called a drop with `reason`; true when it is the kernel's free of a packet an XDP
    /// program dropped just before (that drop is then used up).
    pub fn is_followup(&mut self, ev: &Event, reason: &str) -> bool {
        if ev.func_kind == crate::FuncKind::Xdp {
            self.by_cpu.insert(ev.cpu, (ev.ktime_ns, ev.tuple));
            return false;
        }
        let reason = reason.strip_prefix("SKB_DROP_REASON_").unwrap_or(reason);
        if ev.verdict.is_some() || !XDP_FREE_REASONS.contains(&reason) {
            return false;
        }
        let Some((at, tuple)) = self.by_cpu.get(&ev.cpu) else {
            return false;
        };
        let same = ev.ktime_ns.saturating_sub(*at) <= HANDOFF_RX_GAP_NS
            && ev.ktime_ns >= *at
            && same_flow(tuple.as_ref(), ev.tuple.as_ref());
        if same {
            self.by_cpu.remove(&ev.cpu);
        }
        same
    }
}

/// The same addresses, ports and protocol (TCP flags aside).
fn same_flow(a: Option<&crate::Tuple>, b: Option<&crate::Tuple>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            crate::Tuple { tcp_flags: 0, ..*a } == crate::Tuple { tcp_flags: 0, ..*b }
        }
        _ => false,
    }
}

fn is_drop_func(f: &str) -> bool {
    matches!(
        f,
        "kfree_skb"
            | "kfree_skb_reason"
            | "kfree_skb_list_reason"
            | "sk_skb_reason_drop"
            | "__kfree_skb_reason"
    )
}

/// Free helpers that carry a reason: a drop unless the reason says "consumed".
fn is_reasoned_free(f: &str) -> bool {
    matches!(
        f,
        "dev_kfree_skb_any_reason" | "dev_kfree_skb_irq_reason" | "__napi_kfree_skb"
    )
}

fn is_consume(f: &str) -> bool {
    matches!(
        f,
        "consume_skb" | "napi_consume_skb" | "__consume_stateless_skb"
    )
}

fn is_socket_delivery(f: &str) -> bool {
    f.ends_with("_queue_rcv_skb")
        || f.ends_with("_queue_rcv_skb_reason")
        || matches!(
            f,
            "skb_consume_udp"
                | "tcp_rcv_established"
                | "tcp_queue_rcv"
                | "tcp_data_queue"
                | "skb_copy_datagram_iovec"
                | "skb_copy_datagram_iter"
                | "unix_stream_recvmsg"
        )
}

fn is_transmit(f: &str) -> bool {
    f.ends_with("_start_xmit")
        || f.ends_with("_xmit_frame")
        || matches!(
            f,
            "dev_hard_start_xmit" | "xmit_one" | "net_dev_xmit" | "veth_xmit"
        )
}

fn is_receive(f: &str) -> bool {
    f.starts_with("netif_receive_skb")
        || f.starts_with("__netif_receive_skb")
        || f.starts_with("netif_rx")
        || matches!(
            f,
            "__netif_rx" | "napi_gro_receive" | "napi_gro_receive_entry" | "enqueue_to_backlog"
        )
}

/// Folds a packet's events, in order, into its fate.
#[derive(Clone, Debug, Default)]
pub struct FateTracker {
    fate: Fate,
    /// Received again (e.g. the far end of a veth) since the last transmit: a later consume is a delivery, not a
    /// TX completion.
    rx_since_tx: bool,
}

impl FateTracker {
    /// The fate so far.
    pub fn fate(&self) -> &Fate {
        &self.fate
    }

    /// Takes the packet's next event; a drop is final.
    pub fn observe(&mut self, ev: &Event) {
        if matches!(self.fate, Fate::Dropped { .. }) {
            return; // a drop is final
        }
        match classify(ev) {
            Step::Drop { reason } => {
                self.fate = Fate::Dropped {
                    reason,
                    func: ev.func.clone(),
                };
            }
            Step::Socket => self.fate = Fate::Delivered(Delivery::Socket),
            Step::Consume => match self.fate {
                Fate::Delivered(_) => {}
                Fate::Transmitted { .. } if !self.rx_since_tx => {}
                _ => self.fate = Fate::Delivered(Delivery::Consumed),
            },
            Step::Transmit => {
                let iface = ev
                    .ifname
                    .clone()
                    .or_else(|| (ev.ifindex != 0).then(|| ev.ifindex.to_string()));
                // Several transmit hooks fire per hop (dev_hard_start_xmit, then the driver); keep the first
                // hop's interface unless a receive happened in between (forwarded onwards).
                match &self.fate {
                    Fate::Transmitted { .. } if !self.rx_since_tx => {}
                    _ => self.fate = Fate::Transmitted { iface },
                }
                self.rx_since_tx = false;
            }
            Step::Receive => self.rx_since_tx = true,
            Step::Other => {}
        }
    }
}

/// After a skb was handed to a device, a receive at the same address on that device this much later is another
/// packet (a veth crossing takes microseconds).
pub const HANDOFF_RX_GAP_NS: u64 = 1_000_000;

/// Where a packet is in its life, as far as its events tell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Life {
    /// Not being freed.
    #[default]
    Live,
    /// A kprobe on a free function fired; release helpers may still follow.
    Releasing,
    /// The skb memory was freed: the address may be reused by a new packet.
    Freed,
}

impl Life {
    /// The life after `ev`, one of this packet's events.
    pub fn after(self, ev: &Event) -> Life {
        if frees_skb(ev) {
            Life::Freed
        } else if self == Life::Live && starts_release(ev) {
            Life::Releasing
        } else {
            self
        }
    }
}

/// Whether `ev`, seen at the address of a packet in `life` whose latest event is `last`, belongs to that packet;
/// false when it is a new packet that reused the memory.
pub fn same_packet(life: Life, last: &Event, ev: &Event) -> bool {
    match life {
        // Handed to a device, then queued for transmit again on the same device: the free happened out of sight
        // (filtered) and the memory was reused. Tunnels re-queue the same skb on another device. A receive on that
        // device is a new packet only after a pause: a veth hands the skb to its peer within the same call (and
        // net:net_dev_xmit even fires after the peer's netif_rx).
        Life::Live => {
            let starts = starts_tx_path(&ev.func) || starts_rx_path(&ev.func);
            // Taken by a socket, a packet is neither sent nor received again: its free (a deferred or
            // stateless one the tracepoints do not report) happened out of sight.
            if starts && is_socket_delivery(&last.func) {
                return false;
            }
            let gap = ev.ktime_ns.saturating_sub(last.ktime_ns);
            // A received packet is sent on only when forwarded: in the netns it arrived in, in the same softirq,
            // and never through the local output path. Anything else is a new packet at a reused address (the
            // free of a packet delivered locally, e.g. UDP's stateless one, is not always reported).
            if starts_tx_path(&ev.func) && (is_receive(&last.func) || starts_rx_path(&last.func)) {
                let other_netns = last.netns != 0 && ev.netns != 0 && last.netns != ev.netns;
                if other_netns || is_local_out(&ev.func) || gap > HANDOFF_RX_GAP_NS {
                    return false;
                }
            }
            let restart =
                starts_tx_path(&ev.func) || (starts_rx_path(&ev.func) && gap > HANDOFF_RX_GAP_NS);
            !(is_handoff(&last.func) && restart && same_iface(last, ev))
        }
        Life::Releasing => is_release_step(&ev.func),
        Life::Freed => false,
    }
}

/// `veth0`, or the ifindex when the name is unknown; `None` when the skb has no device yet.
pub fn iface_label(ev: &Event) -> Option<String> {
    match (&ev.ifname, ev.ifindex) {
        (Some(n), _) if !n.is_empty() => Some(n.clone()),
        (_, 0) => None,
        (_, i) => Some(i.to_string()),
    }
}

/// `iface_label(a) == iface_label(b)`, without allocating.
fn same_iface(a: &Event, b: &Event) -> bool {
    fn named(e: &Event) -> Option<&str> {
        e.ifname.as_deref().filter(|n| !n.is_empty())
    }
    match (named(a), named(b)) {
        (Some(x), Some(y)) => x == y,
        (None, None) => a.ifindex == b.ifindex,
        // A name against a bare ifindex: equal only if the name is that number.
        (Some(n), None) | (None, Some(n)) => {
            let i = if named(a).is_some() {
                b.ifindex
            } else {
                a.ifindex
            };
            i != 0 && n == i.to_string()
        }
    }
}

/// Whether the skb behind this event is freed by it, so the next event at the same address is a new packet.
pub fn frees_skb(ev: &Event) -> bool {
    match ev.func_kind {
        // The skb:kfree_skb and skb:consume_skb tracepoints fire only when the last reference goes.
        crate::FuncKind::Tracepoint => matches!(ev.func.as_str(), "kfree_skb" | "consume_skb"),
        crate::FuncKind::Kprobe => ev.func == "kfree_skbmem",
        // A traced BPF program never frees the skb itself; its verdict makes the kernel do it (seen separately).
        crate::FuncKind::Tc | crate::FuncKind::Xdp => false,
    }
}

/// Whether this kprobe'd function starts the release of an skb (it may still be followed by release helpers such as
/// `skb_release_data` and `kfree_skbmem` on the same address).
pub fn starts_release(ev: &Event) -> bool {
    ev.func_kind == crate::FuncKind::Kprobe
        && (is_drop_func(&ev.func)
            || is_consume(&ev.func)
            || is_reasoned_free(&ev.func)
            || ev.func == "__kfree_skb")
}

/// Helpers that run while an skb is being freed; after a release started, anything else at that address is a new
/// packet that reused the memory.
pub fn is_release_step(func: &str) -> bool {
    func.starts_with("skb_release")
        || func.starts_with("kfree_skb")
        || func.starts_with("__kfree_skb")
        || func.starts_with("skb_free")
        || func.starts_with("skb_attempt_defer_free")
        || func.starts_with("napi_skb_cache_put")
        || func.ends_with("_wfree")
        || func.ends_with("_rfree")
        || matches!(
            func,
            "skb_orphan"
                | "sk_skb_reason_drop"
                | "__skb_ext_put"
                | "skb_zcopy_clear"
                | "skb_dst_drop"
                | "nf_conntrack_put"
        )
}

/// The skb was handed to a device's transmit routine: with a kernel filter (e.g. `--filter-netns`) its free may
/// happen where no event is reported, so the same address can come back as an unrelated packet.
pub fn is_handoff(func: &str) -> bool {
    is_transmit(func) || func == "net_dev_start_xmit"
}

/// Where a locally sent packet starts its way to a device.
pub fn starts_tx_path(func: &str) -> bool {
    matches!(
        func,
        "net_dev_queue"
            | "__dev_queue_xmit"
            | "dev_queue_xmit"
            | "__ip_local_out"
            | "ip_local_out"
            | "__ip6_local_out"
            | "ip6_local_out"
            | "ip_queue_xmit"
            | "ip6_xmit"
    )
}

/// Where a locally made packet enters IP output (a forwarded one never passes here).
fn is_local_out(func: &str) -> bool {
    matches!(
        func,
        "__ip_local_out"
            | "ip_local_out"
            | "__ip6_local_out"
            | "ip6_local_out"
            | "ip_queue_xmit"
            | "ip6_xmit"
    )
}

/// Where a packet arriving on a device starts (tracepoint and kprobe names).
pub fn starts_rx_path(func: &str) -> bool {
    matches!(
        func,
        "netif_rx_entry"
            | "netif_rx"
            | "__netif_rx"
            | "netif_receive_skb_entry"
            | "napi_gro_receive_entry"
            | "napi_gro_receive"
            | "netif_receive_skb"
    )
}

/// Functions whose appearance on a CPU means the next new skb address on that CPU is a clone or copy of this one.
pub fn makes_copy(func: &str) -> bool {
    matches!(
        func,
        "skb_clone"
            | "__skb_clone"
            | "skb_copy"
            | "pskb_copy"
            | "__pskb_copy_fclone"
            | "skb_copy_expand"
            | "skb_clone_sk"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DropReason, FuncKind};

    fn ev(func: &str) -> Event {
        Event {
            func: func.into(),
            ..Default::default()
        }
    }

    fn tp(func: &str) -> Event {
        Event {
            func: func.into(),
            func_kind: FuncKind::Tracepoint,
            ..Default::default()
        }
    }

    fn with_reason(mut e: Event, code: u32, name: Option<&str>) -> Event {
        e.drop_reason = Some(DropReason {
            code,
            name: name.map(Into::into),
        });
        e
    }

    fn fate_of(events: &[Event]) -> Fate {
        let mut t = FateTracker::default();
        events.iter().for_each(|e| t.observe(e));
        t.fate().clone()
    }

    #[test]
    fn dropping_verdicts_are_drops_named_by_verdict_and_program() {
        let exit = |kind, v| Event {
            func_kind: kind,
            verdict: Some(v),
            ..ev("cil_from_container")
        };
        let drop = |r: &str| Step::Drop { reason: r.into() };
        assert_eq!(
            classify(&exit(FuncKind::Tc, crate::Verdict::tc(2))),
            drop("TC_ACT_SHOT by cil_from_container")
        );
        assert_eq!(
            classify(&exit(FuncKind::Xdp, crate::Verdict::xdp(1))),
            drop("XDP_DROP by cil_from_container")
        );
        assert_eq!(
            classify(&exit(FuncKind::Xdp, crate::Verdict::xdp(0))),
            drop("XDP_ABORTED by cil_from_container")
        );
        for v in [
            crate::Verdict::tc(0),
            crate::Verdict::tc(-1),
            crate::Verdict::tc(7),
            crate::Verdict::tc(99),
        ] {
            assert_eq!(
                classify(&exit(FuncKind::Tc, v.clone())),
                Step::Other,
                "{v:?}"
            );
        }
        assert_eq!(
            classify(&exit(FuncKind::Xdp, crate::Verdict::xdp(2))),
            Step::Other
        );
        // The program's entry (no verdict) says nothing yet.
        let entry = Event {
            func_kind: FuncKind::Tc,
            ..ev("cil_from_container")
        };
        assert_eq!(classify(&entry), Step::Other);
        // The verdict owns the drop: the kernel's TC_INGRESS free after it changes nothing.
        let shot = exit(FuncKind::Tc, crate::Verdict::tc(2));
        let free = with_reason(ev("kfree_skb_reason"), 68, Some("TC_INGRESS"));
        assert_eq!(
            fate_of(&[shot, free]),
            Fate::Dropped {
                reason: "TC_ACT_SHOT by cil_from_container".into(),
                func: "cil_from_container".into()
            }
        );
    }

    #[test]
    fn xdp_followups_match_cpu_time_flow_and_reason() {
        let t = crate::Tuple::new([10, 0, 0, 1], 1, [10, 0, 0, 2], 7003, 17);
        let at = |cpu, ns, kind, tuple: &crate::Tuple| Event {
            cpu,
            ktime_ns: ns,
            func_kind: kind,
            tuple: Some(*tuple),
            ..ev("f")
        };
        let mut x = XdpFollowups::default();
        let other_port = crate::Tuple { dport: 7004, ..t };
        assert!(
            !x.is_followup(&at(0, 100, FuncKind::Kprobe, &t), "NOT_SPECIFIED"),
            "no XDP drop yet"
        );
        assert!(!x.is_followup(&at(0, 100, FuncKind::Xdp, &t), "XDP_DROP by p"));
        assert!(
            !x.is_followup(&at(1, 200, FuncKind::Kprobe, &t), "NOT_SPECIFIED"),
            "another CPU"
        );
        assert!(
            !x.is_followup(&at(0, 200, FuncKind::Kprobe, &other_port), "NOT_SPECIFIED"),
            "another flow"
        );
        assert!(
            !x.is_followup(&at(0, 200, FuncKind::Kprobe, &t), "NO_SOCKET"),
            "a reason of its own"
        );
        assert!(x.is_followup(
            &at(0, 300, FuncKind::Kprobe, &t),
            "SKB_DROP_REASON_NOT_SPECIFIED"
        ));
        assert!(
            !x.is_followup(&at(0, 400, FuncKind::Kprobe, &t), "NOT_SPECIFIED"),
            "used up"
        );
        assert!(!x.is_followup(&at(0, 500, FuncKind::Xdp, &t), "XDP_DROP by p"));
        let late = 500 + HANDOFF_RX_GAP_NS + 1;
        assert!(
            !x.is_followup(&at(0, late, FuncKind::Tracepoint, &t), "unknown"),
            "too late"
        );
    }

    #[test]
    fn drop_functions_and_reasons() {
        assert_eq!(
            classify(&with_reason(ev("kfree_skb_reason"), 3, Some("NO_SOCKET"))),
            Step::Drop {
                reason: "NO_SOCKET".into()
            }
        );
        assert_eq!(
            classify(&with_reason(ev("sk_skb_reason_drop"), 77, None)),
            Step::Drop {
                reason: "77".into()
            }
        );
        assert_eq!(
            classify(&with_reason(tp("kfree_skb"), 2, Some("NOT_SPECIFIED"))),
            Step::Drop {
                reason: "NOT_SPECIFIED".into()
            }
        );
        // Pre-5.17 kernels have no reason at all.
        assert_eq!(
            classify(&ev("kfree_skb")),
            Step::Drop {
                reason: "unknown".into()
            }
        );
        // A consumed reason on the drop tracepoint or on a reasoned free is a consume.
        assert_eq!(
            classify(&with_reason(tp("kfree_skb"), 1, Some("CONSUMED"))),
            Step::Consume
        );
        assert_eq!(
            classify(&with_reason(
                ev("dev_kfree_skb_any_reason"),
                1,
                Some("SKB_CONSUMED")
            )),
            Step::Consume
        );
        assert_eq!(
            classify(&with_reason(
                ev("dev_kfree_skb_any_reason"),
                9,
                Some("QDISC_DROP")
            )),
            Step::Drop {
                reason: "QDISC_DROP".into()
            }
        );
        // kfree_skbmem and kfree_skb_partial free memory, they are not drops.
        assert_eq!(classify(&ev("kfree_skbmem")), Step::Other);
        assert_eq!(classify(&ev("kfree_skb_partial")), Step::Other);
    }

    #[test]
    fn delivery_transmit_receive_names() {
        for f in [
            "skb_consume_udp",
            "tcp_rcv_established",
            "sock_queue_rcv_skb",
            "__udp_queue_rcv_skb",
            "ping_queue_rcv_skb",
            "skb_copy_datagram_iovec",
        ] {
            assert_eq!(classify(&ev(f)), Step::Socket, "{f}");
        }
        assert_eq!(classify(&tp("consume_skb")), Step::Consume);
        for f in [
            "dev_hard_start_xmit",
            "net_dev_xmit",
            "virtnet_start_xmit",
            "e1000_xmit_frame",
            "veth_xmit",
        ] {
            assert_eq!(classify(&ev(f)), Step::Transmit, "{f}");
        }
        for f in [
            "netif_receive_skb",
            "__netif_receive_skb_core",
            "netif_rx",
            "__netif_rx",
            "napi_gro_receive",
        ] {
            assert_eq!(classify(&ev(f)), Step::Receive, "{f}");
        }
        assert_eq!(classify(&ev("ip_rcv")), Step::Other);
    }

    #[test]
    fn fate_sequences() {
        let mut tx = ev("dev_hard_start_xmit");
        tx.ifname = Some("eth0".into());
        // Sent out of a NIC, then freed at TX completion: transmitted.
        assert_eq!(
            fate_of(&[ev("ip_output"), tx.clone(), ev("consume_skb")]),
            Fate::Transmitted {
                iface: Some("eth0".into())
            }
        );
        // Sent into a veth, received in the peer netns, consumed by ICMP: delivered.
        assert_eq!(
            fate_of(&[
                tx.clone(),
                ev("__netif_rx"),
                ev("icmp_rcv"),
                ev("consume_skb")
            ]),
            Fate::Delivered(Delivery::Consumed)
        );
        // Socket delivery wins over the later consume.
        assert_eq!(
            fate_of(&[
                ev("netif_receive_skb"),
                ev("__udp_queue_rcv_skb"),
                ev("consume_skb")
            ]),
            Fate::Delivered(Delivery::Socket)
        );
        // A drop is final, even if later events (release helpers) follow.
        assert_eq!(
            fate_of(&[
                ev("netif_receive_skb"),
                with_reason(ev("kfree_skb_reason"), 3, Some("NO_SOCKET")),
                ev("consume_skb")
            ]),
            Fate::Dropped {
                reason: "NO_SOCKET".into(),
                func: "kfree_skb_reason".into()
            }
        );
        // Forwarded: received, then transmitted on another device.
        let mut tx2 = tx.clone();
        tx2.ifname = Some("eth1".into());
        assert_eq!(
            fate_of(&[tx, ev("netif_receive_skb"), tx2]),
            Fate::Transmitted {
                iface: Some("eth1".into())
            }
        );
        assert_eq!(fate_of(&[ev("ip_rcv")]), Fate::InFlight);
    }

    #[test]
    fn a_packet_taken_by_a_socket_is_not_sent_again() {
        let copy = tp("skb_copy_datagram_iovec");
        assert!(!same_packet(Life::Live, &copy, &tp("net_dev_queue")));
        assert!(!same_packet(Life::Live, &copy, &tp("netif_receive_skb")));
        assert!(same_packet(Life::Live, &copy, &tp("consume_skb")));
        // Forwarding: received, then queued for transmit in the same netns at once, is one packet.
        let at = |mut e: Event, netns: u32, t: u64| {
            e.netns = netns;
            e.ktime_ns = t;
            e
        };
        let rx = at(tp("netif_receive_skb"), 7, 1_000);
        assert!(same_packet(
            Life::Live,
            &rx,
            &at(tp("net_dev_queue"), 7, 1_020)
        ));
        // Queued in another netns, later, or through local output: a new packet (the delivered one was freed
        // where no event said so).
        assert!(!same_packet(
            Life::Live,
            &rx,
            &at(tp("net_dev_queue"), 8, 1_020)
        ));
        assert!(!same_packet(
            Life::Live,
            &rx,
            &at(tp("net_dev_queue"), 7, 5_000_000)
        ));
        assert!(!same_packet(
            Life::Live,
            &rx,
            &at(ev("__ip_local_out"), 7, 1_020)
        ));
    }

    #[test]
    fn roles_follow_the_rules() {
        let tp_free = roles("kfree_skb", FuncKind::Tracepoint);
        assert!(tp_free.drop && tp_free.frees && !tp_free.starts_release);
        let kp_free = roles("kfree_skb_reason", FuncKind::Kprobe);
        assert!(kp_free.drop && !kp_free.frees && kp_free.starts_release && kp_free.release_step);
        assert!(roles("kfree_skbmem", FuncKind::Kprobe).frees);
        assert!(roles("dev_kfree_skb_any_reason", FuncKind::Kprobe).reasoned_free);
        let q = roles("net_dev_queue", FuncKind::Tracepoint);
        assert!(q.starts_tx && !q.local_out && !q.handoff);
        assert!(roles("__ip_local_out", FuncKind::Kprobe).local_out);
        assert!(roles("net_dev_start_xmit", FuncKind::Tracepoint).handoff);
        assert!(roles("skb_copy_datagram_iovec", FuncKind::Tracepoint).socket);
        let rx = roles("netif_receive_skb", FuncKind::Tracepoint);
        assert!(rx.starts_rx && rx.receive);
        assert_eq!(roles("ip_rcv", FuncKind::Kprobe), Roles::default());
        assert!(is_consumed_reason("CONSUMED") && !is_consumed_reason("NO_SOCKET"));
    }

    #[test]
    fn packet_boundaries() {
        assert!(frees_skb(&ev("kfree_skbmem")));
        assert!(frees_skb(&tp("kfree_skb")));
        assert!(frees_skb(&tp("consume_skb")));
        assert!(!frees_skb(&ev("kfree_skb"))); // kprobe: release helpers may follow
        assert!(starts_release(&ev("kfree_skb_reason")));
        assert!(starts_release(&ev("consume_skb")));
        assert!(!starts_release(&tp("consume_skb")));
        assert!(is_release_step("skb_release_data"));
        assert!(is_release_step("kfree_skbmem"));
        assert!(is_release_step("sock_wfree"));
        assert!(!is_release_step("ip_rcv"));
        assert!(
            is_handoff("net_dev_start_xmit")
                && is_handoff("veth_xmit")
                && !is_handoff("net_dev_queue")
        );
        assert!(
            starts_tx_path("net_dev_queue")
                && starts_tx_path("__ip_local_out")
                && !starts_tx_path("ip_rcv")
        );
        assert!(starts_rx_path("netif_rx_entry") && !starts_rx_path("ip_rcv"));
        assert!(makes_copy("skb_clone") && makes_copy("pskb_copy") && !makes_copy("skb_push"));
    }
}
