//! `pwru replay` without root: what it refuses, how damage and signals end it (the summary line every time), and
//! the pcap filter on the bytes of a pcapng trace written by pwru's own encoder.

use pwru::pcapng::{self, Interface, LINKTYPE_ETHERNET, LINKTYPE_RAW, Packet};
use std::process::{Command, Stdio};
use std::time::Duration;
use testkit::{TempDir, pwru_bin};

fn replay(args: &[&str]) -> (String, String, Option<i32>) {
    let o = Command::new(pwru_bin())
        .arg("replay")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        o.status.code(),
    )
}

fn ev(skb: u64, func: &str, packet: Option<event::Packet>) -> event::Event {
    event::Event {
        skb,
        func: func.into(),
        func_kind: event::FuncKind::Tracepoint,
        netns: 7,
        ifindex: 2,
        ifname: Some("veth0".into()),
        packet,
        ..Default::default()
    }
}

/// IPv4 header with protocol `proto`, 10.0.0.1 → 10.0.0.2, and 8 bytes of payload.
fn ip(proto: u8) -> Vec<u8> {
    let mut h = vec![
        0x45, 0, 0, 28, 0, 0, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    h.extend([0; 8]);
    h
}

#[test]
fn the_pcap_filter_runs_on_the_saved_bytes_at_l2_and_l3() {
    let d = TempDir::new("replay-bytes");
    let mut eth = vec![0u8; 12];
    eth.extend([8, 0]);
    eth.extend(ip(17));
    let evs = [
        ev(
            1,
            "ip_output",
            Some(event::Packet {
                start: event::PacketStart::L3,
                orig_len: 28,
                data: ip(1),
            }),
        ),
        ev(
            1,
            "net_dev_queue",
            Some(event::Packet {
                start: event::PacketStart::L2,
                orig_len: 42,
                data: eth,
            }),
        ),
        ev(2, "kfree_skb", None),
    ];
    let mut b = Vec::new();
    pcapng::section_header(&mut b, "test", "");
    for lt in [LINKTYPE_RAW, LINKTYPE_ETHERNET] {
        pcapng::interface(
            &mut b,
            &Interface {
                link_type: lt,
                name: "veth0",
                description: "",
                snaplen: 0,
            },
        );
    }
    for e in &evs {
        let p = e.packet.as_ref();
        let json = pcapng::event_option(e);
        pcapng::packet(
            &mut b,
            &Packet {
                interface: (p.is_some_and(|p| p.start == event::PacketStart::L2)) as u32,
                ts_ns: 0,
                data: p.map_or(&[][..], |p| &p.data),
                orig_len: p.map_or(0, |p| p.orig_len),
                comments: &[],
                event: Some(&json),
            },
        );
    }
    let f = d.join("t.pcapng");
    std::fs::write(&f, &b).unwrap();
    let funcs = |out: &str| -> Vec<String> {
        out.lines()
            .skip(1)
            .map(|l| l.split_whitespace().last().unwrap().to_string())
            .collect()
    };
    let f = f.to_str().unwrap();
    let (out, err, code) = replay(&[f, "icmp"]);
    assert_eq!(
        (code, funcs(&out)),
        (Some(0), vec!["ip_output".to_string()]),
        "{err}"
    );
    assert!(
        err.contains("3 events read, 1 selected, 1 printed"),
        "{err}"
    );
    let (out, _, _) = replay(&[f, "udp"]);
    assert_eq!(funcs(&out), ["net_dev_queue"]);
    let (out, _, _) = replay(&["--filter-track-skb", f, "icmp"]);
    assert_eq!(
        funcs(&out),
        ["ip_output", "net_dev_queue"],
        "the skb is followed after its match"
    );
    let (out, _, _) = replay(&["--filter-func", "kfree_skb|ip_.*", "--output-json", f]);
    let back: Vec<event::Event> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<event::JsonEvent>(l)
                .unwrap()
                .to_event()
        })
        .collect();
    assert_eq!(
        back,
        [evs[0].clone(), evs[2].clone()],
        "JSON lines of a replay read back into the events"
    );
}

#[test]
fn damage_ends_after_the_events_before_it() {
    let d = TempDir::new("replay-damage");
    let mut j = event::JsonFormatter::new(event::OutputOptions::default());
    let good = j.format(&ev(1, "ip_rcv", None));
    let f = d.join("t.json");
    std::fs::write(&f, format!("{good}{good}{{\"skb\": \"0x1\"\n{good}")).unwrap();
    let (out, err, code) = replay(&[f.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        out.lines().count(),
        3,
        "header and the two events before the damage:\n{out}"
    );
    assert!(err.contains(":3: not a pwru JSON event"), "{err}");
    assert!(
        err.trim_end()
            .ends_with("2 events read, 2 selected, 2 printed"),
        "{err}"
    );
}

#[test]
fn what_is_no_trace_is_refused_in_one_line() {
    let d = TempDir::new("replay-refuse");
    let text = d.join("t.txt");
    std::fs::write(&text, "SKB                CPU PROCESS\n").unwrap();
    let pcap = d.join("t.pcap");
    std::fs::write(&pcap, [0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]).unwrap();
    for (f, want) in [
        (text.to_str().unwrap(), "holds pwru's text output"),
        (
            pcap.to_str().unwrap(),
            "is a pcap file without pwru's events",
        ),
        ("/nonexistent/t.json", "cannot open /nonexistent/t.json"),
        (d.path().to_str().unwrap(), "is a directory"),
    ] {
        let (_, err, code) = replay(&[f]);
        assert_eq!(code, Some(1), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{f}: {err}");
    }
}

#[test]
fn a_signal_ends_a_replay_waiting_on_a_pipe_with_the_summary() {
    let mut c = Command::new(pwru_bin())
        .args(["replay", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = c.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill has no memory preconditions; the pid is our running child.
    unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
    let o = c.wait_with_output().unwrap();
    drop(stdin);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted (SIGINT)") && err.contains("0 events read"),
        "{err}"
    );
}
