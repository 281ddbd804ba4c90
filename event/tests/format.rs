//! Golden lines for the text and JSON formats.

use event::{
    Annotation, DropReason, Event, FuncKind, JsonEvent, JsonFormatter, JsonTime, OutputOptions,
    TextFormatter, TimestampMode, Tuple,
};
use std::net::IpAddr;

fn ping() -> Event {
    Event {
        skb: 0xff3f834f3ffb7a00,
        cpu: 1,
        pid: 995,
        process: "~r/sbin/ping:995".into(),
        ktime_ns: 1_000_000_123,
        wall_ns: 1_700_000_000_123_456_789,
        netns: 4026531840,
        mark: 0x1a,
        ifindex: 3,
        ifname: Some("veth0".into()),
        proto: 0x0800,
        mtu: 1500,
        len: 84,
        pkt_type: 0,
        tuple: Some(Tuple {
            saddr: "10.0.0.1".parse().unwrap(),
            daddr: "10.0.0.2".parse().unwrap(),
            sport: 0,
            dport: 0,
            proto: 1,
            tcp_flags: 0,
        }),
        func: "net_dev_start_xmit".into(),
        func_kind: FuncKind::Tracepoint,
        ..Default::default()
    }
}

fn v6() -> Event {
    Event {
        tuple: Some(Tuple {
            saddr: "fd00::1".parse().unwrap(),
            daddr: "fd00::2".parse().unwrap(),
            sport: 40000,
            dport: 443,
            proto: 6,
            tcp_flags: 0x12,
        }),
        proto: 0x86dd,
        len: 80,
        ifname: None,
        ifindex: 2,
        mark: 0,
        netns: 4026532115,
        func: "ip6_rcv_core".into(),
        ..ping()
    }
}

/// A lookup that hit, in a hash map of 4-byte keys and 8-byte values.
fn map_lookup() -> event::MapOp {
    event::MapOp {
        op: event::MapOpKind::Lookup,
        map_id: 12,
        map_name: "pwru_test_hash".into(),
        map_type: "hash".into(),
        key_size: 4,
        value_size: 8,
        key: vec![10, 0, 0, 2],
        value: Some(vec![0x2a, 0, 0, 0, 0, 0, 0, 0]),
        hit: Some(true),
        cut: false,
        decoded: None,
    }
}

fn drop_ev() -> Event {
    Event {
        func: "kfree_skb".into(),
        drop_reason: Some(DropReason {
            code: 2,
            name: Some("NO_SOCKET".into()),
        }),
        tuple: Some(Tuple {
            saddr: "10.0.0.1".parse().unwrap(),
            daddr: "10.0.0.2".parse().unwrap(),
            sport: 51234,
            dport: 9,
            proto: 17,
            tcp_flags: 0,
        }),
        ..ping()
    }
}

const HEADER: &str = "SKB                CPU PROCESS          NETNS      MARK/x        IFACE       PROTO  MTU   LEN   TUPLE                                               FUNC";

#[test]
fn header_matches_pwru_columns() {
    let f = TextFormatter::new(OutputOptions::default());
    assert_eq!(f.header(), HEADER);
}

#[test]
fn ping_line() {
    let mut f = TextFormatter::new(OutputOptions::default());
    assert_eq!(
        f.format(&ping()),
        "0xff3f834f3ffb7a00 1   ~r/sbin/ping:995 4026531840 1a           veth0:3      0x0800 1500  84    10.0.0.1:0->10.0.0.2:0(icmp)                        net_dev_start_xmit\n"
    );
}

#[test]
fn columns_line_up_with_header_whatever_the_tuple() {
    let mut f = TextFormatter::new(OutputOptions::default());
    let func_col = HEADER.find("FUNC").unwrap();
    for ev in [ping(), drop_ev()] {
        let line = f.format(&ev);
        assert_eq!(line.find(&ev.func_display()).unwrap(), func_col, "{line}");
    }
}

