//! Events grouped into packets: one path per skb from its first event until it is freed or its address is taken by
//! another packet, with the rules of [`event::fate`] (the TUI groups its packets with the same rules). Bounded: past
//! a cap the least recently seen path is evicted.

use event::Event;
use event::fate::{self, Life, Step};
use std::collections::{BTreeMap, HashMap};

/// What the grouping knows of one packet, and the caller's data for it.
struct Path<T> {
    /// Position in the recency order.
    seq: u64,
    life: Life,
    dropped: bool,
    /// The fields of the latest event that decide where the packet ends (function, time, device).
    last: Event,
    data: T,
}

/// A packet that left the table.
#[derive(Debug, PartialEq, Eq)]
pub enum Gone<T> {
    /// It ended: freed, or its address was taken by a new packet (its free was not seen).
    Ended(T),
    /// It was evicted to make room: how it ended is unknown.
    Evicted(T),
}

/// What an event was to its packet.
pub struct Seen<'a, T> {
    /// The packet's data.
    pub data: &'a mut T,
    /// This event is the packet's first drop: the reason (`NO_SOCKET`, the number, or `unknown`).
    pub drop: Option<String>,
    /// This event is the kernel's free of the skb an XDP program dropped just before (at another address): part of
    /// that drop, which the verdict counted.
    pub xdp_free: bool,
    /// This event freed the skb: call [`Paths::freed`] once done with the data.
    pub frees: bool,
    /// This event began the packet.
    pub new: bool,
}

/// skb address → the packet using it now.
pub struct Paths<T> {
    cap: usize,
    by_skb: HashMap<u64, Path<T>>,
    /// seq → skb: the recency order (oldest first).
    order: BTreeMap<u64, u64>,
    seq: u64,
    /// The kernel's frees of skbs XDP programs dropped: the verdict counted those packets already.
    xdp: fate::XdpFollowups,
}

impl<T: Default> Paths<T> {
    /// At most `cap` packets at once (at least one).
    pub fn new(cap: usize) -> Paths<T> {
        Paths {
            cap: cap.max(1),
            by_skb: HashMap::new(),
            order: BTreeMap::new(),
            seq: 0,
            xdp: fate::XdpFollowups::default(),
        }
    }

    /// Files `ev` under its packet. A packet that had the address before and ended, or one evicted to make room,
    /// is pushed to `gone`.
    pub fn observe(&mut self, ev: &Event, gone: &mut Vec<Gone<T>>) -> Seen<'_, T> {
        self.seq += 1;
        let seq = self.seq;
        let same = self
            .by_skb
            .get(&ev.skb)
            .map(|p| fate::same_packet(p.life, &p.last, ev));
        match same {
            Some(true) => {
                let p = self.by_skb.get_mut(&ev.skb).expect("just found");
                self.order.remove(&p.seq);
            }
            Some(false) => {
                let old = self.by_skb.remove(&ev.skb).expect("just found");
                self.order.remove(&old.seq);
                gone.push(Gone::Ended(old.data));
            }
            None => {
                while self.by_skb.len() >= self.cap {
                    let Some((_, skb)) = self.order.pop_first() else {
                        break;
                    };
                    if let Some(old) = self.by_skb.remove(&skb) {
                        gone.push(match old.life {
                            Life::Freed => Gone::Ended(old.data),
                            _ => Gone::Evicted(old.data),
                        });
                    }
                }
            }
        }
        self.order.insert(seq, ev.skb);
        let new = same != Some(true);
        let p = self.by_skb.entry(ev.skb).or_insert_with(|| Path {
            seq,
            life: Life::Live,
            dropped: false,
            last: Event::default(),
            data: T::default(),
        });
        p.seq = seq;
        p.life = p.life.after(ev);
        set_boundary_fields(&mut p.last, ev);
        let (drop, xdp_free) = match fate::classify(ev) {
            Step::Drop { reason } if !p.dropped => {
                p.dropped = true;
                match self.xdp.is_followup(ev, &reason) {
                    true => (None, true),
                    false => (Some(reason), false),
                }
            }
            _ => (None, false),
        };
        Seen {
            data: &mut p.data,
            drop,
            xdp_free,
            frees: p.life == Life::Freed,
            new,
        }
    }

    /// Takes out the packet at `skb` after the event that freed it.
    pub fn freed(&mut self, skb: u64) -> Option<T> {
        let p = self.by_skb.remove(&skb)?;
        self.order.remove(&p.seq);
        Some(p.data)
    }

    /// Takes out every packet (the run ended).
    pub fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.order.clear();
        self.by_skb.drain().map(|(_, p)| p.data)
    }

    /// Packets held now.
    pub fn len(&self) -> usize {
        self.by_skb.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.by_skb.is_empty()
    }
}

