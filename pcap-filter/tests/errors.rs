//! Refused expressions name the problem and the column.

fn err(expr: &str) -> String {
    pcap_filter::compile(expr).expect_err(expr).to_string()
}

#[test]
fn messages_name_problem_and_column() {
    assert_eq!(err("not tcpx"), "unknown protocol 'tcpx' at column 5");
    assert_eq!(err("tcpx"), "unknown protocol 'tcpx' at column 1");
    assert_eq!(
        err("tcp port 80 and"),
        "syntax error: unexpected end of expression at column 16"
    );
    assert_eq!(
        err("vlan 4096"),
        "VLAN tag 4096 greater than maximum 4095 at column 1"
    );
    assert_eq!(
        err("ip net 10.0.0.0/33"),
        "netmask length 33 greater than maximum 32 at column 8"
    );
    assert_eq!(
        err("net 192.168/8"),
        "non-network bits set in \"192.168/8\" at column 5"
    );
    assert_eq!(
        err("ip[0:3] != 0"),
        "data size must be 1, 2, or 4 at column 1"
    );
    assert_eq!(
        err("host example.com"),
        "unknown host 'example.com' (pwru does not resolve names; use an address) at column 6"
    );
    assert_eq!(err("ip[0] / 0 = 1"), "division by zero at column 7");
    assert_eq!(err("08"), "number 08 contains non-octal digit at column 1");
    assert_eq!(
        err("port 70000"),
        "illegal port number 70000 > 65535 at column 6"
    );
    assert!(err("ether host 1.2.3.4").contains("column"));
    assert!(err("pppoes and vlan").starts_with("'vlan' not supported on DLT_PPP"));
}

#[test]
fn no_l3_meaning_matches_nothing_at_l3() {
    // `arp` and `ether host` mean nothing on a raw IP packet: no match there, no error.
    let ip = [
        0x45u8, 0, 0, 20, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    for e in [
        "arp",
        "ether host 00:11:22:33:44:55",
        "vlan",
        "not ip6 and vlan",
    ] {
        let p = pcap_filter::compile(e).unwrap();
        assert_eq!(pcap_filter::interpret(&p, &ip, true).unwrap(), 0, "{e}");
    }
    let p = pcap_filter::compile("icmp and host 10.0.0.2").unwrap();
    assert_eq!(pcap_filter::interpret(&p, &ip, true).unwrap(), 1);
    let p = pcap_filter::compile("not arp").unwrap();
    assert_eq!(pcap_filter::interpret(&p, &ip, true).unwrap(), 1);
}

#[test]
fn snaplen_covers_loads_and_bytes_round_trip() {
    let p = pcap_filter::compile("tcp port 80").unwrap();
    // Ethernet + IPv6 header + ports (14 + 40 + 4), and IPv4 with up to 60 bytes of header.
    assert_eq!(p.snaplen, 14 + 60 + 4);
    let bytes = p.to_bytes();
    assert_eq!(bytes.len(), 8 * p.len());
    let back: Vec<_> = bytes
        .chunks(8)
        .map(|c| pcap_filter::Insn::from_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(back, p.insns);
    assert_eq!(pcap_filter::compile("len > 100").unwrap().snaplen, 0);
    assert!(pcap_filter::disassemble(&p).contains("exit"));
}