#[test]
fn ipv6_line_in_brackets_with_tcp_flags() {
    let mut f = TextFormatter::new(OutputOptions {
        tcp_flags: true,
        ..Default::default()
    });
    assert_eq!(
        f.format(&v6()),
        "0xff3f834f3ffb7a00 1   ~r/sbin/ping:995 4026532115 0               2         0x86dd 1500  80    [fd00::1]:40000->[fd00::2]:443(tcp:SYN|ACK)         ip6_rcv_core\n"
    );
}

#[test]
fn drop_reason_in_func_column() {
    let mut f = TextFormatter::new(OutputOptions::default());
    let line = f.format(&drop_ev());
    assert!(
        line.ends_with(
            " 10.0.0.1:51234->10.0.0.2:9(udp)                     kfree_skb(NO_SOCKET)\n"
        ),
        "{line}"
    );
    let unnamed = Event {
        drop_reason: Some(DropReason {
            code: 77,
            name: None,
        }),
        ..drop_ev()
    };
    assert!(f.format(&unnamed).ends_with(" kfree_skb(77)\n"));
}

#[test]
fn meta_and_tuple_can_be_dropped() {
    let opts = OutputOptions {
        meta: false,
        tuple: false,
        ..Default::default()
    };
    let mut f = TextFormatter::new(opts);
    assert_eq!(f.header(), "SKB                CPU PROCESS          FUNC");
    assert_eq!(
        f.format(&ping()),
        "0xff3f834f3ffb7a00 1   ~r/sbin/ping:995 net_dev_start_xmit\n"
    );
}

#[test]
fn caller_stack_and_annotations() {
    let opts = OutputOptions {
        meta: false,
        tuple: false,
        caller: true,
        stack: true,
        ..Default::default()
    };
    let mut f = TextFormatter::new(opts);
    let ev = Event {
        caller: Some("ip_finish_output2+0x1a2".into()),
        stack: vec!["dev_queue_xmit+0x10".into(), "ip_output+0x70".into()],
        annotations: vec![Annotation {
            name: "cilium".into(),
            lines: vec!["cilium: endpoint 42".into()],
            json: serde_json::json!({"endpoint": 42}),
        }],
        ..ping()
    };
    assert_eq!(
        f.header(),
        format!(
            "SKB                CPU PROCESS          {:<40} CALLER",
            "FUNC"
        )
    );
    assert_eq!(
        f.format(&ev),
        format!(
            "0xff3f834f3ffb7a00 1   ~r/sbin/ping:995 {:<40} ip_finish_output2+0x1a2\n    dev_queue_xmit+0x10\n    ip_output+0x70\n    cilium: endpoint 42\n",
            "net_dev_start_xmit"
        )
    );
}

#[test]
fn timestamps() {
    let mut f = TextFormatter::new(OutputOptions {
        timestamp: TimestampMode::Relative,
        ..Default::default()
    });
    assert!(
        f.header()
            .starts_with("SKB                CPU PROCESS          TIMESTAMP        NETNS")
    );
    let a = ping();
    let b = Event {
        ktime_ns: a.ktime_ns + 2500,
        ..ping()
    };
    assert!(
        f.format(&a)
            .contains(" ~r/sbin/ping:995 0                4026531840 ")
    );
    assert!(
        f.format(&b)
            .contains(" ~r/sbin/ping:995 2500             4026531840 ")
    );

    let mut f = TextFormatter::new(OutputOptions {
        timestamp: TimestampMode::Current,
        ..Default::default()
    });
    assert!(
        f.format(&a)
            .contains(" ~r/sbin/ping:995 1000000123       4026531840 ")
    );

    let f = TextFormatter::new(OutputOptions {
        timestamp: TimestampMode::Absolute,
        ..Default::default()
    });
    assert!(f.header().starts_with("TIME                    SKB "));
}

