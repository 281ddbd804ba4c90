//! A small cluster as the agent would leave it in bpffs, in the layout of a given release.
//!
//! Node 192.168.1.10 (host), remote node 192.168.1.11. Local pods: client 10.244.1.5 (endpoint 1234, identity
//! 12345) and server 10.244.1.6 (endpoint 2001, identity 23456). Remote pod 10.244.2.7 (identity 34567, behind the
//! remote node). kube-dns ClusterIP 10.96.0.10:53/UDP → backends 3 (10.244.2.7:53) and 4 (10.244.1.6:53), revnat 5;
//! web ClusterIP 10.96.0.20:80/TCP → backend 5 (10.244.1.6:8080), revnat 6.

#![allow(dead_code)]

use super::*;
use std::net::IpAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// 1.16.0–1.16.3: policy entries with wildcard bits.
    V1_16_0,
    /// 1.16.4+.
    V1_16,
    V1_17,
    V1_18,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::V1_16_0 => "1.16.0",
            Layout::V1_16 => "1.16",
            Layout::V1_17 => "1.17",
            Layout::V1_18 => "1.18",
        }
    }
    fn v17plus(self) -> bool {
        matches!(self, Layout::V1_17 | Layout::V1_18)
    }
    fn v18(self) -> bool {
        self == Layout::V1_18
    }
}

pub const TCP: u8 = 6;
pub const UDP: u8 = 17;

/// Policy rule: (P, identity, egress, proto, port, deny, auth, proxy, priority).
type Rule = (u32, u32, bool, u8, u16, bool, u8, u16, u8);

pub fn server_rules(l: Layout) -> Vec<Rule> {
    let mut r = vec![
        (24, 12345, false, TCP, 8080, false, 0, 0, 0),
        (0, 2, false, 0, 0, true, 0, 0, 0),
        (24, 0, false, UDP, 53, false, 0, 0, 0),
        (24, 34567, false, TCP, 9090, false, 1, 0, 0),
        (0, 0, true, 0, 0, false, 0, 0, 0),
        (24, 0, false, TCP, 80, false, 0, 15001, 1),
    ];
    if l != Layout::V1_16_0 {
        // Port ranges arrived with the prefix-length layout: 8000-8015/TCP.
        r.push((20, 0, false, TCP, 8000, false, 0, 0, 0));
    }
    r
}

pub fn client_rules() -> Vec<Rule> {
    vec![
        (0, 0, true, 0, 0, false, 0, 0, 0),
        (0, 1, false, 0, 0, false, 0, 0, 0),
    ]
}

fn policy_map(fs: &Bpffs, l: Layout, ep: u16, rules: &[Rule]) {
    let name = if l.v17plus() {
        format!("cilium_policy_v2_{ep:05}")
    } else {
        format!("cilium_policy_{ep:05}")
    };
    let vlen = if l.v18() { 8 } else { 24 };
    let m = fs.create(&name, LPM_TRIE, 12, vlen as u32, 16384, BPF_F_NO_PREALLOC);
    for (i, &(p, id, eg, proto, port, deny, auth, proxy, prio)) in rules.iter().enumerate() {
        let flags = if l == Layout::V1_16_0 {
            deny as u8
                | if p == 0 {
                    6
                } else if p == 8 {
                    4
                } else {
                    0
                }
        } else {
            deny as u8 | (p as u8) << 3
        };
        let auth = if l.v17plus() && auth != 0 {
            auth | 0x80
        } else {
            auth
        };
        let prio = if l.v17plus() { prio } else { 0 };
        m.put(
            &pol_key(p, id, eg, proto, port),
            &pol_val(
                vlen,
                proxy,
                flags,
                auth,
                prio,
                10 * i as u64,
                1000 * i as u64,
            ),
        );
    }
}

