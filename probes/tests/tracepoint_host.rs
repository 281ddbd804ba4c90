//! The tracepoint backend on the host's real kernel: real packets through a veth pair between two network
//! namespaces, read back from the ring buffer and checked field by field. Needs root.
mod common;

use common::*;
use probes::event::{EV_HAS_CALLER, EV_HAS_REASON, EV_HAS_STACK, EV_HAS_TUPLE, EV_IPV6};
use probes::filter_check::FilterTester;
use probes::{ArgIndex, Backend, Config, FilterCode, RawEvent, Record, Tracer};
use std::net::Ipv4Addr;
use std::time::Duration;
use testkit::btf::Btf;
use testkit::{NetnsPair, serial, sh};

/// Kernel symbols by address (root sees the real addresses).
fn kallsyms() -> std::collections::BTreeMap<u64, String> {
    std::fs::read_to_string("/proc/kallsyms")
        .expect("read /proc/kallsyms")
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let a = u64::from_str_radix(it.next()?, 16).ok()?;
            it.next()?;
            Some((a, it.next()?.to_string()))
        })
        .filter(|(a, _)| *a != 0)
        .collect()
}

fn comm(e: &RawEvent) -> String {
    let end = e.comm.iter().position(|&c| c == 0).unwrap_or(16);
    String::from_utf8_lossy(&e.comm[..end]).into_owned()
}

