//! Packet bytes in events (the SEC_PACKET section), on the host's tracepoints: a ping with a known payload between
//! two network namespaces arrives in the events byte for byte from the Ethernet header, a packet written into a
//! tun device (no link-layer header) byte for byte from the IP header, both cut at the snaplen with the original
//! length kept; and a flood keeps the accounting exact with variable-size records. Needs root.
mod common;

use common::*;
use probes::event::{PacketHead, SectionHead};
use probes::{Config, PacketStart, RawEvent, Record};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;
use testkit::btf::Btf;
use testkit::{NetnsPair, serial, sh};

/// ping -p: the 16 bytes iputils repeats through the echo data (after its 16-byte timestamp).
const PATTERN: [u8; 16] = *b"\x01\x23\x45\x67\x89\xab\xcd\xef\xfe\xdc\xba\x98\x76\x54\x32\x10";
/// ping -s: echo data bytes.
const DATA: usize = 200;
/// IP length of one of those pings: header, ICMP header, data.
const IP_LEN: usize = 20 + 8 + DATA;

fn all_tracepoints() -> Vec<probes::TracepointTarget> {
    skb_tracepoints(&Btf::vmlinux())
}

fn mac(pair: &NetnsPair, ns: &str, dev: &str) -> [u8; 6] {
    let out = pair.exec(ns, &format!("cat /sys/class/net/{dev}/address"));
    let b: Vec<u8> = out
        .trim()
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    b.try_into().unwrap()
}

fn ping(pair: &NetnsPair) {
    let hex: String = PATTERN.iter().map(|b| format!("{b:02x}")).collect();
    pair.exec(
        &pair.a,
        &format!("ping -c 3 -i 0.2 -W 2 -s {DATA} -p {hex} {}", pair.ip_b),
    );
}

/// Loads a tracer with `snaplen` on every skb tracepoint, pings, and returns the tracer, its configuration and the
/// events.
fn traced_ping(pair: &NetnsPair, snaplen: u32) -> (probes::Tracer, Config, Vec<Record>) {
    let cfg = Config {
        tracepoints: all_tracepoints(),
        snaplen,
        ..Config::default()
    };
    let (t, mut ring, cfg) = load_attach(cfg);
    ping(pair);
    let evs = drain(&mut ring, Duration::from_millis(500));
    (t, cfg, evs)
}

/// The events of `name` on the a -> b pings.
fn pings<'a>(cfg: &Config, evs: &'a [Record], pair: &NetnsPair, tp: &str) -> Vec<&'a Record> {
    let (a, b): (Ipv4Addr, Ipv4Addr) = (pair.ip_a.parse().unwrap(), pair.ip_b.parse().unwrap());
    evs.iter()
        .filter(|e| ipv4(e) == Some((a, b)) && e.l4_proto == 1 && name(cfg, e) == tp)
        .collect()
}

/// Checks an Ethernet frame of one of the pings: addresses, IP header, ICMP echo request, the pattern.
fn check_frame(f: &[u8], pair: &NetnsPair, src: [u8; 6], dst: [u8; 6]) {
    assert_eq!(&f[0..6], &dst, "destination MAC");
    assert_eq!(&f[6..12], &src, "source MAC");
    assert_eq!(&f[12..14], &[0x08, 0x00], "EtherType IPv4");
    let ip = &f[14..];
    assert_eq!(ip[0], 0x45);
    assert_eq!(u16::from_be_bytes([ip[2], ip[3]]) as usize, IP_LEN);
    assert_eq!(ip[9], 1, "ICMP");
    assert_eq!(
        Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]).to_string(),
        pair.ip_a
    );
    assert_eq!(
        Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]).to_string(),
        pair.ip_b
    );
    assert_eq!(ip[20], 8, "echo request");
    let data = &ip[28..];
    for (i, &b) in data.iter().enumerate().skip(16) {
        assert_eq!(b, PATTERN[i % 16], "echo data byte {i}");
    }
}