#[test]
fn absolute_time_is_event_time_in_local_zone() {
    // The only test in this binary that touches TZ; every value it sets is UTC.
    unsafe {
        std::env::set_var("TZ", "UTC");
        libc_tzset();
    }
    let mut f = TextFormatter::new(OutputOptions {
        timestamp: TimestampMode::Absolute,
        ..Default::default()
    });
    let line = f.format(&ping());
    assert!(
        line.starts_with("2023-11-14T22:13:20.123 0xff3f834f3ffb7a00 "),
        "{line}"
    );
}

unsafe extern "C" {
    #[link_name = "tzset"]
    fn libc_tzset();
}

#[test]
fn long_ifname_keeps_ifindex() {
    let mut f = TextFormatter::new(OutputOptions::default());
    let ev = Event {
        ifname: Some("lxc1234567890ab".into()),
        ifindex: 12345,
        ..ping()
    };
    let line = f.format(&ev);
    assert!(line.contains(" ~4567890ab:12345 0x0800 "), "{line}");
}

#[test]
fn non_ip_packet_has_placeholder_tuple() {
    let mut f = TextFormatter::new(OutputOptions::default());
    let ev = Event {
        tuple: None,
        proto: 0x0806,
        func: "arp_rcv".into(),
        ..ping()
    };
    let line = f.format(&ev);
    assert!(
        line.ends_with(&format!(" 0x0806 1500  84    {:<51} arp_rcv\n", "-")),
        "{line}"
    );
}

#[test]
fn json_keeps_zero_values_and_round_trips() {
    let mut f = JsonFormatter::new(OutputOptions {
        timestamp: TimestampMode::Current,
        ..Default::default()
    });
    let ev = Event {
        cpu: 0,
        mark: 0,
        proto: 0,
        ..ping()
    };
    let line = f.format(&ev);
    assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["skb"], "0xff3f834f3ffb7a00");
    assert_eq!(v["cpu"], 0);
    assert_eq!(v["mark"], 0);
    assert_eq!(v["proto"], 0);
    assert_eq!(v["process"], "~r/sbin/ping:995");
    assert_eq!(v["func"], "net_dev_start_xmit");
    assert_eq!(v["func_kind"], "tracepoint");
    assert_eq!(v["netns"], 4026531840u64);
    assert_eq!(v["iface"], "veth0:3");
    assert_eq!(v["mtu"], 1500);
    assert_eq!(v["len"], 84);
    assert_eq!(v["time"], 1_000_000_123u64);
    assert_eq!(v["tuple"]["saddr"], "10.0.0.1");
    assert_eq!(v["tuple"]["daddr"], "10.0.0.2");
    assert_eq!(v["tuple"]["sport"], 0);
    assert_eq!(v["tuple"]["proto"], 1);
    assert_eq!(v["tuple"]["flags"], "");
    assert!(
        v.get("caller_func").is_none()
            && v.get("stack").is_none()
            && v.get("drop_reason").is_none()
    );

    let back: JsonEvent = serde_json::from_str(&line).unwrap();
    assert_eq!(back, JsonEvent::new(&ev, &f.opts, 0));
    assert_eq!(back.time, Some(JsonTime::Ns(1_000_000_123)));
    assert_eq!(back.meta.as_ref().unwrap().ifname.as_deref(), Some("veth0"));
}