#[test]
#[ignore = "needs root: BPF tracepoints, netns (tests/run.sh runs it)"]
fn tracepoints_see_ping_and_udp_drop() {
    let _s = serial();
    let btf = Btf::vmlinux();
    let no_socket = btf
        .enum_value("skb_drop_reason", "SKB_DROP_REASON_NO_SOCKET")
        .expect("SKB_DROP_REASON_NO_SOCKET in the kernel's BTF");
    let all = skb_tracepoints(&btf);
    assert!(
        all.len() >= 10,
        "skb tracepoints found in BTF: {}",
        all.len()
    );
    let kfree = all
        .iter()
        .find(|t| t.name == "kfree_skb")
        .expect("kfree_skb tracepoint");
    assert_eq!(
        (kfree.skb_arg, kfree.reason_arg),
        (ArgIndex(0), Some(ArgIndex(2)))
    );

    let pair = NetnsPair::new("t", 201);
    let (ns_a, ns_b) = (pair.inode_a, pair.inode_b);
    let (if_a, if_b) = (pair.ifindex_a, pair.ifindex_b);
    // every skb tracepoint of the kernel, as pwru would attach them
    let cfg = Config {
        backend: Backend::Tracepoint,
        tracepoints: all.clone(),
        ..Config::default()
    };
    let (t, mut ring, cfg) = load_attach(cfg);

    pair.exec(&pair.a, &format!("ping -c 3 -i 0.2 -W 2 {}", pair.ip_b));
    pair.exec(
        &pair.a,
        &format!("bash -c 'echo pwru > /dev/udp/{}/9'", pair.ip_b),
    );
    // a broadcast echo request: b receives it as PACKET_BROADCAST (and ignores it)
    let _ = sh(&format!(
        "ip netns exec {} ping -b -c 1 -W 1 10.201.0.255 >/dev/null 2>&1; true",
        pair.a
    ));
    let evs = drain(&mut ring, Duration::from_millis(500));
    let (a, b): (Ipv4Addr, Ipv4Addr) = (pair.ip_a.parse().unwrap(), pair.ip_b.parse().unwrap());
    eprintln!("{} events", evs.len());

    let ours: Vec<&Record> = evs.iter().filter(|e| ipv4(e) == Some((a, b))).collect();
    // receive side: netif_receive_skb in namespace b on its veth
    let rx: Vec<_> = ours
        .iter()
        .filter(|e| name(&cfg, e) == "netif_receive_skb" && e.l4_proto == 1)
        .collect();
    assert!(
        rx.len() >= 3,
        "netif_receive_skb ICMP events a->b: {}",
        rx.len()
    );
    for e in &rx {
        assert_eq!(e.netns, ns_b, "netns of the receiving skb");
        assert_eq!(e.ifindex, if_b, "ifindex of the receiving veth");
        assert_eq!(u16::from_be(e.protocol), 0x0800);
        assert_eq!(e.mtu, 1500);
        assert_eq!(e.len, 84, "IP length of a default ping (20 + 8 + 56)");
        assert_eq!(e.pkt_type, 0, "PACKET_HOST");
        assert_eq!((e.sport, e.dport), (0, 0), "ICMP has no ports");
        assert_ne!(e.skb, 0);
        assert_ne!(e.ts_ns, 0);
    }
    // send side: net_dev_queue / net_dev_start_xmit in namespace a, from the ping process
    let tx: Vec<_> = ours
        .iter()
        .filter(|e| {
            matches!(name(&cfg, e), "net_dev_queue" | "net_dev_start_xmit") && e.l4_proto == 1
        })
        .collect();
    assert!(tx.len() >= 3, "transmit ICMP events a->b: {}", tx.len());
    for e in &tx {
        assert_eq!(e.netns, ns_a, "netns of the sending skb");
        assert_eq!(e.ifindex, if_a, "ifindex of the sending veth");
        assert_eq!(
            e.len, 98,
            "Ethernet length of a default ping at the device (14 + 84)"
        );
    }
    assert!(
        tx.iter().any(|e| comm(e) == "ping"),
        "a transmit event in the ping process context"
    );
    let ping_pid: Vec<u32> = tx
        .iter()
        .filter(|e| comm(e) == "ping")
        .map(|e| e.pid)
        .collect();
    assert!(ping_pid.iter().all(|&p| p > 1));
    let bcast = Ipv4Addr::new(10, 201, 0, 255);
    let rx_bcast: Vec<_> = evs
        .iter()
        .filter(|e| name(&cfg, e) == "netif_receive_skb" && ipv4(e) == Some((a, bcast)))
        .collect();
    // b receives it as PACKET_BROADCAST (1); a loops its own broadcast back as PACKET_LOOPBACK (5)
    let kinds: Vec<(u32, u8)> = rx_bcast.iter().map(|e| (e.netns, e.pkt_type)).collect();
    assert!(
        kinds.contains(&(ns_b, 1)),
        "PACKET_BROADCAST in b: {kinds:?}"
    );
    assert!(
        kinds.iter().all(|k| *k == (ns_b, 1) || *k == (ns_a, 5)),
        "pkt_type per netns: {kinds:?}"
    );
    // the replies come back b->a
    assert!(
        evs.iter()
            .any(|e| ipv4(e) == Some((b, a)) && e.l4_proto == 1 && e.netns == ns_a)
    );

    // UDP to a closed port: dropped in b with reason NO_SOCKET, seen by skb:kfree_skb
    let drops: Vec<_> = evs
        .iter()
        .filter(|e| name(&cfg, e) == "kfree_skb" && ipv4(e) == Some((a, b)) && e.l4_proto == 17)
        .collect();
    assert!(
        !drops.is_empty(),
        "kfree_skb event for the UDP datagram to a closed port"
    );
    let syms = kallsyms();
    for e in &drops {
        assert!(
            e.flags & EV_HAS_CALLER != 0,
            "skb:kfree_skb reports its location as the caller"
        );
        let at = syms
            .range(..=e.caller_ip)
            .next_back()
            .map(|(_, n)| n.as_str())
            .unwrap_or("?");
        assert!(
            at.contains("udp"),
            "dropped in the UDP receive path, not {at}"
        );
        assert!(e.flags & EV_HAS_REASON != 0);
        assert_eq!(
            e.drop_reason, no_socket,
            "drop reason SKB_DROP_REASON_NO_SOCKET ({no_socket})"
        );
        assert_eq!(e.dport, 9);
        assert_ne!(e.sport, 0);
        assert_eq!(e.netns, ns_b);
    }
    // tracepoints other than kfree_skb have no caller
    assert!(
        evs.iter()
            .filter(|e| name(&cfg, e) != "kfree_skb")
            .all(|e| e.flags & EV_HAS_CALLER == 0)
    );
    // events without a drop reason don't claim one
    assert!(
        evs.iter()
            .filter(|e| name(&cfg, e) != "kfree_skb")
            .all(|e| e.flags & EV_HAS_REASON == 0)
    );
    // every event belongs to a tracepoint we attached
    assert!(
        evs.iter()
            .all(|e| (e.probe_id as usize) < cfg.tracepoints.len())
    );

    let (p, l) = (t.produced(), t.lost());
    let more = drain(&mut ring, Duration::from_millis(200)).len();
    assert!(
        (evs.len() + more) as u64 + l >= p,
        "every produced event was delivered or counted lost"
    );
    detach_and_check(t);
}

