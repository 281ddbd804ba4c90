//! Recorded-style event streams used by the tests, the golden screens in docs/tui.md and the flood benchmark.
//! They follow real kernel paths (6.x names) so the rules in `fate` are exercised as on a live system.

use event::{Annotation, DropReason, Event, FuncKind, Tuple};
use std::net::IpAddr;

/// ktime of the first ping event.
pub const T0_NS: u64 = 5_000_000_000;
/// 2026-11-23 20:31:05 UTC, the wall clock at `T0_NS`.
pub const WALL0_NS: u64 = 1_795_465_865_000_000_000;

pub const HOST_NS: u32 = 4026531840;
pub const PEER_NS: u32 = 4026532301;
pub const POD_NS: u32 = 4026532400;

pub const PING_REQ_SKB: u64 = 0xffff_8880_04a1_b200;
pub const PING_REP_SKB: u64 = 0xffff_8880_04a1_c600;
pub const NAT_SKB: u64 = 0xffff_8880_0c3d_4e00;
pub const CLONE_SKB: u64 = 0xffff_8880_0c3d_5100;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("fixture address")
}

pub fn tuple(saddr: &str, sport: u16, daddr: &str, dport: u16, proto: u8) -> Tuple {
    Tuple {
        saddr: ip(saddr),
        daddr: ip(daddr),
        sport,
        dport,
        proto,
        tcp_flags: 0,
    }
}

/// Builder for one event; `at_us` is relative to `T0_NS`.
#[derive(Clone)]
pub struct Ev(pub Event);

impl Ev {
    pub fn new(skb: u64, at_us: u64, func: &str) -> Self {
        let ktime = T0_NS + at_us * 1000;
        Ev(Event {
            skb,
            cpu: 1,
            pid: 4242,
            process: "/usr/bin/ping:4242".into(),
            ktime_ns: ktime,
            wall_ns: WALL0_NS + (ktime - T0_NS),
            netns: HOST_NS,
            mtu: 1500,
            len: 84,
            proto: 0x0800,
            func: func.into(),
            ..Default::default()
        })
    }
    pub fn tp(mut self) -> Self {
        self.0.func_kind = FuncKind::Tracepoint;
        self
    }
    pub fn cpu(mut self, cpu: u32) -> Self {
        self.0.cpu = cpu;
        self
    }
    pub fn process(mut self, p: &str, pid: u32) -> Self {
        self.0.process = p.into();
        self.0.pid = pid;
        self
    }
    pub fn ns(mut self, netns: u32) -> Self {
        self.0.netns = netns;
        self
    }
    pub fn dev(mut self, name: &str, ifindex: u32) -> Self {
        self.0.ifname = (!name.is_empty()).then(|| name.into());
        self.0.ifindex = ifindex;
        self
    }
    pub fn len(mut self, len: u32) -> Self {
        self.0.len = len;
        self
    }
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.0.mtu = mtu;
        self
    }
    pub fn mark(mut self, mark: u32) -> Self {
        self.0.mark = mark;
        self
    }
    pub fn proto(mut self, p: u16) -> Self {
        self.0.proto = p;
        self
    }
    pub fn tuple(mut self, t: &Tuple) -> Self {
        self.0.tuple = Some(*t);
        self
    }
    pub fn reason(mut self, code: u32, name: &str) -> Self {
        self.0.drop_reason = Some(DropReason {
            code,
            name: Some(name.into()),
        });
        self
    }
    pub fn stack(mut self, frames: &[&str]) -> Self {
        self.0.stack = frames.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn cilium(mut self, lines: &[&str]) -> Self {
        self.0.annotations.push(Annotation {
            name: "cilium".into(),
            lines: lines.iter().map(|s| s.to_string()).collect(),
            json: serde_json_lines(lines),
        });
        self
    }
}

fn serde_json_lines(lines: &[&str]) -> serde_json::Value {
    serde_json::Value::Array(
        lines
            .iter()
            .map(|s| serde_json::Value::String(s.to_string()))
            .collect(),
    )
}

fn sorted(mut v: Vec<Ev>) -> Vec<Event> {
    v.sort_by_key(|e| e.0.ktime_ns);
    v.into_iter().map(|e| e.0).collect()
}

