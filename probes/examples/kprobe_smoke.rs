//! Kprobe smoke test and timing for a kernel with kprobes (run inside the qemu VMs of tests/vm, as root):
//!   kprobe_smoke [kprobe|kprobe-multi] [DST_IP]
//! Attaches every skb function of the running kernel (BTF ∩ available_filter_functions), pings DST_IP
//! (default 10.0.0.2, tests/vm's ns1), sends UDP to its closed port 9, and checks the events: ICMP tuples seen,
//! a drop with reason NO_SOCKET. Prints attach/detach times. Exit status 1 if a check fails.
#[path = "../tests/common/mod.rs"]
mod common;

use probes::event::{EV_HAS_CALLER, EV_HAS_REASON, EV_HAS_TUPLE};
use probes::{Backend, Config, TracepointTarget, Tracer};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

fn kallsyms() -> BTreeMap<u64, String> {
    let text = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let a = u64::from_str_radix(it.next()?, 16).ok()?;
            let _t = it.next()?;
            Some((a, it.next()?.to_string()))
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let backend = match args.get(1).map(String::as_str) {
        Some("kprobe-multi") => Backend::KprobeMulti,
        _ => Backend::Kprobe,
    };
    let dst = args.get(2).cloned().unwrap_or_else(|| "10.0.0.2".into());
    println!("support: {:?}", probes::support());
    let btf = testkit::btf::Btf::vmlinux();
    let avail: HashSet<String> =
        std::fs::read_to_string("/sys/kernel/tracing/available_filter_functions")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect();
    let funcs: Vec<_> = common::skb_functions(&btf)
        .into_iter()
        .filter(|t| avail.contains(&t.name))
        .collect();
    let no_socket = btf
        .enum_value("skb_drop_reason", "SKB_DROP_REASON_NO_SOCKET")
        .unwrap_or(u32::MAX);
    println!("{} skb functions traceable", funcs.len());
    let kfree = TracepointTarget {
        name: "kfree_skb".into(),
        skb_arg: probes::ArgIndex(0),
        reason_arg: Some(probes::ArgIndex(2)),
        nargs: 4,
    };
    let cfg = Config {
        backend,
        kprobes: funcs.clone(),
        tracepoints: vec![kfree],
        caller: true,
        ..Config::default()
    };
    let t0 = Instant::now();
    let mut t = Tracer::load(cfg).unwrap_or_else(|e| panic!("load: {e}"));
    println!("@@PROBES load_s={:.2}", t0.elapsed().as_secs_f64());
    let st = t
        .attach(|_, _, _| {})
        .unwrap_or_else(|e| panic!("attach: {e}"));
    println!(
        "@@PROBES backend={} attached={} ignored={} attach_s={:.2}",
        backend.name(),
        st.attached,
        st.ignored.len(),
        st.elapsed.as_secs_f64()
    );
    for i in st.ignored.iter().take(5) {
        println!("  ignored {}: {}", i.name, i.reason);
    }
    let mut ring = t.take_ring().unwrap();
    let _ = std::process::Command::new("ping")
        .args(["-c", "2", "-W", "5", &dst])
        .status();
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    sock.send_to(b"pwru", format!("{dst}:9")).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let mut evs = Vec::new();
    while ring.poll(Duration::from_millis(300)).unwrap() && ring.drain_into(&mut evs) > 0 {}
    let syms = kallsyms();
    let name = |ip: u64| {
        syms.range(..=ip)
            .next_back()
            .map_or("?".to_string(), |(_, n)| n.clone())
    };
    let dst_ip: std::net::Ipv4Addr = dst.parse().unwrap();
    let icmp: Vec<_> = evs
        .iter()
        .filter(|e| {
            e.flags & EV_HAS_TUPLE != 0 && e.l4_proto == 1 && e.daddr[..4] == dst_ip.octets()
        })
        .collect();
    let funcs_seen: BTreeMap<String, usize> = icmp.iter().fold(BTreeMap::new(), |mut m, e| {
        *m.entry(if e.kind == 0 {
            name(e.func_ip)
        } else {
            "tp:kfree_skb".into()
        })
        .or_insert(0) += 1;
        m
    });
    println!(
        "{} events, {} ICMP to {dst} in {} functions",
        evs.len(),
        icmp.len(),
        funcs_seen.len()
    );
    for (f, n) in funcs_seen.iter().take(40) {
        println!("  {n:3} {f}");
    }
    let drops: Vec<_> = evs
        .iter()
        .filter(|e| e.flags & EV_HAS_REASON != 0 && e.drop_reason == no_socket && e.dport == 9)
        .collect();
    for d in &drops {
        let f = if d.kind == 0 {
            name(d.func_ip)
        } else {
            "tp:kfree_skb".into()
        };
        let c = if d.flags & EV_HAS_CALLER != 0 {
            name(d.caller_ip)
        } else {
            "-".into()
        };
        println!("  drop NO_SOCKET at {f} (caller {c})");
    }
    let with_caller = evs
        .iter()
        .filter(|e| e.kind == 0 && e.flags & EV_HAS_CALLER != 0)
        .count();
    let d = t.detach();
    println!(
        "@@PROBES detach_s={:.2} closed={} produced={} lost={} delivered={}",
        d.elapsed.as_secs_f64(),
        d.closed,
        d.produced,
        d.lost,
        evs.len()
    );
    drop(t);

    // --filter-track-skb: a ping marked 66 passes the mark filter in the root netns; the veth scrubs the mark as
    // the skb enters the peer namespace, where only tracking (kprobes on kfree_skbmem, skb_clone/skb_copy with
    // kretprobes) lets it through.
    let few: Vec<_> = funcs
        .iter()
        .filter(|t| {
            matches!(
                t.name.as_str(),
                "ip_rcv"
                    | "icmp_rcv"
                    | "ip_local_deliver"
                    | "__dev_queue_xmit"
                    | "ip_output"
                    | "icmp_echo"
            )
        })
        .cloned()
        .collect();
    let cfg = Config {
        backend,
        kprobes: few,
        mark: Some((66, 0xffff_ffff)),
        track_skb: true,
        ..Config::default()
    };
    let mut t = Tracer::load(cfg).unwrap_or_else(|e| panic!("load (track): {e}"));
    let st_track = t
        .attach(|_, _, _| {})
        .unwrap_or_else(|e| panic!("attach (track): {e}"));
    println!(
        "track: attached {} ignored {:?}",
        st_track.attached, st_track.ignored
    );
    let mut ring = t.take_ring().unwrap();
    let root_ns = std::fs::metadata("/proc/self/ns/net")
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m) as u32)
        .unwrap_or(0);
    let _ = std::process::Command::new("ping")
        .args(["-m", "66", "-c", "2", "-W", "5", &dst])
        .status();
    std::thread::sleep(Duration::from_millis(300));
    let mut tevs = Vec::new();
    while ring.poll(Duration::from_millis(300)).unwrap() && ring.drain_into(&mut tevs) > 0 {}
    let followed: Vec<_> = tevs
        .iter()
        .filter(|e| e.netns != root_ns && e.mark == 0 && e.flags & probes::event::EV_TRACKED != 0)
        .collect();
    for e in followed.iter().take(8) {
        println!("  tracked in netns {}: {}", e.netns, name(e.func_ip));
    }
    let unmarked_root = tevs
        .iter()
        .filter(|e| e.netns == root_ns && e.mark != 66)
        .count();
    drop(t);
    let mut ok = true;
    let mut check = |c: bool, what: &str| {
        println!(
            "@@CHECK {} probes-smoke[{}]: {what}",
            if c { "PASS" } else { "FAIL" },
            backend.name()
        );
        ok &= c;
    };
    check(
        st_track.ignored.is_empty(),
        "track-skb helper probes attached (kfree_skbmem, skb_clone, skb_copy)",
    );
    check(
        !followed.is_empty(),
        "marked ping followed into the peer netns after the mark was scrubbed",
    );
    check(unmarked_root == 0, "no unmarked root-netns packets traced");
    check(st.attached > 100, "attached more than 100 functions");
    check(funcs_seen.len() >= 5, "ICMP seen in at least 5 functions");
    check(
        funcs_seen.keys().any(|f| f == "ip_rcv" || f == "icmp_rcv"),
        "ip_rcv or icmp_rcv seen",
    );
    check(
        drops.iter().any(|e| e.kind == 0),
        "kprobe drop with reason NO_SOCKET",
    );
    check(
        drops.iter().any(|e| e.kind == 1),
        "tracepoint drop with reason NO_SOCKET",
    );
    check(with_caller > 0, "callers recorded");
    std::process::exit(if ok { 0 } else { 1 });
}