const TPS: [&str; 5] = [
    "netif_receive_skb",
    "net_dev_queue",
    "net_dev_start_xmit",
    "kfree_skb",
    "consume_skb",
];

#[test]
#[ignore = "needs root: BPF tracepoints, netns (tests/run.sh runs it)"]
fn netns_mark_and_ifindex_filters() {
    let _s = serial();
    let pair = NetnsPair::new("f", 202);
    let (ns_a, ns_b) = (pair.inode_a, pair.inode_b);
    let if_b = pair.ifindex_b;
    let ping = |mark: Option<u32>| {
        let m = mark.map_or(String::new(), |m| format!("-m {m} "));
        pair.exec(&pair.a, &format!("ping {m}-c 2 -i 0.2 -W 2 {}", pair.ip_b));
    };

    // netns: only namespace b
    let cfg = Config {
        tracepoints: tracepoints(&TPS),
        netns: Some(ns_b),
        ..Config::default()
    };
    let (t, mut ring, cfg) = load_attach(cfg);
    ping(None);
    let evs = drain(&mut ring, Duration::from_millis(400));
    assert!(
        evs.iter().any(|e| name(&cfg, e) == "netif_receive_skb"),
        "events in b"
    );
    assert!(
        evs.iter().all(|e| e.netns == ns_b),
        "only namespace b passes the netns filter"
    );
    check_counters(&t, &mut ring, evs.len());
    detach_and_check(t);

    // mark: only packets marked 0x42 (low byte); the unmarked ping must not show
    let cfg = Config {
        tracepoints: tracepoints(&TPS),
        mark: Some((0x42, 0xff)),
        ..Config::default()
    };
    let (t, mut ring, _cfg) = load_attach(cfg);
    ping(None);
    ping(Some(0x1242));
    let evs = drain(&mut ring, Duration::from_millis(400));
    assert!(
        evs.iter().any(|e| e.netns == ns_a && e.l4_proto == 1),
        "marked ICMP from a passes"
    );
    assert!(
        evs.iter().all(|e| e.mark & 0xff == 0x42),
        "only mark 0x..42 passes: {:?}",
        evs.iter().map(|e| e.mark).collect::<Vec<_>>()
    );
    detach_and_check(t);

    // ifindex (with netns, as ifindexes are per namespace): b's veth passes ...
    let cfg = Config {
        tracepoints: tracepoints(&TPS),
        netns: Some(ns_b),
        ifindex: Some(if_b),
        ..Config::default()
    };
    let (t, mut ring, _cfg) = load_attach(cfg);
    ping(None);
    let evs = drain(&mut ring, Duration::from_millis(400));
    assert!(!evs.is_empty() && evs.iter().all(|e| e.ifindex == if_b && e.netns == ns_b));
    detach_and_check(t);
    // ... and b's loopback sees none of the ping
    let cfg = Config {
        tracepoints: tracepoints(&TPS),
        netns: Some(ns_b),
        ifindex: Some(1),
        ..Config::default()
    };
    let (t, mut ring, _cfg) = load_attach(cfg);
    ping(None);
    let evs = drain(&mut ring, Duration::from_millis(400));
    assert!(
        evs.is_empty(),
        "nothing crosses lo in b: {} events",
        evs.len()
    );
    assert_eq!(t.produced(), 0);
    detach_and_check(t);
}

#[test]
#[ignore = "needs root: BPF tracepoints, netns (tests/run.sh runs it)"]
fn full_ring_counts_lost_events() {
    let _s = serial();
    let pair = NetnsPair::new("l", 203);
    let ns_b = pair.inode_b;
    // one page holds about 28 events; 30 pings make well over 100 in b
    let cfg = Config {
        tracepoints: tracepoints(&TPS),
        netns: Some(ns_b),
        ringbuf_bytes: 4096,
        ..Config::default()
    };
    let (t, mut ring, _cfg) = load_attach(cfg);
    pair.exec(&pair.a, &format!("ping -c 30 -i 0.01 -W 2 {}", pair.ip_b));
    std::thread::sleep(Duration::from_millis(200));
    let (p, l, delivered) = check_counters(&t, &mut ring, 0);
    eprintln!("produced {p}, delivered {delivered}, lost {l}");
    assert!(l > 0, "a one-page ring must overflow");
    assert!(delivered > 0);
    detach_and_check(t);
}