#[test]
fn json_drop_ipv6_annotations() {
    let mut f = JsonFormatter::new(OutputOptions {
        caller: true,
        stack: true,
        ..Default::default()
    });
    let ev = Event {
        caller: Some("udp_rcv+0x15".into()),
        stack: vec!["a+0x1".into()],
        annotations: vec![Annotation {
            name: "cilium".into(),
            lines: vec![],
            json: serde_json::json!({"ep": 7}),
        }],
        ..drop_ev()
    };
    let line = f.format(&ev);
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["func"], "kfree_skb");
    assert_eq!(v["drop_reason"]["name"], "NO_SOCKET");
    assert_eq!(v["drop_reason"]["code"], 2);
    assert_eq!(v["caller_func"], "udp_rcv+0x15");
    assert_eq!(v["stack"][0], "a+0x1");
    assert_eq!(v["cilium"]["ep"], 7);
    assert!(v.get("time").is_none());
    let back: JsonEvent = serde_json::from_str(&line).unwrap();
    assert_eq!(back.annotations["cilium"]["ep"], 7);

    let line = f.format(&v6());
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["tuple"]["saddr"], "fd00::1");
    assert_eq!(v["tuple"]["flags"], "SYN|ACK");
    assert_eq!(v["iface"], "2");
    assert_eq!(v["ifname"], serde_json::Value::Null);
    let back: JsonEvent = serde_json::from_str(&line).unwrap();
    assert_eq!(
        back.tuple.unwrap().unwrap().daddr,
        "fd00::2".parse::<IpAddr>().unwrap()
    );

    let no_meta = OutputOptions {
        meta: false,
        tuple: false,
        ..Default::default()
    };
    let mut f = JsonFormatter::new(no_meta);
    let v: serde_json::Value = serde_json::from_str(&f.format(&ping())).unwrap();
    assert!(v.get("netns").is_none() && v.get("tuple").is_none() && v.get("iface").is_none());
}

#[test]
fn json_relative_time_is_per_skb_like_text() {
    let opts = OutputOptions {
        timestamp: TimestampMode::Relative,
        ..Default::default()
    };
    let (mut j, mut t) = (JsonFormatter::new(opts), TextFormatter::new(opts));
    let at = |skb: u64, ktime_ns: u64| Event {
        skb,
        ktime_ns,
        ..ping()
    };
    let mut times = Vec::new();
    for ev in [at(1, 100), at(2, 130), at(1, 175), at(2, 200)] {
        let v: serde_json::Value = serde_json::from_str(&j.format(&ev)).unwrap();
        let text = t.format(&ev);
        let col: u64 = text.split_whitespace().nth(3).unwrap().parse().unwrap();
        assert_eq!(v["time"].as_u64(), Some(col), "{text}");
        times.push(col);
    }
    assert_eq!(times, [0, 0, 75, 70]);
}

/// A JSON line read back gives the event it was made of, so the text printed from it is the live run's line, with
/// every option combination (what the JSON left out is what the text would not show either, given the same flags).
#[test]
fn json_lines_read_back_print_the_same_text() {
    let annotated = Event {
        netns_name: Some("pod-a".into()),
        packet: Some(event::Packet {
            start: event::PacketStart::L2,
            orig_len: 98,
            data: vec![0, 0xab, 0xff, 0x45],
        }),
        caller: Some("udp_rcv+0x15".into()),
        stack: vec!["a+0x1".into(), "b+0x2".into()],
        annotations: vec![
            Annotation {
                name: "cilium".into(),
                lines: vec!["cilium ep 7".into(), "cilium ct new".into()],
                json: serde_json::json!({"ep": 7}),
            },
            Annotation {
                // A name that is one of the event's keys.
                name: "mark".into(),
                lines: vec!["m".into()],
                json: serde_json::json!(1),
            },
        ],
        tunnel: vxlan_ping().tunnel,
        map_op: Some(event::MapOp {
            op: event::MapOpKind::Update,
            hit: None,
            cut: true,
            ..map_lookup()
        }),
        ..drop_ev()
    };
    let evs = [ping(), v6(), drop_ev(), vxlan_ping(), annotated.clone()];
    let all = OutputOptions {
        meta: true,
        tuple: true,
        tcp_flags: true,
        caller: true,
        stack: true,
        skb_cb: true,
        timestamp: TimestampMode::Relative,
        netns_names: Some(16),
        tunnel: true,
    };
    // Everything printed: the very event comes back.
    let mut j = JsonFormatter::new(all);
    let back: JsonEvent = serde_json::from_str(&j.format(&annotated)).unwrap();
    assert_eq!(back.to_event(), annotated);
    for opts in [
        OutputOptions::default(),
        all,
        OutputOptions {
            meta: false,
            tuple: false,
            timestamp: TimestampMode::Absolute,
            ..Default::default()
        },
        OutputOptions {
            timestamp: TimestampMode::Current,
            caller: true,
            ..Default::default()
        },
    ] {
        let (mut j, mut live, mut replay) = (
            JsonFormatter::new(opts),
            TextFormatter::new(opts),
            TextFormatter::new(opts),
        );
        for ev in &evs {
            let line = j.format(ev);
            let back: JsonEvent = serde_json::from_str(&line).unwrap();
            assert_eq!(replay.format(&back.to_event()), live.format(ev), "{line}");
        }
    }
}

