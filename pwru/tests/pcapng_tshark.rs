//! The pcapng writer against the readers users have: tshark and tcpdump read what `pwru::pcapng` writes without a
//! warning, see the interfaces, comments, times and lengths it wrote, and pwru's own reader gets the events back.
//! Needs tshark and tcpdump (tests/setup.sh installs them).

use pcap_filter::capture::{Capture, PacketOption};
use pwru::pcapng::{self, Interface, LINKTYPE_ETHERNET, LINKTYPE_RAW, Packet};
use testkit::{TempDir, need_tool, output, tshark, tshark_frames};

/// An Ethernet frame carrying an ICMP echo request 10.1.0.1 → 10.1.0.2 with `payload`.
fn icmp_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = 20 + 8 + payload.len();
    let mut ip = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0x40,
        0,
        64,
        1,
        0,
        0,
    ];
    ip.extend([10, 1, 0, 1, 10, 1, 0, 2]);
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1];
    icmp.extend(payload);
    let sum = checksum(&icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    f.extend(ip);
    f.extend(icmp);
    f
}

fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

#[test]
#[ignore = "needs tshark and tcpdump (tests/run.sh runs it)"]
fn tshark_and_tcpdump_read_what_we_write() {
    need_tool("tshark");
    need_tool("tcpdump");
    let d = TempDir::new("pcapng-tshark");
    let file = d.join("t.pcapng");
    let payload: Vec<u8> = (0..56u8).collect();
    let frame = icmp_frame(&payload);
    let events = [
        event::Event {
            skb: 0xffff_8880_0000_1000,
            netns: 4026531840,
            mark: 0x2a,
            func: "ip_rcv".into(),
            process: "/usr/bin/ping:42".into(),
            wall_ns: 1_700_000_000_123_456_789,
            ..Default::default()
        },
        event::Event {
            skb: 0xffff_8880_0000_1000,
            netns: 4026532120,
            func: "kfree_skb".into(),
            drop_reason: Some(event::DropReason {
                code: 6,
                name: Some("NETFILTER_DROP".into()),
            }),
            wall_ns: 1_700_000_000_123_999_000,
            ..Default::default()
        },
    ];
    let mut b = Vec::new();
    pcapng::section_header(&mut b, "pwru test", "Linux");
    for (name, lt, ns) in [
        ("veth0", LINKTYPE_ETHERNET, 4026531840u32),
        ("é-dev", LINKTYPE_RAW, 4026532120),
    ] {
        let desc = format!("netns {ns}");
        pcapng::interface(
            &mut b,
            &Interface {
                link_type: lt,
                name,
                description: &desc,
                snaplen: 256,
            },
        );
    }
    let mut comment = String::new();
    for (i, ev) in events.iter().enumerate() {
        pcapng::comment(ev, &mut comment);
        let json = pcapng::event_option(ev);
        // The second packet: the same bytes from the network header, cut to 40 bytes.
        let (data, orig) = if i == 0 {
            (&frame[..], frame.len())
        } else {
            (&frame[14..54], frame.len() - 14)
        };
        pcapng::packet(
            &mut b,
            &Packet {
                interface: i as u32,
                ts_ns: ev.wall_ns,
                data,
                orig_len: orig as u32,
                comments: &[&comment, "second comment"],
                event: Some(&json),
            },
        );
    }
    std::fs::write(&file, &b).unwrap();

    let rows = tshark_frames(
        &file,
        &["frame.time_epoch", "ip.src", "icmp.type", "data.data"],
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0][0], "veth0");
    assert_eq!(rows[1][0], "é-dev");
    assert_eq!(rows[0][1], "netns 4026531840");
    assert_eq!(
        rows[0][2],
        "ip_rcv skb=0xffff888000001000 netns=4026531840 mark=0x2a /usr/bin/ping:42,second comment"
    );
    assert!(
        rows[1][2].starts_with("kfree_skb(NETFILTER_DROP) skb="),
        "{rows:?}"
    );
    assert_eq!((rows[0][3].as_str(), rows[0][4].as_str()), ("98", "98"));
    assert_eq!((rows[1][3].as_str(), rows[1][4].as_str()), ("84", "40"));
    assert_eq!(rows[0][5], "1700000000.123456789");
    assert_eq!(
        rows[1][6], "10.1.0.1",
        "raw IP is dissected from its IP header"
    );
    assert_eq!(rows[0][7], "8");
    let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(rows[0][8], hex, "the ICMP payload as written");
    // Wireshark's display filter on the comment finds the drop.
    let o = tshark(&[
        "-r",
        file.to_str().unwrap(),
        "-Y",
        "frame.comment contains \"NETFILTER_DROP\"",
        "-T",
        "fields",
        "-e",
        "frame.number",
    ]);
    assert_eq!(o.trim(), "2");

    // libpcap wants one link type per file: tcpdump reads the Ethernet half on its own.
    let mut eth = Vec::new();
    pcapng::section_header(&mut eth, "pwru test", "");
    pcapng::interface(
        &mut eth,
        &Interface {
            link_type: LINKTYPE_ETHERNET,
            name: "veth0",
            description: "",
            snaplen: 0,
        },
    );
    for _ in 0..2 {
        pcapng::packet(
            &mut eth,
            &Packet {
                interface: 0,
                ts_ns: 0,
                data: &frame,
                orig_len: frame.len() as u32,
                comments: &["x"],
                event: Some("pwru-event/1 {}"),
            },
        );
    }
    let eth_file = d.join("eth.pcapng");
    std::fs::write(&eth_file, &eth).unwrap();
    let o = output("tcpdump", &["-nn", "-r", eth_file.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        out.matches("10.1.0.1 > 10.1.0.2: ICMP echo request")
            .count(),
        2,
        "{out}"
    );

    // Our reader gets the events back exactly.
    let mut c = Capture::new(&b[..]).unwrap();
    for ev in &events {
        c.next().unwrap().unwrap();
        let got = c
            .options()
            .iter()
            .find_map(|o| match o {
                PacketOption::Custom { pen, data, .. } if *pen == pcapng::PEN => Some(data),
                _ => None,
            })
            .expect("the event option");
        assert_eq!(&pcapng::parse_event_option(got).unwrap(), ev);
    }
}