/// `icmp` from pwru's own compiler, as `pwru icmp` splices it. (A hand-written one that read only the protocol byte
/// let ARP through whenever the sender's MAC had 0x01 where an IPv4 header has its protocol: see `arp_frame`.)
fn icmp_filter() -> FilterCode {
    let prog = pcap_filter::compile("icmp").expect("compile icmp");
    FilterCode {
        insns: prog.to_bytes(),
        snaplen: prog.snaplen,
    }
}

/// The MAC address [`arp_frame`] and the traced ARP reply carry: its second byte sits at offset 23 of the frame (9
/// behind the Ethernet header), where an IPv4 packet has its protocol, and is 1 (ICMP).
const ICMP_LOOKING_MAC: [u8; 6] = [0x02, 0x01, 0, 0, 0, 0x02];

/// An ARP reply from [`ICMP_LOOKING_MAC`]: `icmp` must reject it although byte 23 (L2) and byte 9 (L3) are 1.
fn arp_frame() -> Vec<u8> {
    let mut f = vec![0u8; 14 + 28];
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    f[14..22].copy_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 2]); // Ethernet, IPv4, hlen 6, plen 4, reply
    f[22..28].copy_from_slice(&ICMP_LOOKING_MAC);
    assert_eq!((f[23], f[14 + 9]), (1, 1));
    f
}

fn frame(proto: u8) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + 8];
    f[12] = 0x08; // IPv4
    f[14] = 0x45;
    f[16..18].copy_from_slice(&28u16.to_be_bytes());
    f[22] = 64;
    f[23] = proto;
    f[26..30].copy_from_slice(&[10, 0, 0, 1]);
    f[30..34].copy_from_slice(&[10, 0, 0, 2]);
    f
}

#[test]
#[ignore = "needs root: BPF tracepoints, netns (tests/run.sh runs it)"]
fn spliced_filter_runs_in_test_run_and_in_the_probes() {
    let _s = serial();
    // BPF_PROG_TEST_RUN through filter_test: L2 and L3 entry points
    for l3 in [false, true] {
        let mut ft =
            FilterTester::new(&icmp_filter(), l3).unwrap_or_else(|e| panic!("FilterTester: {e}"));
        assert_eq!(ft.run(&frame(1)).unwrap(), 1, "icmp accepted (l3 {l3})");
        assert_eq!(ft.run(&frame(17)).unwrap(), 0, "udp rejected (l3 {l3})");
        assert_eq!(ft.run(&frame(6)).unwrap(), 0, "tcp rejected (l3 {l3})");
        assert_eq!(ft.run(&arp_frame()).unwrap(), 0, "arp rejected (l3 {l3})");
    }

    // the same filter spliced into the tracepoint programs, on real packets (with stacks recorded)
    let pair = NetnsPair::new("p", 204);
    let ns_b = pair.inode_b;
    // b's ARP reply to a's request looks like ICMP to a filter that reads only the protocol byte
    let mac = ICMP_LOOKING_MAC.map(|b| format!("{b:02x}")).join(":");
    sh(&format!(
        "ip -n {} link set {} address {mac}",
        pair.b, pair.veth_b
    ));
    let cfg = Config {
        tracepoints: tracepoints(&TPS),
        netns: Some(ns_b),
        filter: Some(icmp_filter()),
        stack: true,
        ..Config::default()
    };
    let (t, mut ring, cfg) = load_attach(cfg);
    pair.exec(&pair.a, &format!("ping -c 2 -i 0.2 -W 2 {}", pair.ip_b));
    pair.exec(
        &pair.a,
        &format!("bash -c 'echo pwru > /dev/udp/{}/9'", pair.ip_b),
    );
    let evs = drain(&mut ring, Duration::from_millis(400));
    assert!(
        evs.iter()
            .any(|e| name(&cfg, e) == "netif_receive_skb" && e.l4_proto == 1),
        "ICMP passes"
    );
    assert!(
        evs.iter().all(|e| e.l4_proto == 1),
        "only ICMP passes the filter: {:?}",
        evs.iter().map(|e| e.l4_proto).collect::<Vec<_>>()
    );
    // stacks: recorded, resolvable, kernel addresses
    let with_stack: Vec<_> = evs.iter().filter(|e| e.flags & EV_HAS_STACK != 0).collect();
    assert!(!with_stack.is_empty(), "events carry stack ids");
    let frames = t.stack(with_stack[0].stack_id);
    assert!(frames.len() >= 3, "stack frames: {frames:x?}");
    assert!(
        frames.iter().all(|&ip| ip >= 0xffff_8000_0000_0000),
        "kernel addresses: {frames:x?}"
    );
    detach_and_check(t);
    drop(pair);
    let _ = sh("true");
}

