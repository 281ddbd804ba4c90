//! Host end-to-end: the real pwru binary, tracepoint backend, real packets through a veth pair between two
//! network namespaces. Run as root: `cargo test -p pwru --test host_trace`.

use testkit::pwru::*;
use testkit::{NetnsPair, need_tool, pwru_bin, serial};

/// Events of the ICMP echo between the two sides, from JSON output.
fn icmp_events(f: &Finished, t: &NetnsPair) -> Vec<serde_json::Value> {
    f.json()
        .into_iter()
        .filter(|e| {
            e["tuple"]["proto"] == 1
                && ((e["tuple"]["saddr"] == t.ip_a.as_str()
                    && e["tuple"]["daddr"] == t.ip_b.as_str())
                    || (e["tuple"]["saddr"] == t.ip_b.as_str()
                        && e["tuple"]["daddr"] == t.ip_a.as_str()))
        })
        .collect()
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn ping_between_namespaces_text() {
    let _g = serial();
    let t = NetnsPair::builder("t11", 11).resolve_neighbours().build();
    let p = Pwru::start(&[]);
    t.exec(&t.a, &format!("ping -c2 -i0.2 -m 42 {}", t.ip_b));
    settle();
    let f = p.stop(SIGINT);
    assert_eq!(f.code, Some(0), "{}", f.stderr);

    let lines = f.lines();
    assert!(
        lines[0].starts_with("SKB                CPU PROCESS          NETNS      MARK/x        IFACE       PROTO  MTU   LEN   TUPLE"),
        "header: {}",
        lines[0]
    );
    let req = format!("{}:0->{}:0(icmp)", t.ip_a, t.ip_b);
    let rep = format!("{}:0->{}:0(icmp)", t.ip_b, t.ip_a);
    let evs: Vec<TextLine> = lines.iter().filter_map(|l| parse_text(l)).collect();
    let iface_a = format!("{}:{}", t.veth_a, t.ifindex_a);
    let iface_b = format!("{}:{}", t.veth_b, t.ifindex_b);
    let has = |tuple: &str, netns: u32, iface: &str, funcs: &[&str], mark: &str| {
        evs.iter().any(|e| {
            e.tuple == tuple
                && e.netns == netns
                && e.iface == iface
                && funcs.contains(&e.func.as_str())
                && e.mark == mark
        })
    };
    let xmit = ["net_dev_queue", "net_dev_start_xmit"];
    let all = lines.join("\n");
    // The request leaves a with ping's SO_MARK 0x2a, crosses the veth (which scrubs the mark) and arrives in b.
    assert!(
        has(&req, t.inode_a, &iface_a, &xmit, "2a"),
        "request xmit in a missing:\n{all}"
    );
    assert!(
        has(&req, t.inode_b, &iface_b, &["netif_receive_skb"], "0"),
        "request receive in b missing:\n{all}"
    );
    assert!(
        has(&rep, t.inode_b, &iface_b, &xmit, "0"),
        "reply xmit in b missing:\n{all}"
    );
    assert!(
        has(&rep, t.inode_a, &iface_a, &["netif_receive_skb"], "0"),
        "reply receive in a missing:\n{all}"
    );
    // Two pings: at least two distinct skbs per direction on the wire.
    let req_skbs: std::collections::HashSet<_> = evs
        .iter()
        .filter(|e| e.tuple == req && e.func == "netif_receive_skb")
        .map(|e| e.skb.clone())
        .collect();
    assert!(!req_skbs.is_empty());
    assert_eq!(
        evs.iter()
            .filter(|e| e.tuple == req && e.func == "netif_receive_skb" && e.netns == t.inode_b)
            .count(),
        2,
        "one netif_receive_skb per echo request in b:\n{all}"
    );
    // Stable columns: FUNC starts at the same offset on every event line.
    let col = lines[0].find(" FUNC").unwrap() + 1;
    for l in lines.iter().filter(|l| l.contains(&req)) {
        assert_eq!(l.chars().nth(col - 1), Some(' '), "{l}");
        assert!(
            l[col..].starts_with(|c: char| c.is_ascii_alphabetic()),
            "FUNC column moved: {l}"
        );
    }
    assert!(f.stderr.contains("events produced"), "{}", f.stderr);
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn drops_carry_their_reason() {
    let _g = serial();
    need_tool("nft");
    let t = NetnsPair::builder("t12", 12).resolve_neighbours().build();
    t.exec(
        &t.b,
        "nft add table inet pwrut && nft add chain inet pwrut in \"{ type filter hook input priority 0; }\" && nft add rule inet pwrut in udp dport 7777 drop",
    );
    let p = Pwru::start(&["--output-json", "--output-caller"]);
    // Nothing listens on 9 in b: NO_SOCKET. Port 7777 is dropped by the nft rule: NETFILTER_DROP.
    t.exec(
        &t.a,
        &format!(
            "echo x | socat - UDP4-SENDTO:{}:9; echo y | socat - UDP4-SENDTO:{}:7777",
            t.ip_b, t.ip_b
        ),
    );
    settle();
    let f = p.stop(SIGINT);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let evs = f.json();
    let drop_of = |dport: u64| {
        evs.iter()
            .filter(|e| {
                e["tuple"]["dport"] == dport
                    && e["tuple"]["daddr"] == t.ip_b.as_str()
                    && e["func"] == "kfree_skb"
            })
            .map(|e| {
                (
                    e["drop_reason"]["name"].as_str().unwrap_or("").to_string(),
                    e["netns"].as_u64().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert!(
        drop_of(9).contains(&("NO_SOCKET".into(), t.inode_b as u64)),
        "{:?}",
        drop_of(9)
    );
    // The drop's caller is where the kernel dropped it (the tracepoint's location), here UDP's receive path.
    let udp_drop = evs
        .iter()
        .find(|e| e["tuple"]["dport"] == 9 && e["drop_reason"]["name"] == "NO_SOCKET")
        .unwrap();
    assert!(
        udp_drop["caller_func"]
            .as_str()
            .unwrap()
            .starts_with("__udp4_lib_rcv+0x"),
        "{udp_drop}"
    );
    assert!(
        drop_of(7777).contains(&("NETFILTER_DROP".into(), t.inode_b as u64)),
        "{:?}",
        drop_of(7777)
    );
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn drop_reason_in_text_func_column() {
    let _g = serial();
    need_tool("socat");
    let t = NetnsPair::builder("t13", 13).resolve_neighbours().build();
    let p = Pwru::start(&["--filter-netns", &t.path_b()]);
    t.exec(&t.a, &format!("echo x | socat - UDP4-SENDTO:{}:9", t.ip_b));
    settle();
    let f = p.stop(SIGINT);
    let want = format!("{}:", t.ip_a);
    assert!(
        f.lines().iter().any(|l| l.contains(&want)
            && l.contains(":9(udp)")
            && l.ends_with(" kfree_skb(NO_SOCKET)")),
        "{}",
        f.output
    );
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn netns_mark_and_ifname_filters_select_exactly() {
    let _g = serial();
    let t = NetnsPair::builder("t14", 14).resolve_neighbours().build();
    let ping = |p: Pwru| {
        t.exec(&t.a, &format!("ping -c2 -i0.2 -m 42 {}", t.ip_b));
        settle();
        let f = p.stop(SIGINT);
        assert_eq!(f.code, Some(0), "{}", f.stderr);
        f
    };

    let f = ping(Pwru::start(&[
        "--output-json",
        "--filter-netns",
        &t.path_b(),
    ]));
    let evs = f.json();
    assert!(
        evs.iter().all(|e| e["netns"] == t.inode_b),
        "other netns leaked:\n{}",
        f.output
    );
    let icmp = icmp_events(&f, &t);
    assert!(
        icmp.iter()
            .any(|e| e["func"] == "netif_receive_skb" && e["tuple"]["saddr"] == t.ip_a.as_str())
    );
    assert!(
        icmp.iter().any(|e| e["tuple"]["saddr"] == t.ip_b.as_str()),
        "reply from b missing"
    );

    let f = ping(Pwru::start(&[
        "--output-json",
        "--filter-netns",
        &format!("inode:{}", t.inode_a),
    ]));
    assert!(f.json().iter().all(|e| e["netns"] == t.inode_a));
    assert!(
        icmp_events(&f, &t)
            .iter()
            .any(|e| e["func"] == "net_dev_start_xmit" || e["func"] == "net_dev_queue")
    );

    let f = ping(Pwru::start(&["--output-json", "--filter-mark", "0x2a"]));
    let evs = f.json();
    assert!(!evs.is_empty(), "no marked packet seen");
    assert!(
        evs.iter().all(|e| e["mark"] == 0x2a),
        "unmarked packet leaked:\n{}",
        f.output
    );
    let icmp = icmp_events(&f, &t);
    assert!(
        icmp.iter()
            .all(|e| e["tuple"]["saddr"] == t.ip_a.as_str() && e["netns"] == t.inode_a)
    );
    assert!(icmp.len() >= 2, "{}", f.output);

    let f = ping(Pwru::start(&[
        "--output-json",
        "--filter-mark",
        "0x20/0xf0",
    ]));
    assert!(
        f.json()
            .iter()
            .all(|e| e["mark"].as_u64().unwrap() & 0xf0 == 0x20)
    );
    assert!(!icmp_events(&f, &t).is_empty());

    let f = ping(Pwru::start(&[
        "--output-json",
        "--filter-netns",
        &t.path_b(),
        "--filter-ifname",
        &t.veth_b,
    ]));
    let evs = f.json();
    assert!(
        evs.iter()
            .all(|e| e["ifindex"] == t.ifindex_b && e["netns"] == t.inode_b),
        "{}",
        f.output
    );
    assert!(
        evs.iter()
            .all(|e| e["iface"] == format!("{}:{}", t.veth_b, t.ifindex_b).as_str())
    );
    assert!(
        icmp_events(&f, &t).len() >= 4,
        "request and reply, twice:\n{}",
        f.output
    );
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn json_fields_and_limit_lines() {
    let _g = serial();
    let t = NetnsPair::builder("t15", 15).resolve_neighbours().build();
    let p = Pwru::start(&[
        "--output-json",
        "--filter-netns",
        &t.path_b(),
        "--timestamp",
        "absolute",
    ]);
    t.exec(&t.a, &format!("ping -c1 {}", t.ip_b));
    settle();
    let f = p.stop(SIGTERM);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let icmp = icmp_events(&f, &t);
    let rx = icmp
        .iter()
        .find(|e| e["func"] == "netif_receive_skb" && e["tuple"]["saddr"] == t.ip_a.as_str())
        .unwrap_or_else(|| panic!("{}", f.output));
    assert!(rx["skb"].as_str().unwrap().starts_with("0x"));
    assert!(rx["cpu"].is_u64() && rx["mark"] == 0 && rx["process"].is_string());
    assert_eq!(rx["netns"], t.inode_b);
    assert_eq!(rx["iface"], format!("{}:{}", t.veth_b, t.ifindex_b));
    assert_eq!(rx["proto"], 0x0800);
    assert_eq!(rx["len"], 84);
    assert_eq!(rx["mtu"], 1500);
    assert_eq!(rx["tuple"]["daddr"], t.ip_b.as_str());
    assert_eq!(rx["func_kind"], "tracepoint");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let wall = rx["wall_ns"].as_u64().unwrap();
    assert!(
        now - wall < 30_000_000_000,
        "event time {wall} is not within 30 s of now {now}"
    );
    assert_eq!(rx["time"].as_str().unwrap().len(), 23);
    for l in f.output.lines() {
        let back: event::JsonEvent = serde_json::from_str(l).unwrap();
        assert!(back.skb.starts_with("0x"));
    }

    // --output-limit-lines: exactly N events, then pwru exits by itself with 0.
    let p = Pwru::start(&["--output-limit-lines", "5", "--filter-netns", &t.path_b()]);
    t.exec(&t.a, &format!("ping -c3 -i0.2 {}", t.ip_b));
    let f = p.wait();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let lines = f.lines();
    assert_eq!(lines.len(), 6, "header + 5 events:\n{}", f.output);
    assert!(
        lines[1..]
            .iter()
            .all(|l| parse_text(l).is_some_and(|e| e.netns == t.inode_b)),
        "{}",
        f.output
    );

    let p = Pwru::start(&["--output-json", "--output-limit-lines", "3"]);
    t.exec(&t.a, &format!("ping -c3 -i0.2 {}", t.ip_b));
    let f = p.wait();
    assert_eq!(f.json().len(), 3, "{}", f.output);
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn meta_and_tuple_columns_can_be_switched_off() {
    let _g = serial();
    let t = NetnsPair::builder("t16", 16).resolve_neighbours().build();
    let p = Pwru::start(&[
        "--output-meta=false",
        "--output-tuple=false",
        "--filter-netns",
        &t.path_b(),
    ]);
    t.exec(&t.a, &format!("ping -c1 {}", t.ip_b));
    settle();
    let f = p.stop(SIGINT);
    let lines = f.lines();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["SKB", "CPU", "PROCESS", "FUNC"]
    );
    assert!(
        lines
            .iter()
            .skip(1)
            .any(|l| l.ends_with(" netif_receive_skb") && l.split_whitespace().count() == 4)
    );
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn pcap_filter_selects_exactly() {
    let _g = serial();
    need_tool("socat");
    let t = NetnsPair::builder("t18", 18).resolve_neighbours().build();
    let p = Pwru::start(&[
        "--output-json",
        &format!("udp and dst host {} and dst port 9", t.ip_b),
    ]);
    // Two UDP datagrams to port 9 and one to port 10 plus a ping: only the port-9 ones may be traced.
    t.exec(
        &t.a,
        &format!(
            "echo x | socat - UDP4-SENDTO:{b}:9; echo y | socat - UDP4-SENDTO:{b}:9; echo z | socat - UDP4-SENDTO:{b}:10; ping -c1 {b} >/dev/null",
            b = t.ip_b
        ),
    );
    settle();
    let f = p.stop(SIGINT);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let evs = f.json();
    assert!(!evs.is_empty(), "nothing traced:\n{}", f.stderr);
    for e in &evs {
        assert_eq!(e["tuple"]["proto"], 17, "{e}");
        assert_eq!(e["tuple"]["daddr"], t.ip_b.as_str(), "{e}");
        assert_eq!(e["tuple"]["dport"], 9, "{e}");
    }
    let skbs: std::collections::HashSet<_> = evs
        .iter()
        .filter(|e| e["func"] == "netif_receive_skb")
        .map(|e| e["skb"].as_str().unwrap())
        .collect();
    let rx = evs
        .iter()
        .filter(|e| e["func"] == "netif_receive_skb" && e["netns"] == t.inode_b)
        .count();
    assert_eq!(
        rx, 2,
        "two datagrams received in b (skbs {skbs:?}):\n{}",
        f.output
    );
    assert!(
        evs.iter()
            .any(|e| e["func"] == "kfree_skb" && e["drop_reason"]["name"] == "NO_SOCKET")
    );

    // A bad expression is a one-line error before anything is attached.
    let out = std::process::Command::new(pwru_bin())
        .args(["--backend", "tracepoint", "tcpx"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(
        err.trim_end(),
        "pwru: filter: unknown protocol 'tcpx' at column 1"
    );
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn caller_and_stack_of_tracepoint_events() {
    let _g = serial();
    let t = NetnsPair::builder("t19", 19).resolve_neighbours().build();
    let p = Pwru::start(&[
        "--output-json",
        "--output-caller",
        "--output-stack",
        "--filter-netns",
        &t.path_a(),
    ]);
    t.exec(&t.a, &format!("ping -c3 -i0.2 {}", t.ip_b));
    settle();
    let f = p.stop(SIGINT);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let icmp = icmp_events(&f, &t);
    // A stack id can be missing when the kernel's stack map bucket is taken (bpf_get_stackid -EEXIST), so look
    // at the transmissions that have one: the tracepoint fires in dev_hard_start_xmit, and the tracing
    // machinery's own frames (bpf_trace_run*, __traceiter_*) are not shown.
    let xmits: Vec<_> = icmp
        .iter()
        .filter(|e| {
            e["func"] == "net_dev_start_xmit"
                && e["stack"].as_array().is_some_and(|s| !s.is_empty())
        })
        .collect();
    assert!(
        !xmits.is_empty(),
        "no net_dev_start_xmit with a stack out of 3 pings:\n{}",
        f.output
    );
    for x in xmits {
        assert!(
            x["caller_func"]
                .as_str()
                .unwrap()
                .starts_with("dev_hard_start_xmit+0x"),
            "{x}"
        );
        let stack: Vec<&str> = x["stack"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        assert_eq!(stack.first().copied(), x["caller_func"].as_str());
        assert!(
            stack
                .iter()
                .any(|f| f.starts_with("ip_output") || f.starts_with("ip_finish_output")),
            "{stack:?}"
        );
        assert!(
            !stack
                .iter()
                .any(|f| f.starts_with("bpf_trace_run") || f.starts_with("__traceiter_")),
            "{stack:?}"
        );
    }
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn ipv6_ping_in_brackets() {
    let _g = serial();
    let t = NetnsPair::builder("t20", 20)
        .ipv6()
        .resolve_neighbours()
        .build();
    t.exec(&t.a, "ping -6 -c1 -W2 fd00:20::2 >/dev/null");
    let p = Pwru::start(&["--filter-netns", &t.path_b()]);
    t.exec(&t.a, "ping -6 -c1 fd00:20::2");
    settle();
    let f = p.stop(SIGINT);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let evs: Vec<TextLine> = f.lines().iter().filter_map(|l| parse_text(l)).collect();
    let iface_b = format!("{}:{}", t.veth_b, t.ifindex_b);
    assert!(
        evs.iter()
            .any(|e| e.tuple == "[fd00:20::1]:0->[fd00:20::2]:0(icmp6)"
                && e.func == "netif_receive_skb"
                && e.iface == iface_b
                && e.proto == "0x86dd"),
        "{}",
        f.output
    );
    assert!(
        evs.iter()
            .any(|e| e.tuple == "[fd00:20::2]:0->[fd00:20::1]:0(icmp6)"),
        "reply missing:\n{}",
        f.output
    );
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn netns_names_from_ip_netns() {
    let _g = serial();
    let t = NetnsPair::builder("t19", 19).resolve_neighbours().build();
    let only = "icmp and (net 10.19.0.0/24 or net 10.20.0.0/24)";
    let p = Pwru::start(&["--output-json", "--output-netns-names", only]);
    // Made after pwru started (and silent until the ping below): named all the same, a miss rescans.
    let late = NetnsPair::new("t19late", 20);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    t.exec(&t.a, &format!("ping -c1 {}", t.ip_b));
    late.exec(&late.a, &format!("ping -c1 {}", late.ip_b));
    settle();
    let f = p.stop(SIGINT);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let evs = f.json();
    for (inode, name) in [
        (t.inode_a, &t.a),
        (t.inode_b, &t.b),
        (late.inode_a, &late.a),
        (late.inode_b, &late.b),
    ] {
        let of_ns: Vec<_> = evs.iter().filter(|e| e["netns"] == inode).collect();
        assert!(!of_ns.is_empty(), "no event in {name}:\n{}", f.output);
        assert!(
            of_ns.iter().all(|e| e["netns_name"] == name.as_str()),
            "{name}:\n{}",
            f.output
        );
    }

    // Text: a NETNS NAME column, cut to --netns-names-max-length (10 at least, as in pwru).
    let p = Pwru::start(&[
        "--output-netns-names",
        "--netns-names-max-length",
        "3",
        only,
    ]);
    t.exec(&t.a, &format!("ping -c1 {}", t.ip_b));
    settle();
    let f = p.stop(SIGINT);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert!(f.lines()[0].contains(" NETNS NAME "), "{}", f.output);
    let cut: String = t.b.chars().take(10).collect();
    assert!(
        f.lines()
            .iter()
            .any(|l| l.contains(&format!(" {cut} ")) && l.contains(&t.inode_b.to_string())),
        "{}",
        f.output
    );
}