#[test]
fn netns_name_column_and_key() {
    let opts = OutputOptions {
        netns_names: Some(10),
        ..Default::default()
    };
    let mut f = TextFormatter::new(opts);
    let header = f.header();
    assert!(header.contains("LEN   NETNS NAME TUPLE"), "{header}");
    let named = Event {
        netns_name: Some("kube-system/coredns-abc".into()),
        ..ping()
    };
    let line = f.format(&named);
    // Cut to the width, centred; a namespace without a name shows `-`.
    assert!(line.contains(" 84    kube-syste 10.0.0.1:0->"), "{line}");
    let line = f.format(&ping());
    assert!(line.contains(" 84        -      10.0.0.1:0->"), "{line}");
    assert_eq!(
        line.split_whitespace().count(),
        12,
        "one more column than without names: {line}"
    );

    let mut j = JsonFormatter::new(opts);
    let v: serde_json::Value = serde_json::from_str(&j.format(&named)).unwrap();
    assert_eq!(v["netns_name"], "kube-system/coredns-abc");
    let back: JsonEvent = serde_json::from_str(&j.format(&named)).unwrap();
    assert_eq!(back.netns_name.as_deref(), Some("kube-system/coredns-abc"));
    assert!(back.annotations.is_empty());
    let v: serde_json::Value = serde_json::from_str(&j.format(&ping())).unwrap();
    assert!(v.get("netns_name").is_none(), "absent when unknown: {v}");
    // Without the option the key never appears, even when the event has a name.
    let mut j = JsonFormatter::new(OutputOptions::default());
    let v: serde_json::Value = serde_json::from_str(&j.format(&named)).unwrap();
    assert!(v.get("netns_name").is_none());
}

fn with_values() -> Event {
    use event::{Dump, DumpKind, Metadata};
    Event {
        metadata: vec![
            Metadata {
                expr: "skb->hash".into(),
                text: "0x1a2b3c4d".into(),
                json: serde_json::json!(0x1a2b3c4d),
            },
            Metadata {
                expr: "skb->dev->name".into(),
                text: "\"veth0\"".into(),
                json: serde_json::json!("veth0"),
            },
            Metadata {
                expr: "skb->sk->__sk_common.skc_family".into(),
                text: "<null>".into(),
                json: serde_json::Value::Null,
            },
        ],
        dumps: vec![
            Dump {
                kind: DumpKind::Skb,
                text: "(struct sk_buff){\n .len = (unsigned int)84,\n}".into(),
                cut: false,
            },
            Dump {
                kind: DumpKind::SkbSharedInfo,
                text: "(struct skb_shared_info){\n .nr_frags = (__u8)0,".into(),
                cut: true,
            },
        ],
        ..ping()
    }
}

#[test]
fn metadata_after_the_line_and_dumps_under_it() {
    let mut f = TextFormatter::new(OutputOptions {
        meta: false,
        tuple: false,
        stack: true,
        ..Default::default()
    });
    let ev = Event {
        stack: vec!["ip_output+0x70".into()],
        ..with_values()
    };
    assert_eq!(
        f.format(&ev),
        "0xff3f834f3ffb7a00 1   ~r/sbin/ping:995 net_dev_start_xmit skb->hash=0x1a2b3c4d \
         skb->dev->name=\"veth0\" skb->sk->__sk_common.skc_family=<null>\n    ip_output+0x70\n\
         (struct sk_buff){\n .len = (unsigned int)84,\n}\n\
         (struct skb_shared_info){\n .nr_frags = (__u8)0,\n\
         [... cut: the struct did not fit in the per-CPU buffer]\n"
    );
}