fn ipv6(e: &RawEvent) -> Option<(std::net::Ipv6Addr, std::net::Ipv6Addr)> {
    (e.flags & EV_HAS_TUPLE != 0 && e.flags & EV_IPV6 != 0).then(|| {
        (
            std::net::Ipv6Addr::from(e.saddr),
            std::net::Ipv6Addr::from(e.daddr),
        )
    })
}

/// IPv6 tuples, through the fragment extension header: the first fragment shows the UDP ports behind it, later
/// fragments show the protocol but no ports, and the reassembled datagram is dropped with NO_SOCKET.
#[test]
#[ignore = "needs root: BPF tracepoints, netns (tests/run.sh runs it)"]
fn ipv6_tuple_through_fragment_headers() {
    let _s = serial();
    let btf = Btf::vmlinux();
    let no_socket = btf
        .enum_value("skb_drop_reason", "SKB_DROP_REASON_NO_SOCKET")
        .unwrap();
    let pair = NetnsPair::builder("6", 205).ipv6().build();
    let ns_b = pair.inode_b;
    let (a, b): (std::net::Ipv6Addr, std::net::Ipv6Addr) = (
        "fd00:205::1".parse().unwrap(),
        "fd00:205::2".parse().unwrap(),
    );
    let cfg = Config {
        tracepoints: tracepoints(&TPS),
        netns: Some(ns_b),
        ..Config::default()
    };
    let (t, mut ring, cfg) = load_attach(cfg);
    // 3000 bytes of UDP over a 1500-byte MTU: three fragments
    pair.exec(
        &pair.a,
        "bash -c 'head -c 3000 /dev/zero > /dev/udp/fd00:205::2/9'",
    );
    pair.exec(&pair.a, "ping -6 -c 1 -W 2 fd00:205::2");
    let evs = drain(&mut ring, Duration::from_millis(400));
    let rx: Vec<_> = evs
        .iter()
        .filter(|e| name(&cfg, e) == "netif_receive_skb" && ipv6(e) == Some((a, b)))
        .collect();
    assert!(rx.iter().all(|e| u16::from_be(e.protocol) == 0x86dd));
    let udp: Vec<_> = rx.iter().filter(|e| e.l4_proto == 17).collect();
    assert!(
        udp.len() >= 3,
        "UDP fragments seen with l4_proto 17 behind the fragment header: {}",
        udp.len()
    );
    assert_eq!(
        udp.iter().filter(|e| e.dport == 9).count(),
        1,
        "only the first fragment has ports"
    );
    assert!(
        udp.iter()
            .filter(|e| e.dport != 9)
            .all(|e| (e.sport, e.dport) == (0, 0))
    );
    assert!(rx.iter().any(|e| e.l4_proto == 58), "ICMPv6 echo request");
    let drops: Vec<_> = evs
        .iter()
        .filter(|e| {
            name(&cfg, e) == "kfree_skb"
                && e.drop_reason == no_socket
                && e.flags & EV_HAS_REASON != 0
        })
        .collect();
    assert!(
        drops
            .iter()
            .any(|e| ipv6(e) == Some((a, b)) && e.l4_proto == 17 && e.dport == 9),
        "the reassembled datagram is dropped with NO_SOCKET"
    );
    detach_and_check(t);
}