pub fn build(fs: &Bpffs, l: Layout) {
    let v18 = l.v18();
    // Conntrack.
    let ct4 = fs.create("cilium_ct4_global", LRU_HASH, 14, 56, 524288, 0);
    let ctany4 = fs.create("cilium_ct_any4_global", LRU_HASH, 14, 56, 262144, 0);
    let ct6 = fs.create("cilium_ct6_global", LRU_HASH, 38, 56, 524288, 0);
    fs.create("cilium_ct_any6_global", LRU_HASH, 38, 56, 262144, 0);
    let ct = |backend_id, rev_nat, flags, src_sec_id, lifetime| Ct {
        backend_id,
        packets: 4,
        bytes: 300,
        lifetime,
        flags,
        rev_nat,
        ifindex: if v18 { 0 } else { 12 },
        tx_seen: 0x1b,
        rx_seen: 0x12,
        src_sec_id,
    };
    // (map, (daddr, saddr, dport, sport, proto, flags), (backend, rev_nat, flags, src identity, lifetime))
    #[rustfmt::skip]
    let entries = [
        // DNS via the ClusterIP: SVC entry (backend 3) and the OUT entry towards the backend.
        (&ctany4, ("10.96.0.10", "10.244.1.5", 43210, 53, UDP, 4), (3, 5, 0, 12345, 5000)),
        (&ctany4, ("10.244.1.5", "10.244.2.7", 53, 43210, UDP, 0), (0, 5, 0, 12345, 5000)),
        // Client to the internet (SNATed), TCP, closing.
        (&ct4, ("10.244.1.5", "1.1.1.1", 443, 40000, TCP, 0), (0, 0, 0x13, 12345, 6000)),
        // Remote pod to the local server, ingress.
        (&ct4, ("10.244.2.7", "10.244.1.6", 8080, 51000, TCP, 1), (0, 0, 0x10, 34567, 7000)),
        // IPv6: the client to a remote pod over TCP.
        (&ct6, ("fd00:10:244:1::5", "fd00:10:244:2::7", 80, 50000, TCP, 0), (0, 0, 0x10, 12345, 8000)),
    ];
    for (map, (d, sa, dp, sp, proto, fl), (backend, rev_nat, flags, id, life)) in entries {
        map.put(
            &ct_key(d, sa, dp, sp, proto, fl),
            &ct_val(ct(backend, rev_nat, flags, id, life)),
        );
    }

    // SNAT pair.
    let nat4 = fs.create("cilium_snat_v4_external", LRU_HASH, 14, 40, 524288, 0);
    let nat6 = fs.create("cilium_snat_v6_external", LRU_HASH, 38, 56, 524288, 0);
    // (map, (saddr, sport, daddr, dport, proto, flags), (created, to, port))
    #[rustfmt::skip]
    let entries = [
        (&nat6, ("fd00:10:244:1::5", 40001, "2001:db8::1", 443, TCP, 0), (950, "2001:db8::100", 40001)),
        (&nat4, ("10.244.1.5", 40000, "1.1.1.1", 443, TCP, 0), (900, "192.168.1.10", 40000)),
        (&nat4, ("1.1.1.1", 443, "192.168.1.10", 40000, TCP, 1), (900, "10.244.1.5", 40000)),
    ];
    for (map, (sa, sp, d, dp, proto, fl), (created, to, port)) in entries {
        map.put(
            &nat_key(sa, sp, d, dp, proto, fl),
            &nat_val(created, to, port),
        );
    }

    // Services.
    let svc = fs.create("cilium_lb4_services_v2", HASH, 12, 12, 65536, 0);
    let svc6 = fs.create("cilium_lb6_services_v2", HASH, 24, 12, 65536, 0);
    let be = fs.create("cilium_lb4_backends_v3", HASH, 4, 12, 65536, 0);
    let be6 = fs.create("cilium_lb6_backends_v3", HASH, 4, 24, 65536, 0);
    let rn = fs.create("cilium_lb4_reverse_nat", HASH, 2, 6, 65536, 0);
    let rn6 = fs.create("cilium_lb6_reverse_nat", HASH, 2, 18, 65536, 0);
    let (pu, pt) = if l.v17plus() { (UDP, TCP) } else { (0, 0) };
    // (map, (addr, port, slot, proto), (backend or count union, count, rev_nat)); flags 0x40 on every entry.
    let services = [
        (&svc, ("10.96.0.10", 53, 0, pu), (0, 2, 5)),
        (&svc, ("10.96.0.10", 53, 1, pu), (3, 0, 5)),
        (&svc, ("10.96.0.10", 53, 2, pu), (4, 0, 5)),
        (&svc, ("10.96.0.20", 80, 0, pt), (0, 1, 6)),
        (&svc, ("10.96.0.20", 80, 1, pt), (5, 0, 6)),
        // IPv6 kube-dns: [fd00:96::10]:53/UDP → backend 6 [fd00:10:244:2::7]:53, revnat 7.
        (&svc6, ("fd00:96::10", 53, 0, pu), (0, 1, 7)),
        (&svc6, ("fd00:96::10", 53, 1, pu), (6, 0, 7)),
    ];
    for (map, (addr, port, slot, proto), (union, count, rev_nat)) in services {
        map.put(
            &svc_key(addr, port, slot, proto, 0),
            &svc_val(union, count, rev_nat, 0x40, 0),
        );
    }
    be.put(&3u32.to_le_bytes(), &backend_val("10.244.2.7", 53, UDP));
    be.put(&4u32.to_le_bytes(), &backend_val("10.244.1.6", 53, UDP));
    be.put(&5u32.to_le_bytes(), &backend_val("10.244.1.6", 8080, TCP));
    rn.put(&5u16.to_be_bytes(), &revnat_val("10.96.0.10", 53));
    rn.put(&6u16.to_be_bytes(), &revnat_val("10.96.0.20", 80));
    be6.put(
        &6u32.to_le_bytes(),
        &backend_val("fd00:10:244:2::7", 53, UDP),
    );
    rn6.put(&7u16.to_be_bytes(), &revnat_val("fd00:96::10", 53));

    // ipcache.
    let (name, vlen) = if v18 {
        ("cilium_ipcache_v2", 24)
    } else {
        ("cilium_ipcache", 12)
    };
    let ipc = fs.create(name, LPM_TRIE, 24, vlen, 512000, BPF_F_NO_PREALLOC);
    for (a, p, id, tun) in [
        ("10.244.1.5", 32, 12345, None),
        ("10.244.1.6", 32, 23456, None),
        ("10.244.2.7", 32, 34567, Some("192.168.1.11")),
        ("10.244.2.0", 24, 6, Some("192.168.1.11")),
        ("192.168.1.10", 32, 1, None),
        ("192.168.1.11", 32, 6, None),
        ("172.16.0.0", 12, 16777217, None),
        ("0.0.0.0", 0, 2, None),
        ("fd00:10:244:1::5", 128, 12345, None),
        ("fd00:10:244:2::", 64, 6, Some("192.168.1.11")),
        ("::", 0, 2, None),
    ] {
        ipc.put(&ipcache_key(a, p), &ipcache_val(v18, id, tun));
    }

    // Endpoints.
    let lxc = fs.create("cilium_lxc", HASH, 20, 48, 65535, 0);
    let parent = if l.v17plus() { 2 } else { 0 };
    // The client has the same endpoint under both its addresses.
    let client = lxc_val(
        12,
        1234,
        0,
        [0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f],
        12345,
        parent,
    );
    lxc.put(&lxc_key("10.244.1.5"), &client);
    lxc.put(
        &lxc_key("10.244.1.6"),
        &lxc_val(
            14,
            2001,
            0,
            [0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x60],
            23456,
            parent,
        ),
    );
    lxc.put(&lxc_key("192.168.1.10"), &lxc_val(0, 0, 1, [0; 6], 0, 0));
    lxc.put(&lxc_key("fd00:10:244:1::5"), &client);

    // Policy.
    policy_map(fs, l, 2001, &server_rules(l));
    policy_map(fs, l, 1234, &client_rules());
    if v18 {
        let st = fs.create(
            "cilium_policystats",
            LRU_PERCPU_HASH,
            12,
            16,
            65536,
            BPF_F_NO_COMMON_LRU,
        );
        // The 12345 → 8080/TCP rule has matched 7 packets on each of two CPUs.
        let mut k = 2001u16.to_le_bytes().to_vec();
        k.extend([0, 24]);
        k.extend(12345u32.to_le_bytes());
        k.extend([0, TCP]);
        k.extend(8080u16.to_be_bytes());
        st.put(&k, &counters(7, 700));
    }

    // Metrics (each value lands on two CPUs, so the sums are doubled).
    let met = fs.create("cilium_metrics", PERCPU_HASH, 8, 16, 1024, 0);
    met.put(&metrics_key(133, 1, 1520, 2), &counters(3, 180));
    met.put(&metrics_key(181, 1, 1530, 2), &counters(1, 60));
    met.put(&metrics_key(0, 2, 0, 0), &counters(100, 10000));
    met.put(&metrics_key(3, 1, 0, 0), &counters(50, 5000));
    met.put(&metrics_key(159, 3, 77, 250), &counters(1, 1));

    // Maps we must list but never read: the agent's event ring, and (≤1.17) the tunnel map.
    fs.create("cilium_events", PERF_EVENT_ARRAY, 4, 4, ncpus() as u32, 0);
    if !v18 {
        let tun = fs.create("cilium_tunnel_map", HASH, 20, 20, 65536, 0);
        let te = |a: &str, fam: u8| {
            let mut b = ip(a)
                .to_string()
                .parse::<std::net::Ipv4Addr>()
                .unwrap()
                .octets()
                .to_vec();
            b.resize(16, 0);
            b.extend([fam, 0, 0, 0]);
            b
        };
        tun.put(&te("10.244.2.0", 1), &te("192.168.1.11", 1));
    }

    // Node IDs: the remote node has ID 3 for both its addresses.
    let nodes = fs.create("cilium_node_map_v2", HASH, 20, 4, 16384, 0);
    for a in ["192.168.1.11", "fd00::11"] {
        let mut k = vec![0, 0, 0, if ip(a).is_ipv4() { 1 } else { 2 }];
        let mut ab = match ip(a) {
            IpAddr::V4(v) => v.octets().to_vec(),
            IpAddr::V6(v) => v.octets().to_vec(),
        };
        ab.resize(16, 0);
        k.extend(ab);
        nodes.put(&k, &[3, 0, 0, 0]);
    }

    // Mutual auth between the remote pod and the server, valid until 2026-11-23T20:00:00Z.
    let auth = fs.create("cilium_auth_map", HASH, 12, 8, 524288, 0);
    let mut k = 34567u32.to_le_bytes().to_vec();
    k.extend(23456u32.to_le_bytes());
    k.extend([3, 0, 1, 0]);
    auth.put(&k, &(1_795_464_000u64 * 1_000_000_000 / 512).to_le_bytes());

    // LoadBalancerSourceRanges of the web service (revnat 6) and a sticky DNS client.
    let sr = fs.create(
        "cilium_lb4_source_range",
        LPM_TRIE,
        12,
        1,
        65536,
        BPF_F_NO_PREALLOC,
    );
    fs.create(
        "cilium_lb6_source_range",
        LPM_TRIE,
        24,
        1,
        65536,
        BPF_F_NO_PREALLOC,
    );
    for (a, p) in [([10, 0, 0, 0], 8u32), ([192, 168, 0, 0], 16)] {
        let mut k = (32 + p).to_le_bytes().to_vec();
        k.extend(6u16.to_be_bytes());
        k.extend([0, 0]);
        k.extend(a);
        sr.put(&k, &[1]);
    }
    let aff = fs.create("cilium_lb4_affinity", LRU_HASH, 16, 16, 65536, 0);
    fs.create("cilium_lb6_affinity", LRU_HASH, 24, 16, 65536, 0);
    let mut k = vec![10, 244, 1, 5, 0, 0, 0, 0];
    k.extend(5u16.to_be_bytes());
    k.extend([0, 0, 0, 0, 0, 0]);
    let mut v = 4000u64.to_le_bytes().to_vec();
    v.extend(3u32.to_le_bytes());
    v.extend([0; 4]);
    aff.put(&k, &v);
}
