//! The parser and compiler never panic or hang, and whatever compiles runs in the interpreter
//! without a fault (no out-of-bounds access, no bad jump) on arbitrary packets.

use proptest::prelude::*;

const WORDS: &[&str] = &[
    "host",
    "net",
    "port",
    "portrange",
    "src",
    "dst",
    "or",
    "and",
    "not",
    "!",
    "&&",
    "||",
    "(",
    ")",
    "[",
    "]",
    ":",
    "+",
    "-",
    "*",
    "/",
    "%",
    "&",
    "|",
    "^",
    "<<",
    ">>",
    "=",
    "==",
    "!=",
    ">",
    "<",
    ">=",
    "<=",
    "ip",
    "ip6",
    "arp",
    "rarp",
    "tcp",
    "udp",
    "icmp",
    "icmp6",
    "sctp",
    "vlan",
    "mpls",
    "pppoes",
    "pppoed",
    "ether",
    "link",
    "proto",
    "protochain",
    "gateway",
    "len",
    "less",
    "greater",
    "broadcast",
    "multicast",
    "llc",
    "stp",
    "iso",
    "decnet",
    "atalk",
    "ipx",
    "netbeui",
    "mask",
    "byte",
    "10.0.0.1",
    "10.244",
    "192.168.1.0/24",
    "fe80::1",
    "::",
    "ab:cd:ef:00:00:01",
    "0",
    "1",
    "80",
    "0x1fff",
    "4095",
    "65535",
    "4294967295",
    "tcpflags",
    "tcp-syn",
    "icmptype",
    "icmp-echo",
    "\\tcp",
    "\\ip",
    "smtp",
    "1-1023",
    "domain",
    "esis",
    "isis",
    "l1",
    "clnp",
    "carp",
    "vrrp",
    "ah",
    "esp",
    "pim",
    "igmp",
    "igrp",
    "mopdl",
    "lat",
    "sca",
    "aarp",
    "geneve",
    "inbound",
];

fn grammar_shaped() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(WORDS), 0..40).prop_map(|w| w.join(" "))
}

fn check(expr: &str, pkt: &[u8]) {
    if let Ok(p) = pcap_filter::compile(expr) {
        assert!(p.snaplen <= 2048);
        assert!(!p.insns.is_empty());
        for l3 in [false, true] {
            pcap_filter::interpret(&p, pkt, l3)
                .unwrap_or_else(|e| panic!("{expr:?}: interpreter fault {e}"));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: testkit::proptest_cases(3000), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings(expr in "[ -~]{0,80}", pkt in prop::collection::vec(any::<u8>(), 0..200)) {
        check(&expr, &pkt);
    }

    #[test]
    fn grammar_shaped_strings(expr in grammar_shaped(), pkt in prop::collection::vec(any::<u8>(), 0..200)) {
        check(&expr, &pkt);
    }

    #[test]
    fn realistic_packets(
        expr in prop::sample::select(&["tcp port 80", "vlan and ip6 protochain 17", "ip[ip[0]:4] > 3", "host 10.0.0.1 or arp", "udp[udp[4:2]:2] = 7"][..]),
        mut pkt in prop::collection::vec(any::<u8>(), 14..1600),
        v6 in any::<bool>(),
    ) {
        // An Ethernet header with IPv4 or IPv6 and a plausible version nibble.
        pkt[12] = if v6 { 0x86 } else { 0x08 };
        pkt[13] = if v6 { 0xdd } else { 0x00 };
        if pkt.len() > 14 { pkt[14] = if v6 { 0x60 } else { 0x45 }; }
        check(expr, &pkt);
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowing() {
    let deep = format!("{}ip{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(pcap_filter::compile(&deep).is_err());
    // Length alone is no limit (libpcap has none): a repeated term folds into one.
    let ip = pcap_filter::compile("ip").unwrap();
    let long = vec!["ip"; 5000].join(" or ");
    assert_eq!(pcap_filter::compile(&long).unwrap(), ip);
    let nots = format!("{} ip", "not ".repeat(5000));
    assert_eq!(pcap_filter::compile(&nots).unwrap(), ip);
    let ok = vec!["tcp port 80"; 100].join(" or ");
    assert!(pcap_filter::compile(&ok).is_ok());
    // Arithmetic recursion is bounded.
    let sum = format!("ip[0]{} = 1", " + ip[1]".repeat(1000));
    assert!(pcap_filter::compile(&sum).is_err());
    let mods = format!("ip[0]{} = 1", " % 3".repeat(1000));
    assert!(pcap_filter::compile(&mods).is_err());
    let negs = format!("{}ip[0] = 1", "- ".repeat(100_000));
    assert!(pcap_filter::compile(&negs).is_ok());
}