/// --filter-track-skb on tracepoints: a ping marked 0x42 matches the mark filter in namespace a; the veth
/// scrubs the mark when the same skb enters namespace b, where only tracking lets it through (EV_TRACKED). The
/// skb is forgotten when it is freed, so later unmarked packets that reuse its memory are not traced.
#[test]
#[ignore = "needs root: BPF tracepoints, netns (tests/run.sh runs it)"]
fn track_skb_follows_an_skb_past_the_filter() {
    let _s = serial();
    let pair = NetnsPair::new("k", 206);
    let (ns_a, ns_b) = (pair.inode_a, pair.inode_b);
    let mut tps = TPS.to_vec();
    tps.push("net_dev_xmit");
    let cfg = Config {
        tracepoints: tracepoints(&tps),
        mark: Some((0x42, 0xff)),
        track_skb: true,
        ..Config::default()
    };
    let (t, mut ring, cfg) = load_attach(cfg);
    pair.exec(
        &pair.a,
        &format!("ping -m 66 -c 3 -i 0.2 -W 2 {}", pair.ip_b),
    );
    pair.exec(&pair.a, &format!("ping -c 5 -i 0.1 -W 2 {}", pair.ip_b));
    let evs = drain(&mut ring, Duration::from_millis(400));
    let tracked_in_b: Vec<_> = evs
        .iter()
        .filter(|e| e.netns == ns_b && e.mark == 0 && name(&cfg, e) == "netif_receive_skb")
        .collect();
    assert!(
        tracked_in_b.len() >= 3,
        "the marked pings, scrubbed in b, are followed: {}",
        tracked_in_b.len()
    );
    assert!(
        tracked_in_b
            .iter()
            .all(|e| e.flags & probes::event::EV_TRACKED != 0)
    );
    let stray: Vec<_> = evs
        .iter()
        .filter(|e| e.netns == ns_a && e.mark & 0xff != 0x42)
        .collect();
    assert!(
        stray.is_empty(),
        "unmarked packets in a must not be traced (stale tracking): {}",
        stray.len()
    );
    assert_eq!(t.track_overflows(), 0);
    detach_and_check(t);
}

/// The raw_tp fallback (used where tp_btf is refused, e.g. tracepoints without BTF) delivers the same events.
#[test]
#[ignore = "needs root: BPF tracepoints, netns (tests/run.sh runs it)"]
fn raw_tracepoint_fallback_delivers_events() {
    let _s = serial();
    let btf = Btf::vmlinux();
    let no_socket = btf
        .enum_value("skb_drop_reason", "SKB_DROP_REASON_NO_SOCKET")
        .unwrap();
    let pair = NetnsPair::new("r", 207);
    let ns_b = pair.inode_b;
    probes::testing::force_raw_tracepoints(true);
    probes::testing::without_cookies(true);
    let cfg = Config {
        tracepoints: tracepoints(&TPS),
        netns: Some(ns_b),
        ..Config::default()
    };
    let mut t = Tracer::load(cfg.clone()).unwrap();
    let st = t.attach(|_, _, _| {});
    probes::testing::force_raw_tracepoints(false);
    probes::testing::without_cookies(false);
    let st = st.unwrap();
    assert_eq!(
        (st.tracepoints.raw_tp, st.tracepoints.tp_btf),
        (TPS.len(), 0),
        "{:?}",
        st.ignored
    );
    let mut ring = t.take_ring().unwrap();
    pair.exec(&pair.a, &format!("ping -c 2 -i 0.2 -W 2 {}", pair.ip_b));
    pair.exec(
        &pair.a,
        &format!("bash -c 'echo pwru > /dev/udp/{}/9'", pair.ip_b),
    );
    let evs = drain(&mut ring, Duration::from_millis(400));
    let (a, b): (Ipv4Addr, Ipv4Addr) = (pair.ip_a.parse().unwrap(), pair.ip_b.parse().unwrap());
    assert!(evs.iter().any(|e| name(&cfg, e) == "netif_receive_skb"
        && ipv4(e) == Some((a, b))
        && e.l4_proto == 1));
    assert!(
        evs.iter()
            .any(|e| name(&cfg, e) == "kfree_skb" && e.drop_reason == no_socket && e.dport == 9)
    );
    detach_and_check(t);
}