#[test]
#[ignore = "needs root: BPF tracepoints, netns (tests/run.sh runs it)"]
fn ping_bytes_from_the_ethernet_header() {
    let _s = serial();
    let pair = NetnsPair::new("pk", 204);
    let (mac_a, mac_b) = (
        mac(&pair, &pair.a, &pair.veth_a),
        mac(&pair, &pair.b, &pair.veth_b),
    );

    // A snaplen above the frame size: every byte of it.
    let (t, cfg, evs) = traced_ping(&pair, 512);
    let (tx, rx) = (
        pings(&cfg, &evs, &pair, "net_dev_start_xmit"),
        pings(&cfg, &evs, &pair, "netif_receive_skb"),
    );
    assert!(
        tx.len() >= 3 && rx.len() >= 3,
        "tx {} rx {}",
        tx.len(),
        rx.len()
    );
    for e in tx.iter().chain(&rx) {
        let p = e
            .packet()
            .unwrap_or_else(|| panic!("{} without packet bytes", name(&cfg, e)));
        assert_eq!(
            p.start,
            PacketStart::L2,
            "{}: veth skbs have a MAC header",
            name(&cfg, e)
        );
        assert_eq!(p.orig_len as usize, 14 + IP_LEN);
        assert_eq!(p.bytes.len(), 14 + IP_LEN, "all of it below the snaplen");
        check_frame(p.bytes, &pair, mac_a, mac_b);
        assert_eq!(e.head.sections, 1 << probes::event::SEC_PACKET);
        assert_eq!(
            e.head.size as usize,
            size_of::<RawEvent>()
                + size_of::<SectionHead>()
                + size_of::<PacketHead>()
                + p.bytes.len(),
            "the record is as long as its bytes: no fixed-size slot"
        );
    }
    // The frame that left a is the frame that reached b.
    let bytes = |e: &Record| e.packet().unwrap().bytes.to_vec();
    for (t, r) in tx.iter().zip(&rx) {
        assert_eq!(bytes(t), bytes(r), "the same frame on both ends");
    }
    detach_and_check(t);

    // A snaplen below it: the first bytes, with the original length.
    let (t, cfg, evs) = traced_ping(&pair, 60);
    let tx = pings(&cfg, &evs, &pair, "net_dev_start_xmit");
    assert!(tx.len() >= 3);
    for e in tx {
        let p = e.packet().unwrap();
        assert_eq!(
            (p.start, p.orig_len as usize, p.bytes.len()),
            (PacketStart::L2, 14 + IP_LEN, 60)
        );
        // The cut frame starts as the pings do: addresses, headers, the first two pattern bytes.
        assert_eq!(&p.bytes[..12], [mac_b, mac_a].concat().as_slice());
        assert_eq!(p.bytes[14 + 20], 8, "echo request");
        assert_eq!(p.bytes[14 + 28 + 16..], PATTERN[..2]);
    }
    detach_and_check(t);

    // No snaplen: no sections, fixed-size records as before.
    let (t, cfg, evs) = traced_ping(&pair, 0);
    let tx = pings(&cfg, &evs, &pair, "net_dev_start_xmit");
    assert!(tx.len() >= 3);
    for e in tx {
        assert!(e.packet().is_none() && e.tail.is_empty());
        assert_eq!(
            (e.head.size as usize, e.head.nsections),
            (size_of::<RawEvent>(), 0)
        );
    }
    detach_and_check(t);
}

/// A tun device (IFF_TUN | IFF_NO_PI) created in namespace `ns`, set up with 10.205.1.1/24; the fd writes packets
/// into the kernel and reads what it sends back.
fn tun_in(pair: &NetnsPair, ns: &str) -> OwnedFd {
    let path = format!("/run/netns/{ns}");
    let fd = std::thread::scope(|s| {
        s.spawn(|| {
            let nsf = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            // SAFETY: setns on this thread only (the namespace of a thread of ours), with an fd we own.
            assert_eq!(
                unsafe { libc::setns(nsf.as_raw_fd(), libc::CLONE_NEWNET) },
                0,
                "setns"
            );
            let tun = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/net/tun")
                .expect("/dev/net/tun");
            let mut ifr = [0u8; 40];
            ifr[..6].copy_from_slice(b"pwtun0");
            ifr[16..18].copy_from_slice(&(0x0001u16 | 0x1000).to_ne_bytes()); // IFF_TUN | IFF_NO_PI
            // SAFETY: TUNSETIFF with a 40-byte struct ifreq.
            let r = unsafe { libc::ioctl(tun.as_raw_fd(), 0x400454ca, ifr.as_mut_ptr()) };
            assert_eq!(r, 0, "TUNSETIFF: {}", std::io::Error::last_os_error());
            OwnedFd::from(tun)
        })
        .join()
        .unwrap()
    });
    pair.exec(ns, "ip addr add 10.205.1.1/24 dev pwtun0");
    pair.exec(ns, "ip link set pwtun0 up");
    fd
}

fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP echo request 10.205.1.2 -> 10.205.1.1 with `data`, checksums right so the kernel answers it.
fn echo_request(data: &[u8]) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0, 0x42, 0x42, 0, 1];
    icmp.extend_from_slice(data);
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![
        0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0, 10, 205, 1, 2, 10, 205, 1, 1,
    ];
    ip[2..4].copy_from_slice(&((20 + icmp.len()) as u16).to_be_bytes());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ip
}