/// `ping -c1 10.0.0.2` from the host over veth0 into a netns (eth0 there): the echo request is answered by the
/// peer's ICMP stack and consumed, the reply crosses back and is queued to the ping socket. kprobe names.
pub fn ping() -> Vec<Event> {
    let rq = tuple("10.0.0.1", 0, "10.0.0.2", 0, 1);
    let rp = tuple("10.0.0.2", 0, "10.0.0.1", 0, 1);
    let a = |t, f| Ev::new(PING_REQ_SKB, t, f).tuple(&rq);
    let b = |t, f| {
        Ev::new(PING_REP_SKB, t, f)
            .tuple(&rp)
            .ns(PEER_NS)
            .dev("eth0", 2)
    };
    sorted(vec![
        a(0, "__ip_local_out").proto(0),
        a(2, "ip_output").proto(0).dev("veth0", 5),
        a(3, "nf_hook_slow").dev("veth0", 5),
        a(5, "ip_finish_output").dev("veth0", 5),
        a(6, "ip_finish_output2").dev("veth0", 5),
        a(8, "__dev_queue_xmit").dev("veth0", 5).len(98),
        a(10, "dev_hard_start_xmit").dev("veth0", 5).len(98),
        a(11, "veth_xmit").dev("veth0", 5).len(98),
        a(14, "__netif_rx").ns(PEER_NS).dev("eth0", 2),
        a(30, "__netif_receive_skb").ns(PEER_NS).dev("eth0", 2),
        a(31, "__netif_receive_skb_one_core")
            .ns(PEER_NS)
            .dev("eth0", 2),
        a(32, "ip_rcv").ns(PEER_NS).dev("eth0", 2),
        a(33, "ip_rcv_core").ns(PEER_NS).dev("eth0", 2),
        a(35, "ip_rcv_finish").ns(PEER_NS).dev("eth0", 2),
        a(36, "ip_local_deliver").ns(PEER_NS).dev("eth0", 2),
        a(37, "ip_local_deliver_finish").ns(PEER_NS).dev("eth0", 2),
        a(38, "ip_protocol_deliver_rcu").ns(PEER_NS).dev("eth0", 2),
        a(39, "icmp_rcv").ns(PEER_NS).dev("eth0", 2).len(64),
        a(41, "icmp_echo")
            .ns(PEER_NS)
            .dev("eth0", 2)
            .len(56)
            .mtu(65536),
        a(60, "consume_skb")
            .ns(PEER_NS)
            .dev("eth0", 2)
            .len(56)
            .mtu(65536),
        a(61, "skb_release_head_state")
            .ns(PEER_NS)
            .dev("eth0", 2)
            .len(56)
            .mtu(65536),
        a(62, "skb_release_data")
            .ns(PEER_NS)
            .dev("eth0", 2)
            .len(56)
            .mtu(65536),
        a(63, "kfree_skbmem")
            .ns(PEER_NS)
            .dev("eth0", 2)
            .len(56)
            .mtu(65536),
        b(43, "__ip_local_out").proto(0).dev("", 0),
        b(44, "ip_output").proto(0),
        b(45, "ip_finish_output2"),
        b(47, "__dev_queue_xmit").len(98),
        b(48, "dev_hard_start_xmit").len(98),
        b(49, "veth_xmit").len(98),
        b(52, "__netif_rx").ns(HOST_NS).dev("veth0", 5),
        b(80, "__netif_receive_skb").ns(HOST_NS).dev("veth0", 5),
        b(81, "ip_rcv").ns(HOST_NS).dev("veth0", 5),
        b(83, "ip_local_deliver").ns(HOST_NS).dev("veth0", 5),
        b(85, "icmp_rcv").ns(HOST_NS).dev("veth0", 5).len(64),
        b(86, "ping_rcv").ns(HOST_NS).dev("veth0", 5).len(64),
        b(87, "ping_queue_rcv_skb")
            .ns(HOST_NS)
            .dev("veth0", 5)
            .len(64),
        b(120, "skb_copy_datagram_iter")
            .ns(HOST_NS)
            .dev("veth0", 5)
            .len(64),
        b(125, "consume_skb").ns(HOST_NS).dev("veth0", 5).len(64),
        b(126, "skb_release_data")
            .ns(HOST_NS)
            .dev("veth0", 5)
            .len(64),
        b(127, "kfree_skbmem").ns(HOST_NS).dev("veth0", 5).len(64),
    ])
}

/// A UDP datagram to a closed port in the peer netns, seen by the tracepoint backend: dropped with NO_SOCKET. It
/// reuses the memory of the ping request (freed before), which must start a new packet.
pub fn udp_no_socket() -> Vec<Event> {
    let t = tuple("10.0.0.1", 40000, "10.0.0.2", 9999, 17);
    let u = |at: u64, f| {
        Ev::new(PING_REQ_SKB, 1_000_000 + at, f)
            .tp()
            .tuple(&t)
            .process("/usr/bin/socat:4300", 4300)
            .len(33)
    };
    sorted(vec![
        u(0, "net_dev_queue").dev("veth0", 5).len(47),
        u(1, "net_dev_start_xmit").dev("veth0", 5).len(47),
        u(2, "net_dev_xmit").dev("veth0", 5).len(47),
        u(4, "netif_rx").ns(PEER_NS).dev("eth0", 2),
        u(21, "netif_receive_skb").ns(PEER_NS).dev("eth0", 2),
        u(26, "kfree_skb")
            .ns(PEER_NS)
            .dev("eth0", 2)
            .len(25)
            .reason(3, "NO_SOCKET")
            .stack(&[
                "kfree_skb_reason+0x1a",
                "__udp4_lib_rcv+0x8b2",
                "ip_protocol_deliver_rcu+0x3a",
                "ip_local_deliver_finish+0x77",
                "__netif_receive_skb_one_core+0x89",
                "process_backlog+0x8a",
                "__napi_poll+0x2b",
                "net_rx_action+0x2b6",
            ]),
    ])
}