#[test]
fn json_metadata_and_dumps_round_trip() {
    let mut f = JsonFormatter::new(OutputOptions::default());
    let ev = with_values();
    let line = f.format(&ev);
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        v["metadata"],
        serde_json::json!({"skb->hash": 0x1a2b3c4d, "skb->dev->name": "veth0",
            "skb->sk->__sk_common.skc_family": null})
    );
    assert_eq!(
        v["skb_dump"],
        "(struct sk_buff){\n .len = (unsigned int)84,\n}"
    );
    assert_eq!(v["skb_dump_cut"], false);
    assert_eq!(v["skb_shared_info_cut"], true);
    let back: JsonEvent = serde_json::from_str(&line).unwrap();
    assert_eq!(back, JsonEvent::new(&ev, &f.opts, 0));
    assert!(back.annotations.is_empty(), "{:?}", back.annotations);
    // Without them, none of the keys.
    let plain: serde_json::Value = serde_json::from_str(&f.format(&ping())).unwrap();
    for k in ["metadata", "skb_dump", "skb_dump_cut", "skb_shared_info"] {
        assert!(plain.get(k).is_none(), "{k}");
    }
}

fn vxlan_ping() -> Event {
    Event {
        tuple: Some(Tuple {
            saddr: "192.168.1.1".parse().unwrap(),
            daddr: "192.168.1.2".parse().unwrap(),
            sport: 40123,
            dport: 8472,
            proto: 17,
            tcp_flags: 0,
        }),
        tunnel: Some(event::Tunnel {
            kind: event::TunnelKind::Vxlan,
            vni: Some(42),
            tuple: Some(Tuple {
                saddr: "10.244.1.5".parse().unwrap(),
                daddr: "10.244.2.7".parse().unwrap(),
                sport: 0,
                dport: 0,
                proto: 1,
                tcp_flags: 0,
            }),
        }),
        func: "ip_finish_output2".into(),
        ..ping()
    }
}

#[test]
fn tunnel_column_and_keys() {
    let opts = OutputOptions {
        meta: false,
        tunnel: true,
        ..Default::default()
    };
    let mut f = TextFormatter::new(opts);
    let h = f.header();
    assert!(h.ends_with(" TUPLE                                               FUNC                                     TUNNEL"), "{h}");
    let line = f.format(&vxlan_ping());
    assert_eq!(
        line,
        "0xff3f834f3ffb7a00 1   ~r/sbin/ping:995 192.168.1.1:40123->192.168.1.2:8472(udp)            ip_finish_output2                        vxlan:42 10.244.1.5:0->10.244.2.7:0(icmp)\n"
    );
    assert_eq!(line.find("vxlan:42"), h.find("TUNNEL"), "{h}\n{line}");
    // Not a tunnel packet: a placeholder keeps the columns countable.
    assert!(
        f.format(&ping())
            .ends_with(" net_dev_start_xmit                       -\n")
    );
    // With a caller, both are padded: TUNNEL stays in its column.
    let mut fc = TextFormatter::new(OutputOptions {
        caller: true,
        ..opts
    });
    let h = fc.header();
    let line = fc.format(&Event {
        caller: Some("ip_output+0x70".into()),
        ..vxlan_ping()
    });
    assert_eq!(line.find("vxlan:42"), h.find("TUNNEL"), "{h}\n{line}");

    let mut j = JsonFormatter::new(opts);
    let v: serde_json::Value = serde_json::from_str(&j.format(&vxlan_ping())).unwrap();
    assert_eq!(v["tunnel_tuple"]["saddr"], "10.244.1.5");
    assert_eq!(v["tunnel_tuple"]["daddr"], "10.244.2.7");
    assert_eq!(v["tunnel_tuple"]["proto"], 1);
    assert_eq!(v["tunnel"], serde_json::json!({"kind": "vxlan", "vni": 42}));
    assert_eq!(v["tuple"]["dport"], 8472);
    let plain: serde_json::Value = serde_json::from_str(&j.format(&ping())).unwrap();
    assert!(plain["tunnel_tuple"].is_null() && plain.get("tunnel_tuple").is_some());
    assert!(plain["tunnel"].is_null());
    let back: JsonEvent = serde_json::from_str(&j.format(&vxlan_ping())).unwrap();
    assert_eq!(back.tunnel.unwrap().unwrap().vni, Some(42));
    // Without --output-tunnel, no keys.
    let none: serde_json::Value =
        serde_json::from_str(&JsonFormatter::new(OutputOptions::default()).format(&vxlan_ping()))
            .unwrap();
    assert!(none.get("tunnel_tuple").is_none() && none.get("tunnel").is_none());
}

