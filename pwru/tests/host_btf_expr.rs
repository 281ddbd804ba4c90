//! Host end-to-end of the BTF expressions (issue 11): the real pwru binary, tracepoint backend, real packets
//! through a veth pair between two network namespaces, the expressions compiled on the host kernel's BTF.
//! Run as root: `cargo test -p pwru --test host_btf_expr -- --include-ignored`.

use serde_json::Value;
use std::process::Command;
use testkit::pwru::*;
use testkit::{NetnsPair, need_root, pwru_bin, serial};

/// Runs pwru with `args` (JSON output) while `traffic` runs, and returns its events.
fn trace(args: &[&str], traffic: impl FnOnce()) -> Vec<Value> {
    let mut all = vec!["--output-json"];
    all.extend_from_slice(args);
    let p = Pwru::start(&all);
    traffic();
    settle();
    let f = p.stop(SIGINT);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    f.json()
}

/// Events of ICMP between the pair's two addresses.
fn pair_icmp<'a>(evs: &'a [Value], t: &NetnsPair) -> Vec<&'a Value> {
    let ends = [t.ip_a.as_str(), t.ip_b.as_str()];
    evs.iter()
        .filter(|e| {
            e["tuple"]["proto"] == 1
                && ends.iter().any(|a| e["tuple"]["saddr"] == *a)
                && ends.iter().any(|a| e["tuple"]["daddr"] == *a)
        })
        .collect()
}

