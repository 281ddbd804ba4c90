//! Host end-to-end of `--output-tunnel` and `--filter-tunnel-pcap-l2/-l3` on the tracepoint backend: a real VXLAN
//! device pair between two namespaces (over their veth), and Geneve datagrams sent through the veth (the host
//! kernel has no geneve module; the VM scenario uses real Geneve devices).

use serde_json::Value;
use testkit::pwru::*;
use testkit::{NetnsPair, serial};

/// The inner addresses of the VXLAN devices.
const VX_A: &str = "192.168.77.1";
const VX_B: &str = "192.168.77.2";

/// A VXLAN device (VNI 42, port 4789) on each side of `t`'s veth, addressed VX_A and VX_B.
fn vxlan(t: &NetnsPair) {
    for (ns, veth, local, remote, inner) in [
        (&t.a, &t.veth_a, &t.ip_a, &t.ip_b, VX_A),
        (&t.b, &t.veth_b, &t.ip_b, &t.ip_a, VX_B),
    ] {
        t.exec(
            ns,
            &format!(
                "ip link add vx0 type vxlan id 42 dstport 4789 local {local} remote {remote} dev {veth} && \
                 ip addr add {inner}/24 dev vx0 && ip link set vx0 up"
            ),
        );
    }
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn vxlan_inner_tuple_and_l3_filter() {
    let _g = serial();
    let t = NetnsPair::builder("tun", 61).resolve_neighbours().build();
    vxlan(&t);
    let traffic = || {
        t.exec(&t.a, &format!("ping -c2 -i0.2 -W1 {VX_B}"));
        t.exec(
            &t.a,
            &format!("echo hi | socat -u - udp:{VX_B}:9,sourceport=4321"),
        );
        settle();
    };

    // The inner filter keeps the encapsulated pings: not the inner ARP, not the inner UDP datagram.
    let p = Pwru::start(&[
        "--output-json",
        "--output-tunnel",
        "--filter-tunnel-pcap-l3",
        &format!("icmp and host {VX_B}"),
        "udp port 4789",
    ]);
    traffic();
    let f = p.stop(SIGINT);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let evs = f.json();
    assert!(!evs.is_empty(), "no events:\n{}", f.stderr);
    let dump = f.output.clone();
    for e in &evs {
        assert_eq!(e["tuple"]["proto"], 17, "outer is UDP: {e}");
        assert_eq!(e["tunnel"]["kind"], "vxlan", "{e}");
        assert_eq!(e["tunnel"]["vni"], 42, "{e}");
        let inner = &e["tunnel_tuple"];
        assert_eq!(inner["proto"], 1, "only inner ICMP: {e}");
        let pair = (s(inner, "saddr"), s(inner, "daddr"));
        assert!(pair == (VX_A, VX_B) || pair == (VX_B, VX_A), "{e}");
    }
    // Requests and replies, each leaving one namespace and arriving in the other, with both tuples.
    let seen = |osrc: &str, isrc: &str, netns: u32| {
        evs.iter().any(|e| {
            s(&e["tuple"], "saddr") == osrc
                && s(&e["tunnel_tuple"], "saddr") == isrc
                && e["netns"] == netns
        })
    };
    assert!(seen(&t.ip_a, VX_A, t.inode_a), "request leaving a:\n{dump}");
    assert!(
        seen(&t.ip_a, VX_A, t.inode_b),
        "request arriving in b:\n{dump}"
    );
    assert!(seen(&t.ip_b, VX_B, t.inode_b), "reply leaving b:\n{dump}");
    assert!(
        seen(&t.ip_b, VX_B, t.inode_a),
        "reply arriving in a:\n{dump}"
    );

    // Without the inner filter the same traffic shows the inner UDP datagram too, in the text TUNNEL column.
    let p = Pwru::start(&["--output-tunnel", "udp port 4789"]);
    traffic();
    let f = p.stop(SIGINT);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let lines = f.lines();
    assert!(lines[0].ends_with(" TUNNEL"), "header: {}", lines[0]);
    let icmp = format!("vxlan:42 {VX_A}:0->{VX_B}:0(icmp)");
    let udp = format!("vxlan:42 {VX_A}:4321->{VX_B}:9(udp)");
    let outer = format!("{}:", t.ip_a);
    for want in [&icmp, &udp] {
        assert!(
            lines
                .iter()
                .any(|l| l.ends_with(want.as_str()) && l.contains(&outer) && l.contains("(udp)")),
            "no line with {want}:\n{}",
            f.output
        );
    }
}

/// A Geneve datagram's payload (VNI 7, an Ethernet frame from `src_mac`'s last byte) with an IPv4 packet
/// 192.168.78.1 -> 192.168.78.2 of protocol `proto` (ICMP echo or UDP 4321 -> 9), as `printf` octal escapes.
fn geneve(src_mac: u8, proto: u8) -> String {
    let mut b = vec![0x00, 0x00, 0x65, 0x58, 0x00, 0x00, 0x07, 0x00];
    b.extend([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, src_mac, 0x08, 0x00]);
    b.extend([0x45, 0, 0, 28, 0, 0, 0, 0, 64, proto, 0, 0]);
    b.extend([192, 168, 78, 1, 192, 168, 78, 2]);
    match proto {
        1 => b.extend([8, 0, 0, 0, 0, 1, 0, 1]),
        _ => b.extend([0x10, 0xe1, 0, 9, 0, 8, 0, 0]),
    }
    b.iter().map(|x| format!("\\{x:03o}")).collect()
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn geneve_inner_tuple_and_l2_filter() {
    let _g = serial();
    let t = NetnsPair::builder("gnv", 62).resolve_neighbours().build();
    let p = Pwru::start(&[
        "--output-json",
        "--output-tunnel",
        "--filter-tunnel-pcap-l2",
        "ether src 02:00:00:00:00:01 and icmp",
        "udp port 6081",
    ]);
    for (mac, proto) in [(1, 1), (1, 17), (3, 1)] {
        t.exec(
            &t.a,
            &format!(
                "printf '{}' | socat -u - udp:{}:6081,sourceport=5555",
                geneve(mac, proto),
                t.ip_b
            ),
        );
    }
    settle();
    let f = p.stop(SIGINT);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let evs = f.json();
    assert!(!evs.is_empty(), "no events:\n{}", f.stderr);
    for e in &evs {
        assert_eq!(e["tunnel"]["kind"], "geneve", "{e}");
        assert_eq!(e["tunnel"]["vni"], 7, "{e}");
        assert_eq!(e["tunnel_tuple"]["proto"], 1, "{e}");
        assert_eq!(e["tunnel_tuple"]["saddr"], "192.168.78.1", "{e}");
        assert_eq!(e["tunnel_tuple"]["daddr"], "192.168.78.2", "{e}");
        assert_eq!(e["tuple"]["dport"], 6081, "{e}");
    }
    // Exactly the one accepted datagram: seen leaving a and arriving in b, on the same skb all the way.
    let netns: Vec<u32> = evs
        .iter()
        .map(|e| e["netns"].as_u64().unwrap() as u32)
        .collect();
    assert!(
        netns.contains(&t.inode_a) && netns.contains(&t.inode_b),
        "{}",
        f.output
    );
    let skbs: std::collections::BTreeSet<&str> = evs.iter().map(|e| s(e, "skb")).collect();
    assert_eq!(skbs.len(), 1, "one datagram:\n{}", f.output);
}
