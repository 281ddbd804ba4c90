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

#[test]
fn non_ascii_is_refused_at_its_column() {
    for (expr, want) in [
        (
            "hóst 10.0.0.1",
            "syntax error: non-ASCII character 'ó' (U+00F3) at column 2",
        ),
        (
            "tcp port 8０",
            "syntax error: non-ASCII character '０' (U+FF10) at column 11",
        ),
        (
            "tcp and 😀",
            "syntax error: non-ASCII character '😀' (U+1F600) at column 9",
        ),
        // A combining acute accent: columns count characters, not what they look like.
        (
            "ho\u{301}st",
            "syntax error: non-ASCII character '\\u{301}' at column 3",
        ),
        (
            "主机 10.0.0.1",
            "syntax error: non-ASCII character '主' (U+4E3B) at column 1",
        ),
        (
            "tcp\u{a0}port 80",
            "syntax error: non-ASCII character '\\u{a0}' at column 4",
        ),
        (
            "port 80\u{200b}",
            "syntax error: non-ASCII character '\\u{200b}' at column 8",
        ),
        (
            "ip and \u{202e}tcp",
            "syntax error: non-ASCII character '\\u{202e}' at column 8",
        ),
        // Cyrillic 'о' looks like the Latin one.
        (
            "h\u{43e}st 1.2.3.4",
            "syntax error: non-ASCII character 'о' (U+043E) at column 2",
        ),
    ] {
        assert_eq!(err(expr), want, "{expr:?}");
    }
}

#[test]
fn control_characters_are_escaped() {
    assert_eq!(
        err("tcp\u{7}"),
        "syntax error: unexpected character '\\u{7}' at column 4"
    );
    // `\name` takes any bytes up to a space: what it echoes must not drive the terminal.
    assert_eq!(
        err("host \\\u{1b}[2Jx"),
        "unknown host '\\u{1b}[2Jx' (pwru does not resolve names; use an address) at column 6"
    );
    assert_eq!(
        err("\\\u{7f}\u{9b}31m"),
        "unknown protocol '\\u{7f}\\u{9b}31m' at column 1"
    );
    // Whitespace other than the ASCII kind is not whitespace to the lexer, and is shown escaped.
    assert_eq!(
        err("tcp\u{2028}"),
        "syntax error: non-ASCII character '\\u{2028}' at column 4"
    );
}

#[test]
fn the_excerpt_puts_the_caret_under_the_column() {
    let e = |expr: &str| {
        pcap_filter::compile(expr)
            .unwrap_err()
            .excerpt(expr)
            .unwrap()
    };
    assert_eq!(e("hóst 10.0.0.1"), "  hóst 10.0.0.1\n   ^");
    // Wide characters take two cells each.
    assert_eq!(e("tcp port 8０"), "  tcp port 8０\n            ^");
    assert_eq!(e("udp or 主机"), "  udp or 主机\n         ^");
    // Escaped characters take the cells of their escape.
    assert_eq!(
        e("\\\u{7}x or x\u{301}"),
        "  \\\\u{7}x or x\\u{301}\n              ^"
    );
    assert_eq!(e("tcp\tor\n😀"), "  tcp\\tor\\n😀\n           ^");
    assert_eq!(e("tcp and"), "  tcp and\n         ^");
}

/// Every odd character at every place of a few expressions: an error or a program, never a panic, and an
/// error points inside the expression (or just past its end).
#[test]
fn odd_characters_anywhere_never_panic() {
    let odd = [
        "ó",
        "０",
        "😀",
        "\u{301}",
        "主",
        "\u{a0}",
        "\u{200b}",
        "\u{202e}",
        "\u{7}",
        "\u{1b}",
        "\u{7f}",
        "\u{85}",
        "\u{feff}",
        "\u{10ffff}",
        "\\",
        "\\\u{301}",
        "é\u{301}",
        "\u{1f468}\u{200d}\u{1f469}",
        "\t",
        "\n",
        "\r",
        "#",
        "~",
        "\"",
        "$",
    ];
    let exprs = [
        "host 10.0.0.1 and tcp port 80",
        "ether host 00:11:22:33:44:55",
        "ip6 net fe80::/10",
        "ip[2:2] > 576 && tcp[tcpflags] & tcp-syn != 0",
        "portrange 1-1024 or vlan 5",
        "\\x",
    ];
    for expr in exprs {
        let at: Vec<usize> = expr
            .char_indices()
            .map(|(i, _)| i)
            .chain([expr.len()])
            .collect();
        for c in odd {
            for &i in &at {
                let s = format!("{}{c}{}", &expr[..i], &expr[i..]);
                if let Err(e) = pcap_filter::compile(&s) {
                    assert!(e.column <= s.chars().count() + 1, "{s:?}: {e}");
                    assert!(!e.to_string().chars().any(char::is_control), "{s:?}: {e}");
                    assert!(e.excerpt(&s).is_none_or(|x| x.lines().count() == 2));
                }
            }
        }
    }
}

/// Deeply nested expressions of every kind compile or are refused, on a thread with a small stack: the parser and
/// code generator recurse, and an overflow would abort the process instead of printing an error.
#[test]
fn deep_expressions_never_overflow_the_stack() {
    type Make = fn(usize) -> String;
    let kinds: [(&str, Make); 8] = [
        ("not", |n| format!("{}tcp", "not ".repeat(n))),
        ("!", |n| format!("{}tcp", "! ".repeat(n))),
        ("unary minus", |n| format!("ip[0] = {}1", "- ".repeat(n))),
        ("or chain", |n| vec!["tcp"; n / 2].join(" or ")),
        ("and chain", |n| vec!["not udp"; n / 3].join(" and ")),
        ("parentheses", |n| {
            format!("{}tcp{}", "(".repeat(n / 2), ")".repeat(n / 2))
        }),
        ("arithmetic", |n| {
            format!("ip[0] = 1{}", " + 1".repeat(n / 2))
        }),
        ("brackets", |n| {
            format!("{}1{} = 0", "ip[".repeat(n / 2), "]".repeat(n / 2))
        }),
    ];
    for n in [900, 50_000] {
        for (what, make) in kinds {
            let expr = make(n);
            let r = std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn(move || pcap_filter::compile(&expr).map(|p| p.len()))
                .unwrap()
                .join();
            assert!(r.is_ok(), "{what} x{n}: the compiler panicked");
        }
    }
}