/// A pod's DNS query to a ClusterIP, translated by Cilium's tc program to a backend (DNAT, mark set), forwarded out
/// of the host; `dev_queue_xmit_nit` clones it for a packet socket (tcpdump). kprobe names, `--filter-track-skb`.
pub fn nat_clone() -> Vec<Event> {
    let svc = tuple("10.244.0.7", 51000, "10.96.0.10", 53, 17);
    let be = tuple("10.244.0.7", 51000, "10.244.1.5", 53, 17);
    let base: u64 = 2_000_000;
    let p = |at: u64, f| {
        Ev::new(NAT_SKB, base + at, f)
            .cpu(0)
            .process("/usr/bin/dig:777", 777)
            .len(70)
            .tuple(&be)
    };
    let clone = |at: u64, f| {
        Ev::new(CLONE_SKB, base + at, f)
            .cpu(0)
            .process("/usr/bin/dig:777", 777)
            .tuple(&be)
            .len(84)
            .mark(0xa00)
    };
    sorted(vec![
        p(0, "__ip_local_out")
            .tuple(&svc)
            .ns(POD_NS)
            .proto(0)
            .len(56),
        p(2, "ip_output")
            .tuple(&svc)
            .ns(POD_NS)
            .dev("eth0", 11)
            .len(56),
        p(4, "dev_hard_start_xmit")
            .tuple(&svc)
            .ns(POD_NS)
            .dev("eth0", 11),
        p(5, "veth_xmit").tuple(&svc).ns(POD_NS).dev("eth0", 11),
        p(8, "__netif_rx").tuple(&svc).dev("lxc12ab", 12).len(56),
        p(20, "__netif_receive_skb_core")
            .tuple(&svc)
            .dev("lxc12ab", 12)
            .len(56),
        p(21, "tcf_classify").tuple(&svc).dev("lxc12ab", 12).len(56),
        p(22, "cil_from_container(tc)")
            .tuple(&svc)
            .dev("lxc12ab", 12)
            .len(56)
            .cilium(&[
                "endpoint 1234 default/client-7d9f identity 5678",
                "lb4 service 10.96.0.10:53/udp id 7 -> backend 10.244.1.5:53",
                "ct4 new entry 10.244.0.7:51000 -> 10.244.1.5:53 udp",
            ]),
        p(26, "ip_rcv").dev("lxc12ab", 12).len(56).mark(0xa00),
        p(28, "ip_forward").dev("lxc12ab", 12).len(56).mark(0xa00),
        p(30, "ip_output").dev("eth0", 2).len(56).mark(0xa00),
        p(32, "__dev_queue_xmit").dev("eth0", 2).mark(0xa00).len(84),
        p(33, "dev_queue_xmit_nit")
            .dev("eth0", 2)
            .mark(0xa00)
            .len(84),
        p(34, "skb_clone").dev("eth0", 2).mark(0xa00).len(84),
        clone(35, "packet_rcv").dev("eth0", 2),
        clone(36, "skb_push").dev("eth0", 2),
        p(38, "dev_hard_start_xmit")
            .dev("eth0", 2)
            .mark(0xa00)
            .len(84),
        p(39, "virtnet_start_xmit")
            .dev("eth0", 2)
            .mark(0xa00)
            .len(84),
        clone(210, "skb_copy_datagram_iter")
            .dev("eth0", 2)
            .process("/usr/bin/tcpdump:900", 900),
        clone(212, "consume_skb")
            .dev("eth0", 2)
            .process("/usr/bin/tcpdump:900", 900),
        clone(213, "kfree_skbmem")
            .dev("eth0", 2)
            .process("/usr/bin/tcpdump:900", 900),
        p(150, "napi_consume_skb")
            .dev("eth0", 2)
            .mark(0xa00)
            .len(84),
        p(151, "skb_release_data")
            .dev("eth0", 2)
            .mark(0xa00)
            .len(84),
        p(152, "kfree_skbmem").dev("eth0", 2).mark(0xa00).len(84),
    ])
}