/// With raw_tp BPF cookies (kernel 6.10+) one program, carrying the filter, serves every tracepoint: it is
/// verified once, however many tracepoints there are. Without them (forced), each tracepoint has its own load.
/// Either way the events name their tracepoint, and skb:kfree_skb carries its reason and location.
#[test]
#[ignore = "needs root: BPF tracepoints, netns (tests/run.sh runs it)"]
fn one_program_serves_every_tracepoint() {
    let _s = serial();
    let btf = Btf::vmlinux();
    let no_socket = btf
        .enum_value("skb_drop_reason", "SKB_DROP_REASON_NO_SOCKET")
        .unwrap();
    let all = skb_tracepoints(&btf);
    let pair = NetnsPair::new("c", 208);
    let prog = pcap_filter::compile(&format!("host {}", pair.ip_b)).unwrap();
    let cfg = Config {
        tracepoints: all.clone(),
        filter: Some(FilterCode {
            insns: prog.to_bytes(),
            snaplen: prog.snaplen,
        }),
        ..Config::default()
    };
    for cookies in [true, false] {
        probes::testing::without_cookies(!cookies);
        let (t, mut ring, cfg) = load_attach(cfg.clone());
        probes::testing::without_cookies(false);
        let programs = t.kernel_ids().programs.len();
        if cookies {
            assert_eq!(programs, 1, "one program for {} tracepoints", all.len());
        } else {
            assert!(programs > all.len() / 2, "{programs} programs");
        }
        pair.exec(&pair.a, &format!("ping -c 2 -i 0.2 -W 2 {}", pair.ip_b));
        pair.exec(
            &pair.a,
            &format!("bash -c 'echo pwru > /dev/udp/{}/9'", pair.ip_b),
        );
        let evs = drain(&mut ring, Duration::from_millis(400));
        let b: Ipv4Addr = pair.ip_b.parse().unwrap();
        assert!(
            evs.iter()
                .any(|e| name(&cfg, e) == "netif_receive_skb" && ipv4(e).map(|x| x.1) == Some(b)),
            "cookies {cookies}: no netif_receive_skb event"
        );
        let drop = evs
            .iter()
            .find(|e| name(&cfg, e) == "kfree_skb" && e.dport == 9)
            .unwrap_or_else(|| panic!("cookies {cookies}: no kfree_skb of the UDP datagram"));
        assert_eq!(drop.drop_reason, no_socket);
        assert!(
            drop.flags & probes::event::EV_HAS_CALLER != 0 && drop.caller_ip != 0,
            "kfree_skb's location is its caller"
        );
        assert!(
            evs.iter()
                .all(|e| ipv4(e).is_none_or(|(s, d)| s == b || d == b)),
            "cookies {cookies}: the filter let another host through"
        );
        detach_and_check(t);
    }
}

/// A summary-only run (`Config::summary`) counts in the kernel, with one program for every tracepoint and with one
/// per tracepoint: each datagram to a closed port is one packet, its events are counted per tracepoint, and its drop
/// is the only event shipped.
#[test]
#[ignore = "needs root: BPF tracepoints, netns (tests/run.sh runs it)"]
fn summary_counts_in_the_kernel_and_ships_only_first_drops() {
    use probes::contract::role;
    let _s = serial();
    let btf = Btf::vmlinux();
    let no_socket = btf
        .enum_value("skb_drop_reason", "SKB_DROP_REASON_NO_SOCKET")
        .unwrap();
    let consumed = btf.enum_value("skb_drop_reason", "SKB_CONSUMED").unwrap();
    let all = skb_tracepoints(&btf);
    // What event::fate says of these (pwru computes the table from it; this crate does not depend on it).
    let roles = all
        .iter()
        .map(|t| match t.name.as_str() {
            "kfree_skb" => role::DROP | role::FREES | role::RELEASE_STEP,
            "consume_skb" => role::FREES | role::RELEASE_STEP,
            "netif_rx_entry" | "netif_rx" | "netif_receive_skb" => role::STARTS_RX | role::RECEIVE,
            "net_dev_queue" => role::STARTS_TX,
            "net_dev_start_xmit" | "net_dev_xmit" => role::HANDOFF,
            _ => 0,
        })
        .collect();
    let pair = NetnsPair::new("k", 209);
    let prog = pcap_filter::compile(&format!("udp and dst host {}", pair.ip_b)).unwrap();
    let cfg = Config {
        tracepoints: all.clone(),
        netns: Some(pair.inode_b),
        filter: Some(FilterCode {
            insns: prog.to_bytes(),
            snaplen: prog.snaplen,
        }),
        summary: Some(probes::KernelSummary {
            roles,
            consumed_reasons: vec![consumed],
        }),
        ..Config::default()
    };
    let kfree = all.iter().position(|t| t.name == "kfree_skb").unwrap();
    // Three datagrams to a closed port: three packets, each freed with NO_SOCKET.
    let send_three = || {
        for _ in 0..3 {
            pair.exec(
                &pair.a,
                &format!("bash -c 'echo pwru > /dev/udp/{}/9'", pair.ip_b),
            );
        }
    };
    for cookies in [true, false] {
        probes::testing::without_cookies(!cookies);
        let (t, mut ring, cfg) = load_attach(cfg.clone());
        probes::testing::without_cookies(false);
        assert!(t.summarizing());
        send_three();
        let evs = drain(&mut ring, Duration::from_millis(400));
        let shipped: Vec<(&str, u32)> = evs
            .iter()
            .map(|r| (name(&cfg, &r.event), r.event.drop_reason))
            .collect();
        assert_eq!(shipped, [("kfree_skb", no_socket); 3], "cookies {cookies}");
        let funcs = t.function_events();
        assert_eq!(funcs.len(), all.len());
        assert_eq!(funcs[kfree], 3, "cookies {cookies}: {funcs:?}");
        let counted: u64 = funcs.iter().sum();
        assert!(counted > 3, "cookies {cookies}: {funcs:?}");
        assert_eq!(
            (t.packets(), t.paths_full(), t.lost()),
            (3, 0, 0),
            "cookies {cookies}"
        );
        assert_eq!((t.produced(), t.summed()), (counted, counted - 3));
        detach_and_check(t);
    }
    // The consumed reasons are a table of any codes: with NO_SOCKET among them (and a code in CFG_CONSUMED's last
    // word) the same datagrams are three packets and no drop, so nothing is shipped.
    let mut quiet = cfg.clone();
    quiet.summary.as_mut().unwrap().consumed_reasons = vec![consumed, no_socket, 255];
    let (t, mut ring, _) = load_attach(quiet);
    assert!(t.summarizing());
    send_three();
    let evs = drain(&mut ring, Duration::from_millis(400));
    assert_eq!(evs.len(), 0, "NO_SOCKET consumed: nothing shipped");
    assert_eq!(t.function_events()[kfree], 3);
    assert_eq!((t.packets(), t.lost()), (3, 0));
    assert_eq!(t.summed(), t.produced());
    detach_and_check(t);
    // A consumed code past the table keeps the counting in userspace: every event is shipped.
    let mut wide = cfg.clone();
    wide.summary.as_mut().unwrap().consumed_reasons =
        vec![consumed, probes::contract::CONSUMED_CODES];
    let (t, _ring, _) = load_attach(wide);
    assert!(!t.summarizing());
    detach_and_check(t);
}

