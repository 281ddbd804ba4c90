//! What happened to a packet, decided from the names of the kernel functions and tracepoints it passed.
//!
//! All the name rules live here so they can be read, tested and extended in one place. They cover both backends:
//! kprobes see function names (`kfree_skb_reason`, `dev_hard_start_xmit`), the tracepoint backend sees tracepoint
//! names (`kfree_skb`, `net_dev_xmit`, `consume_skb`).

use event::Event;

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
        iface: Option<String>,
    },
    Delivered(Delivery),
    Dropped {
        /// Reason name (`NO_SOCKET`), the number when the name is unknown, or `unknown` when none was recorded.
        reason: String,
        func: String,
    },
}

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
    Drop { reason: String },
    Consume,
    Socket,
    Transmit,
    Receive,
    Other,
}

/// Classifies one event.
pub fn classify(ev: &Event) -> Step {
    let f = ev.func.as_str();
    if let Some(r) = &ev.drop_reason {
        let name = r.name.as_deref();
        if name.is_some_and(|n| CONSUMED_REASONS.contains(&n)) {
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
pub fn reason_text(r: &event::DropReason) -> String {
    match &r.name {
        Some(n) => n.clone(),
        None => r.code.to_string(),
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
    pub fn fate(&self) -> &Fate {
        &self.fate
    }

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

/// Whether the skb behind this event is freed by it, so the next event at the same address is a new packet.
pub fn frees_skb(ev: &Event) -> bool {
    match ev.func_kind {
        // The skb:kfree_skb and skb:consume_skb tracepoints fire only when the last reference goes.
        event::FuncKind::Tracepoint => matches!(ev.func.as_str(), "kfree_skb" | "consume_skb"),
        event::FuncKind::Kprobe => ev.func == "kfree_skbmem",
        // A traced BPF program never frees the skb itself; its verdict makes the kernel do it (seen separately).
        event::FuncKind::Tc | event::FuncKind::Xdp => false,
    }
}

/// Whether this kprobe'd function starts the release of an skb (it may still be followed by release helpers such as
/// `skb_release_data` and `kfree_skbmem` on the same address).
pub fn starts_release(ev: &Event) -> bool {
    ev.func_kind == event::FuncKind::Kprobe
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
    use event::{DropReason, FuncKind};

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