fn ping(t: &NetnsPair, from: &str, to: &str, opts: &str) {
    t.exec(from, &format!("ping -c2 -i0.2 -W2 {opts} {to} >/dev/null"));
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn ifindex_expression_keeps_only_that_interface() {
    let _g = serial();
    let t = NetnsPair::builder("e62", 62).resolve_neighbours().build();
    assert_ne!(t.ifindex_a, 1, "the veth and lo must differ for this test");
    let traffic = || {
        ping(&t, &t.a, "127.0.0.1", "");
        ping(&t, &t.a, &t.ip_b, "");
    };
    // Without the expression, a's loopback ping shows on lo (ifindex 1) ...
    let evs = trace(&[], traffic);
    let on_lo = |evs: &[Value]| {
        evs.iter()
            .filter(|e| e["netns"] == t.inode_a && e["ifindex"] == 1 && e["tuple"]["proto"] == 1)
            .count()
    };
    assert!(
        on_lo(&evs) > 0,
        "no loopback ping events in a to compare with"
    );

    // ... with it, only the veth's packets: every event has the ifindex, the pair's ping is there, lo's is not.
    let expr = format!("skb->dev->ifindex == {}", t.ifindex_a);
    let evs = trace(&["--filter-skb-expr", &expr], traffic);
    assert!(
        evs.iter().all(|e| e["ifindex"] == t.ifindex_a),
        "{expr}: {:?}",
        evs.iter().map(|e| &e["ifindex"]).collect::<Vec<_>>()
    );
    assert_eq!(on_lo(&evs), 0);
    assert!(
        pair_icmp(&evs, &t)
            .iter()
            .any(|e| e["netns"] == t.inode_a && e["func"] == "net_dev_start_xmit"),
        "{expr}: the ping over the veth is missing"
    );
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn length_expression_keeps_only_big_packets() {
    let _g = serial();
    let t = NetnsPair::builder("e63", 63).resolve_neighbours().build();
    let evs = trace(&["--filter-skb-expr", "skb->len > 1000"], || {
        ping(&t, &t.a, &t.ip_b, "-s 1200");
        ping(&t, &t.a, &t.ip_b, "-s 100");
    });
    let lens: Vec<u64> = evs.iter().map(|e| e["len"].as_u64().unwrap()).collect();
    assert!(lens.iter().all(|&l| l > 1000), "{lens:?}");
    let mine = pair_icmp(&evs, &t);
    // Echo request and reply, 1200 bytes of payload: received in b and in a.
    for ns in [t.inode_a, t.inode_b] {
        assert!(
            mine.iter()
                .any(|e| e["netns"] == ns && e["func"] == "netif_receive_skb"),
            "big ping received in netns {ns} missing: {lens:?}"
        );
    }
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn mark_and_name_expressions() {
    let _g = serial();
    let t = NetnsPair::builder("e64", 64).resolve_neighbours().build();
    // SO_MARK 0x2a (ping -m 42) on one ping, none on the other: the veth scrubs the mark, so only a's send side
    // carries it.
    let evs = trace(&["--filter-skb-expr", "skb->mark == 0x2a"], || {
        ping(&t, &t.a, &t.ip_b, "-m 42");
        ping(&t, &t.a, &t.ip_b, "");
    });
    assert!(evs.iter().all(|e| e["mark"] == 42), "{evs:?}");
    let marked = pair_icmp(&evs, &t);
    assert!(
        marked
            .iter()
            .any(|e| e["netns"] == t.inode_a && e["func"] == "net_dev_start_xmit"),
        "the marked request leaving a is missing"
    );
    assert!(marked.iter().all(|e| e["netns"] == t.inode_a));

    let expr = format!("skb->dev->name == \"{}\" && skb->dev != NULL", t.veth_b);
    let evs = trace(&["--filter-skb-expr", &expr], || {
        ping(&t, &t.a, &t.ip_b, "")
    });
    assert!(
        evs.iter().all(|e| e["ifname"] == t.veth_b.as_str()),
        "{expr}: {:?}",
        evs.iter().map(|e| &e["iface"]).collect::<Vec<_>>()
    );
    let mine = pair_icmp(&evs, &t);
    assert!(
        mine.iter()
            .any(|e| e["netns"] == t.inode_b && e["func"] == "netif_receive_skb"),
        "{expr}: the request arriving on {} is missing",
        t.veth_b
    );
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn bad_expressions_are_refused_with_the_column() {
    need_root("BPF programs");
    for (expr, want) in [
        (
            "skb->devv->ifindex == 9",
            "--filter-skb-expr: skb->devv: struct sk_buff has no member 'devv' (did you mean 'dev'?) at column 6",
        ),
        (
            "skb->len == \"eth0\"",
            "--filter-skb-expr: cannot compare skb->len (unsigned int) with string \"eth0\"",
        ),
        (
            "skb->len >",
            "--filter-skb-expr: expected a value, found end of expression at column 11",
        ),
    ] {
        let out = Command::new(pwru_bin())
            .args(["--backend", "tracepoint", "--filter-skb-expr", expr])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{expr}: {err}");
        assert_eq!(err.lines().count(), 1, "{expr}: {err}");
        assert!(err.starts_with(&format!("pwru: {want}")), "{expr}: {err}");
        assert!(!err.contains("attach"), "refused before attaching: {err}");
    }
}

/// The value of `expr` in an event's `metadata` object.
fn meta<'a>(e: &'a Value, expr: &str) -> &'a Value {
    let m = &e["metadata"];
    assert!(m.get(expr).is_some(), "no {expr} in {e}");
    &m[expr]
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn metadata_values_are_the_packets() {
    let _g = serial();
    let t = NetnsPair::builder("e65", 65).resolve_neighbours().build();
    let filter = format!("icmp and host {}", t.ip_b);
    // Repeated and comma-separated, as pwru takes them; the ping socket's SO_MARK (ping -m 42) is on skb->mark
    // while the skb is in a and on skb->sk->sk_mark until the socket lets go of it.
    let args = [
        "--output-skb-metadata",
        "skb->mark",
        "--output-skb-metadata",
        "skb->len,skb->dev->name,skb->sk->sk_mark",
        filter.as_str(),
    ];
    let evs = trace(&args, || ping(&t, &t.a, &t.ip_b, "-m 42"));
    let mine = pair_icmp(&evs, &t);
    assert!(mine.len() >= 8, "{evs:?}");
    for e in &mine {
        assert_eq!(meta(e, "skb->mark"), &e["mark"], "{e}");
        assert_eq!(meta(e, "skb->len"), &e["len"], "{e}");
        let name = meta(e, "skb->dev->name");
        assert!(name.is_null() || name == &e["ifname"], "{e}");
    }
    let at = |ns: u32, func: &str| {
        mine.iter()
            .find(|e| e["netns"] == ns && e["func"] == func)
            .unwrap_or_else(|| panic!("no {func} in netns {ns}: {mine:?}"))
    };
    let sent = at(t.inode_a, "net_dev_start_xmit");
    assert_eq!(meta(sent, "skb->mark"), 42, "{sent}");
    assert_eq!(meta(sent, "skb->sk->sk_mark"), 42, "{sent}");
    assert_eq!(meta(sent, "skb->dev->name"), t.veth_a.as_str(), "{sent}");
    // In b, ip_rcv let go of the socket: the request's last event has no skb->sk.
    let freed = mine
        .iter()
        .rfind(|e| e["netns"] == t.inode_b && e["tuple"]["daddr"] == t.ip_b.as_str())
        .unwrap();
    assert!(meta(freed, "skb->sk->sk_mark").is_null(), "{freed}");

    // Text: the values follow the line, unsigned in hex, strings quoted, a NULL on the way as <null>.
    let p = Pwru::start(&[
        "--output-skb-metadata",
        "skb->mark,skb->dev->name,skb->sk->sk_mark",
        filter.as_str(),
    ]);
    ping(&t, &t.a, &t.ip_b, "-m 42");
    settle();
    let out = p.stop(SIGINT);
    let lines: Vec<&str> = out
        .output
        .lines()
        .filter(|l| l.contains("skb->mark="))
        .collect();
    let want = format!(
        " skb->mark=0x2a skb->dev->name=\"{}\" skb->sk->sk_mark=0x2a",
        t.veth_a
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("net_dev_start_xmit") && l.ends_with(&want)),
        "{want}: {}",
        out.output
    );
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with(" skb->sk->sk_mark=<null>")),
        "{}",
        out.output
    );
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn skb_and_shared_info_dumps() {
    let _g = serial();
    let t = NetnsPair::builder("e66", 66).resolve_neighbours().build();
    let filter = format!("icmp and host {}", t.ip_b);
    let evs = trace(
        &[
            "--output-skb",
            "--output-skb-shared-info",
            "--set-percpu-buf",
            "4096",
            &filter,
        ],
        || ping(&t, &t.a, &t.ip_b, "-s 1200"),
    );
    let mine = pair_icmp(&evs, &t);
    assert!(mine.len() >= 8, "{evs:?}");
    for e in &mine {
        let dump = e["skb_dump"]
            .as_str()
            .unwrap_or_else(|| panic!("no skb_dump: {e}"));
        assert!(dump.starts_with("(struct sk_buff){"), "{dump}");
        assert_eq!(e["skb_dump_cut"], false, "{e}");
        // The kernel's .len is the LEN column.
        let len = format!("\n .len = (unsigned int){},\n", e["len"]);
        assert!(dump.contains(&len), "{len} not in {dump}");
        let shinfo = e["skb_shared_info"].as_str().unwrap();
        assert!(shinfo.starts_with("(struct skb_shared_info){"), "{shinfo}");
        assert_eq!(e["skb_shared_info_cut"], false, "{e}");
    }

    // A small buffer cuts the dump, and says so: in JSON and in text.
    let evs = trace(
        &["--output-skb", "--set-percpu-buf", "200", &filter],
        || ping(&t, &t.a, &t.ip_b, ""),
    );
    let mine = pair_icmp(&evs, &t);
    assert!(!mine.is_empty(), "{evs:?}");
    for e in &mine {
        let dump = e["skb_dump"].as_str().unwrap();
        assert!(
            dump.len() <= 199 && dump.starts_with("(struct sk_buff){"),
            "{dump}"
        );
        assert_eq!(e["skb_dump_cut"], true, "{e}");
        assert!(e.get("skb_shared_info").is_none(), "{e}");
    }
    let p = Pwru::start(&["--output-skb", "--set-percpu-buf", "200", &filter]);
    ping(&t, &t.a, &t.ip_b, "");
    settle();
    let out = p.stop(SIGINT);
    let lines: Vec<&str> = out.output.lines().collect();
    let first = lines
        .iter()
        .position(|l| l.contains("net_dev_start_xmit"))
        .unwrap();
    assert_eq!(lines[first + 1], "(struct sk_buff){", "{}", out.output);
    assert!(
        lines[first + 2..]
            .iter()
            .take(20)
            .any(|l| *l == event::text::DUMP_CUT),
        "{}",
        out.output
    );
}

#[test]
#[ignore = "needs root: runs pwru (tests/run.sh runs it)"]
fn bad_metadata_and_buffer_are_refused_in_one_line() {
    need_root("BPF programs");
    for (args, want) in [
        (
            &["--output-skb-metadata", "skb->len,skb->hsah"][..],
            "--output-skb-metadata skb->hsah: skb->hsah: struct sk_buff has no member 'hsah' (did you mean 'hash'",
        ),
        (
            &["--output-skb-metadata", "skb->len +"][..],
            "--output-skb-metadata skb->len +:",
        ),
        (
            &["--output-skb", "--set-percpu-buf", "0"][..],
            "invalid --set-percpu-buf 0: must be from 64 to 32768 bytes",
        ),
        (
            &["--output-skb", "--set-percpu-buf", "20000"][..],
            "--set-percpu-buf 20000: the struct dumps of --output-skb and --output-skb-shared-info take at most 4096 bytes each",
        ),
        (
            &["--filter-xdp-expr", "xdp->rxq->devv->ifindex == 1"][..],
            "--filter-xdp-expr: xdp->rxq->devv: struct xdp_rxq_info has no member 'devv' (did you mean 'dev'?) at column 11",
        ),
        (
            &["--output-xdp-metadata", "xdp->frame_sz,xdp->data +"][..],
            "--output-xdp-metadata xdp->data +:",
        ),
    ] {
        let out = Command::new(pwru_bin())
            .args(["--backend", "tracepoint"])
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with(&format!("pwru: {want}")), "{args:?}: {err}");
    }
}
