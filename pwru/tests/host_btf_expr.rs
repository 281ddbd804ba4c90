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