/// Copies what [`fate::same_packet`] reads of the previous event, without the rest (process, stack,
/// annotations), reusing the strings' memory: this runs for every event.
fn set_boundary_fields(last: &mut Event, ev: &Event) {
    last.func.clone_from(&ev.func);
    last.ifname.clone_from(&ev.ifname);
    last.func_kind = ev.func_kind;
    last.ktime_ns = ev.ktime_ns;
    last.netns = ev.netns;
    last.ifindex = ev.ifindex;
}

#[cfg(test)]
mod tests {
    use super::*;
    use event::{DropReason, FuncKind, Tuple, Verdict};

    fn tp(skb: u64, at: u64, func: &str) -> Event {
        Event {
            skb,
            ktime_ns: at,
            func: func.into(),
            func_kind: FuncKind::Tracepoint,
            ifindex: 2,
            ..Default::default()
        }
    }

    fn dropped(mut e: Event, code: u32, name: &str) -> Event {
        e.drop_reason = Some(DropReason {
            code,
            name: Some(name.into()),
        });
        e
    }

    /// Counts the events of each packet.
    fn run(paths: &mut Paths<u32>, evs: &[Event]) -> (Vec<Gone<u32>>, Vec<String>) {
        let (mut gone, mut drops) = (Vec::new(), Vec::new());
        for e in evs {
            let s = paths.observe(e, &mut gone);
            *s.data += 1;
            drops.extend(s.drop);
            if s.frees {
                gone.extend(paths.freed(e.skb).map(Gone::Ended));
            }
        }
        (gone, drops)
    }

    #[test]
    fn a_drop_once_per_packet_and_the_free_ends_it() {
        let mut p = Paths::new(16);
        let (gone, drops) = run(
            &mut p,
            &[
                tp(1, 0, "netif_receive_skb"),
                tp(2, 1, "netif_receive_skb"),
                dropped(tp(1, 2, "kfree_skb"), 3, "NO_SOCKET"),
                tp(2, 3, "consume_skb"),
            ],
        );
        assert_eq!(drops, ["NO_SOCKET"]);
        assert_eq!(gone, [Gone::Ended(2), Gone::Ended(2)]);
        assert!(p.is_empty());
    }