#[test]
fn bpfmap_lines() {
    let op = map_lookup();
    let ev = Event {
        func: "__htab_map_lookup_elem".into(),
        func_kind: FuncKind::Kprobe,
        map_op: Some(op.clone()),
        ..ping()
    };
    let mut f = TextFormatter::new(OutputOptions::default());
    let text = f.format(&ev);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].ends_with(" __htab_map_lookup_elem"), "{text}");
    assert_eq!(
        lines[1],
        "    bpfmap pwru_test_hash (id 12) lookup key 0a000002 → hit, value 2a00000000000000"
    );
    let miss = Event {
        map_op: Some(event::MapOp {
            value: None,
            hit: Some(false),
            ..op.clone()
        }),
        ..ev.clone()
    };
    assert!(f.format(&miss).ends_with("lookup key 0a000002 → miss\n"));
    let upd = Event {
        map_op: Some(event::MapOp {
            op: event::MapOpKind::Update,
            hit: None,
            cut: true,
            ..op.clone()
        }),
        ..ev.clone()
    };
    assert!(
        f.format(&upd)
            .ends_with("update key 0a000002… = value 2a00000000000000…\n")
    );
    let ct = Event {
        map_op: Some(event::MapOp {
            map_name: "cilium_ct4_glob".into(),
            decoded: Some(event::MapEntry {
                map: "cilium_ct4_global".into(),
                key: "TCP OUT 10.244.1.5:43210 -> 10.244.2.7:80".into(),
                value: Some("RevNAT=7".into()),
                json: serde_json::json!({"map": "cilium_ct4_global"}),
            }),
            ..op.clone()
        }),
        ..ev.clone()
    };
    assert!(f.format(&ct).ends_with(
        "    bpfmap cilium_ct4_global (id 12) lookup TCP OUT 10.244.1.5:43210 -> 10.244.2.7:80 → hit, RevNAT=7\n"
    ));

    let mut j = JsonFormatter::new(OutputOptions::default());
    let v: serde_json::Value = serde_json::from_str(&j.format(&ct)).unwrap();
    let m = &v["bpfmap"];
    assert_eq!(m["op"], "lookup");
    assert_eq!(m["id"], 12);
    assert_eq!(m["name"], "cilium_ct4_glob");
    assert_eq!(m["type"], "hash");
    assert_eq!(m["key"], "0a000002");
    assert_eq!(m["value"], "2a00000000000000");
    assert_eq!(m["hit"], true);
    assert_eq!(m["decoded"]["map"], "cilium_ct4_global");
    let back: JsonEvent = serde_json::from_str(&j.format(&ct)).unwrap();
    assert_eq!(back.bpfmap.unwrap().key_size, 4);
    assert!(back.annotations.is_empty());
    let plain: serde_json::Value = serde_json::from_str(&j.format(&ping())).unwrap();
    assert!(plain.get("bpfmap").is_none());
}