#[test]
#[ignore = "needs root: BPF tracepoints, netns, tun (tests/run.sh runs it)"]
fn tun_packet_bytes_from_the_ip_header() {
    let _s = serial();
    let pair = NetnsPair::new("pt", 205);
    let tun = tun_in(&pair, &pair.b);
    let data: Vec<u8> = (0..100u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
    let sent = echo_request(&data);

    for snaplen in [512u32, 48] {
        let cfg = Config {
            tracepoints: all_tracepoints(),
            netns: Some(pair.inode_b),
            snaplen,
            ..Config::default()
        };
        let (t, mut ring, cfg) = load_attach(cfg);
        // SAFETY: write(2) of a buffer we own to the tun fd.
        let n = unsafe { libc::write(tun.as_raw_fd(), sent.as_ptr().cast(), sent.len()) };
        assert_eq!(
            n as usize,
            sent.len(),
            "write to tun: {}",
            std::io::Error::last_os_error()
        );
        let mut reply = vec![0u8; 2048];
        let mut pfd = libc::pollfd {
            fd: tun.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll and read on the tun fd into a buffer we own.
        let n = unsafe {
            assert_eq!(
                libc::poll(&mut pfd, 1, 2000),
                1,
                "the kernel answers the echo request"
            );
            libc::read(tun.as_raw_fd(), reply.as_mut_ptr().cast(), reply.len())
        };
        reply.truncate(n as usize);
        assert_eq!(
            (reply[20], &reply[28..]),
            (0, &data[..]),
            "an echo reply with our data"
        );

        let evs = drain(&mut ring, Duration::from_millis(500));
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let of = |tp: &str, from: &str, to: &str| -> Vec<&Record> {
            evs.iter()
                .filter(|e| name(&cfg, e) == tp && ipv4(e) == Some((ip(from), ip(to))))
                .collect()
        };
        let rx = of("netif_receive_skb", "10.205.1.2", "10.205.1.1");
        let tx = of("net_dev_start_xmit", "10.205.1.1", "10.205.1.2");
        assert_eq!(
            (rx.len(), tx.len()),
            (1, 1),
            "one request in, one reply out"
        );
        for (e, wire) in [(rx[0], &sent), (tx[0], &reply)] {
            let p = e.packet().expect("packet bytes");
            assert_eq!(
                p.start,
                PacketStart::L3,
                "{}: tun skbs have no MAC header",
                name(&cfg, e)
            );
            assert_eq!(p.orig_len as usize, wire.len());
            let cap = wire.len().min(snaplen as usize);
            assert_eq!(
                p.bytes,
                &wire[..cap],
                "{}: the bytes on the wire, snaplen {snaplen}",
                name(&cfg, e)
            );
        }
        detach_and_check(t);
    }
}

#[test]
#[ignore = "needs root: BPF tracepoints, netns (tests/run.sh runs it)"]
fn flood_with_packet_bytes_keeps_exact_accounts() {
    let _s = serial();
    let pair = NetnsPair::new("pf", 206);
    let cfg = Config {
        tracepoints: all_tracepoints(),
        netns: Some(pair.inode_b),
        snaplen: 1000,
        ringbuf_bytes: 64 << 10,
        ..Config::default()
    };
    let (t, mut ring, cfg) = load_attach(cfg);
    let flood = std::thread::spawn({
        let (a, ip_b) = (pair.a.clone(), pair.ip_b.clone());
        move || {
            sh(&format!(
                "ip netns exec {a} ping -f -c 3000 -s 1400 -W 1 {ip_b} >/dev/null; true"
            ))
        }
    });
    // Read while the flood runs, checking every record on the way.
    let mut delivered = 0usize;
    let mut bytes = 0usize;
    while !flood.is_finished() {
        for e in drain(&mut ring, Duration::from_millis(20)) {
            let p = e.packet().expect("every event carries bytes");
            assert!(p.bytes.len() <= 1000 && p.bytes.len() <= p.orig_len as usize);
            if ipv4(&e).is_some() && e.l4_proto == 1 && name(&cfg, &e) == "netif_receive_skb" {
                assert_eq!(
                    (p.orig_len, p.bytes.len()),
                    (1442, 1000),
                    "a 1442-byte frame cut at the snaplen"
                );
            }
            bytes += e.head.size as usize;
            delivered += 1;
        }
    }
    flood.join().unwrap();
    let (produced, lost, delivered) = check_counters(&t, &mut ring, delivered);
    eprintln!(
        "produced {produced}, delivered {delivered} ({bytes} record bytes during the flood), lost {lost}"
    );
    assert!(lost > 0, "a 64 KiB ring must overflow under the flood");
    assert!(delivered > 1000);
    detach_and_check(t);
}