/// `probes::Loading` loads the programs before the tracepoints are known (one program for all of them, by cookie)
/// and they serve the tracepoints given at the end; a load started for another configuration (another netns) is
/// done again for the one given at the end; where a program per target or a map sized by the targets is needed,
/// nothing starts early.
#[test]
#[ignore = "needs root: BPF tracepoints, netns (tests/run.sh runs it)"]
fn programs_load_before_their_targets() {
    let _s = serial();
    let pair = NetnsPair::new("e", 210);
    let in_ns = |ns| Config {
        netns: Some(ns),
        ..Config::default()
    };
    let with_targets = |cfg: &Config| Config {
        tracepoints: tracepoints(&TPS),
        ..cfg.clone()
    };
    for (started_for, finished_for) in [(pair.inode_b, pair.inode_b), (pair.inode_a, pair.inode_b)]
    {
        let mut loading = probes::Loading::new();
        loading.start(in_ns(started_for));
        assert!(loading.started(), "raw_tp cookies: one program for all");
        let t = loading
            .finish(with_targets(&in_ns(finished_for)))
            .unwrap_or_else(|e| panic!("load: {e}"));
        assert_eq!(t.config().tracepoints.len(), TPS.len());
        let (t, mut ring, cfg) = attach_loaded(t);
        assert_eq!(t.kernel_ids().programs.len(), 1);
        pair.exec(&pair.a, &format!("ping -c 2 -i 0.2 -W 2 {}", pair.ip_b));
        let evs = drain(&mut ring, Duration::from_millis(400));
        assert!(
            evs.iter().any(|e| name(&cfg, e) == "netif_receive_skb"),
            "started for netns {started_for}: no netif_receive_skb in b"
        );
        assert!(
            evs.iter().all(|e| e.netns == finished_for),
            "started for netns {started_for}: the filter is the one finished with"
        );
        detach_and_check(t);
    }

    let summary = Config {
        summary: Some(probes::KernelSummary {
            roles: vec![0; TPS.len()],
            consumed_reasons: Vec::new(),
        }),
        ..Config::default()
    };
    for (cfg, no_cookies, what) in [
        (Config::default(), true, "without cookies"),
        (summary, false, "with a summary"),
    ] {
        probes::testing::without_cookies(no_cookies);
        let mut loading = probes::Loading::new();
        loading.start(cfg.clone());
        let started = loading.started();
        let t = loading.finish(with_targets(&cfg));
        probes::testing::without_cookies(false);
        assert!(!started, "{what}: loaded before the targets");
        let t = t.unwrap_or_else(|e| panic!("{what}: load: {e}"));
        detach_and_check(attach_loaded(t).0);
    }
}