    #[test]
    fn kprobe_release_helpers_stay_with_the_dropped_packet() {
        let k = |at, f: &str| Event {
            func_kind: FuncKind::Kprobe,
            ..tp(7, at, f)
        };
        let mut p = Paths::new(16);
        let (gone, drops) = run(
            &mut p,
            &[
                k(0, "ip_rcv"),
                dropped(k(1, "kfree_skb_reason"), 3, "NO_SOCKET"),
                // A second reasoned free of the same packet is no second drop.
                dropped(k(2, "sk_skb_reason_drop"), 3, "NO_SOCKET"),
                k(3, "skb_release_data"),
                k(4, "kfree_skbmem"),
                // The address is reused by a new packet.
                k(5, "ip_rcv"),
            ],
        );
        assert_eq!(drops, ["NO_SOCKET"]);
        assert_eq!(gone, [Gone::Ended(5)]);
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn reuse_after_an_unseen_free_ends_the_old_packet() {
        let mut p = Paths::new(16);
        let (gone, _) = run(
            &mut p,
            &[
                tp(9, 0, "net_dev_queue"),
                tp(9, 1, "net_dev_start_xmit"),
                // Queued again on the same device: its free happened where no event was reported.
                tp(9, 50, "net_dev_queue"),
            ],
        );
        assert_eq!(gone, [Gone::Ended(2)]);
    }

    #[test]
    fn least_recently_seen_is_evicted_at_the_cap() {
        let mut p = Paths::new(2);
        let (gone, _) = run(
            &mut p,
            &[
                tp(1, 0, "netif_receive_skb"),
                tp(2, 1, "netif_receive_skb"),
                tp(1, 2, "ip_rcv"),
                tp(3, 3, "netif_receive_skb"),
            ],
        );
        assert_eq!(
            gone,
            [Gone::Evicted(1)],
            "skb 2 was the least recently seen"
        );
        let mut left: Vec<u32> = p.drain().collect();
        left.sort();
        assert_eq!(left, [1, 2]);
        assert!(p.is_empty());
    }

    /// A traced program's event: entry, or exit with `verdict`.
    fn prog(skb: u64, at: u64, kind: FuncKind, name: &str, verdict: Option<Verdict>) -> Event {
        Event {
            func_kind: kind,
            verdict,
            tuple: Some(udp_7001()),
            ..tp(skb, at, name)
        }
    }

    fn udp_7001() -> Tuple {
        Tuple::new([10, 0, 0, 1], 41001, [10, 0, 0, 2], 7001, 17)
    }

    fn kp(skb: u64, at: u64, f: &str) -> Event {
        Event {
            func_kind: FuncKind::Kprobe,
            tuple: Some(udp_7001()),
            ..tp(skb, at, f)
        }
    }

    #[test]
    fn a_shot_verdict_is_the_drop_and_the_kernels_tc_free_is_not_a_second() {
        let mut p = Paths::new(16);
        let (_, drops) = run(
            &mut p,
            &[
                kp(1, 0, "__netif_receive_skb_core"),
                prog(1, 1, FuncKind::Tc, "cil_from_container", None),
                prog(
                    1,
                    2,
                    FuncKind::Tc,
                    "cil_from_container",
                    Some(Verdict::tc(2)),
                ),
                dropped(kp(1, 3, "kfree_skb_reason"), 68, "TC_INGRESS"),
                kp(1, 4, "kfree_skbmem"),
            ],
        );
        assert_eq!(drops, ["TC_ACT_SHOT by cil_from_container"]);
        assert!(p.is_empty(), "the free ended the packet");
    }

    #[test]
    fn an_xdp_drop_is_counted_once_though_the_kernel_frees_the_skb_elsewhere() {
        let mut p = Paths::new(16);
        let xdp = |at, v| Event {
            cpu: 1,
            ..prog(0xbeef, at, FuncKind::Xdp, "xdp_fw", v)
        };
        let on1 = |e: Event| Event { cpu: 1, ..e };
        let (_, drops) = run(
            &mut p,
            &[
                on1(kp(1, 0, "veth_xmit")),
                xdp(10, None),
                xdp(20, Some(Verdict::xdp(1))),
                // veth frees the skb the program ran on with kfree_skb (NOT_SPECIFIED), at the skb's address.
                on1(dropped(kp(1, 30, "kfree_skb_reason"), 2, "NOT_SPECIFIED")),
                // Another packet of the same flow dropped for a reason of its own is a drop.
                on1(dropped(kp(2, 40, "kfree_skb_reason"), 2, "NOT_SPECIFIED")),
                on1(dropped(kp(3, 50, "kfree_skb_reason"), 3, "NO_SOCKET")),
            ],
        );
        assert_eq!(drops, ["XDP_DROP by xdp_fw", "NOT_SPECIFIED", "NO_SOCKET"]);
    }
}
