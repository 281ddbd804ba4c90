//! Root test of the drop-reason path against the real kernel: a tc program in the role of Cilium's datapath drops
//! IPv4 packets on a veth and counts them in a `cilium_metrics`-shaped per-CPU map with reason 133 (DROP_POLICY),
//! exactly as `update_metrics()` does; the correlator must name POLICY_DENIED from the before/after snapshots and
//! put the fixture's identities and the endpoint's policy verdict beside the flow.

mod common;

use common::cluster::{self, Layout};
use common::drop_prog::{pods_with_drop_on_ingress, program};
use common::*;
use std::os::fd::AsRawFd;
use testkit::sh;

/// The drop is counted in softirq context; poll (up to 5 s) until `n` more drops than in `since` are visible.
fn wait_for_drops(
    corr: &cilium::Correlator,
    since: &cilium::MetricsSnapshot,
    n: u64,
) -> cilium::MetricsSnapshot {
    let t0 = std::time::Instant::now();
    loop {
        let now = corr.metrics_snapshot().unwrap();
        let seen: u64 = cilium::drop_reason_from_metrics(since, &now)
            .iter()
            .map(|d| d.packets)
            .sum();
        if seen >= n || t0.elapsed() > std::time::Duration::from_secs(5) {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
#[ignore = "needs root: BPF maps in a private bpffs (tests/run.sh runs it)"]
fn tc_drop_is_named_policy_denied() {
    let fs = Bpffs::new("dropmetrics");
    cluster::build(&fs, Layout::V1_17);
    let metrics = obj_get(&fs.globals().join("cilium_metrics"));
    // Pinned among the maps on purpose: `maps` must skip programs, not misread them.
    let prog_pin = fs.globals().join("policy_drop_prog");
    let _prog = load_tc_prog(&program(metrics.as_raw_fd()), &prog_pin);

    // Remote pod 10.244.2.7 (identity 34567) sends to the local server 10.244.1.6 (endpoint 2001), whose ingress
    // policy has no rule for 34567 on 8080.
    let ns = pods_with_drop_on_ingress("drop", &prog_pin);

    let mut corr = cilium::Correlator::open(Some(&fs.root), None).unwrap();
    corr.set_clock(None);
    let before = corr.metrics_snapshot().unwrap();
    assert!(
        cilium::drop_reason_from_metrics(&before, &corr.metrics_snapshot().unwrap()).is_empty()
    );
    sh(&format!(
        "ip netns exec {a} bash -c 'for i in 1 2 3; do echo hello > /dev/udp/10.244.1.6/8080; done'",
        a = ns.a
    ));
    let after = wait_for_drops(&corr, &before, 3);
    let drops = cilium::drop_reason_from_metrics(&before, &after);
    assert_eq!(drops.len(), 1, "{drops:?}");
    let d = &drops[0];
    assert_eq!((d.code, d.name, d.packets), (133, Some("POLICY_DENIED"), 3));
    // 3 × (20 IP + 8 UDP + 6 payload) = 102 bytes: skb->len at tc ingress is the L2 frame (14 more each).
    assert_eq!(d.bytes, 3 * (14 + 20 + 8 + 6));
    assert_eq!(
        d.text(),
        "cilium drop: POLICY_DENIED (133, Policy denied) INGRESS at bpf_lxc.c:42 (+3 packets)"
    );
    let ann = cilium::DropDelta::annotation(&drops).unwrap();
    assert_eq!(ann.name, "cilium_drop");
    assert_eq!(ann.json[0]["name"], "POLICY_DENIED");

    // The same flow as the trace would see it.
    let flow = cilium::flow::parse_tuple("10.244.2.7:40000->10.244.1.6:8080/udp").unwrap();
    let a = corr.annotate(&flow, 0).unwrap();
    let text = a.lines.join("\n");
    assert!(
        text.contains(
            "cilium src 10.244.2.7 identity 34567 -> dst 10.244.1.6 identity 23456 endpoint 2001"
        ),
        "{text}"
    );
    assert!(
        text.contains("cilium policy ingress endpoint 2001 from identity 34567 8080/UDP: DENIED: POLICY_DENIED (133"),
        "{text}"
    );

    // The trace's per-event hook: a drop event of the flow gets both annotations; a second drop with no new
    // counter gets only the flow's.
    let mut enr = cilium::Enricher::open(Some(&fs.root)).unwrap();
    enr.correlator().set_clock(None);
    let seen = corr.metrics_snapshot().unwrap();
    sh(&format!(
        "ip netns exec {a} bash -c 'echo again > /dev/udp/10.244.1.6/8080'",
        a = ns.a
    ));
    wait_for_drops(&corr, &seen, 1);
    let mut ev = event::Event {
        tuple: Some(event::Tuple {
            saddr: "10.244.2.7".parse().unwrap(),
            daddr: "10.244.1.6".parse().unwrap(),
            sport: 40000,
            dport: 8080,
            proto: 17,
            tcp_flags: 0,
        }),
        drop_reason: Some(event::DropReason {
            code: 2,
            name: Some("NOT_SPECIFIED".into()),
        }),
        ..Default::default()
    };
    let mut ev2 = ev.clone();
    enr.enrich(&mut ev);
    let names: Vec<_> = ev.annotations.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["cilium", "cilium_drop"]);
    assert_eq!(
        ev.annotations[1].lines,
        ["cilium drop: POLICY_DENIED (133, Policy denied) INGRESS at bpf_lxc.c:42 (+1 packets)"]
    );
    enr.enrich(&mut ev2);
    assert_eq!(
        ev2.annotations.len(),
        1,
        "no new drop counted: {:?}",
        ev2.annotations
    );
    let text = event::TextFormatter::new(Default::default()).format(&ev);
    assert!(text.contains("cilium drop: POLICY_DENIED"), "{text}");

    // A traced tc program (--filter-trace-tc) returning TC_ACT_SHOT on the server's lxc device (ifindex 14 in the
    // fixture): Cilium's reason for the drop and the endpoint the program serves.
    use std::os::unix::fs::MetadataExt;
    let own_netns = std::fs::metadata("/proc/self/ns/net").unwrap().ino() as u32;
    let seen = corr.metrics_snapshot().unwrap();
    sh(&format!(
        "ip netns exec {a} bash -c 'echo tc > /dev/udp/10.244.1.6/8080'",
        a = ns.a
    ));
    wait_for_drops(&corr, &seen, 1);
    let shot = event::Event {
        func: "cil_from_container".into(),
        func_kind: event::FuncKind::Tc,
        ifindex: 14,
        netns: own_netns,
        verdict: Some(event::Verdict::tc(2)),
        drop_reason: None,
        ..ev2.clone()
    };
    let mut ev3 = shot.clone();
    ev3.annotations.clear();
    enr.enrich(&mut ev3);
    let names: Vec<_> = ev3.annotations.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["cilium", "cilium_endpoint", "cilium_drop"]);
    assert_eq!(
        ev3.annotations[1].lines,
        ["cilium endpoint 2001 on ifindex 14: 10.244.1.6 identity 23456"]
    );
    assert_eq!(ev3.annotations[1].json["id"], 2001);
    assert_eq!(
        ev3.annotations[2].lines,
        ["cilium drop: POLICY_DENIED (133, Policy denied) INGRESS at bpf_lxc.c:42 (+1 packets)"]
    );
    let line = event::TextFormatter::new(Default::default()).format(&ev3);
    assert!(
        line.contains(" cil_from_container(tc)=TC_ACT_SHOT\n"),
        "{line}"
    );
    // TC_ACT_OK is no drop; an event in another netns (a pod's ifindex 14) is no endpoint's.
    let mut ok = event::Event {
        verdict: Some(event::Verdict::tc(0)),
        netns: own_netns.wrapping_add(1),
        ..shot
    };
    ok.annotations.clear();
    enr.enrich(&mut ok);
    let names: Vec<_> = ok.annotations.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["cilium"]);

    // And cilium-dbg's view of the counters after the drops.
    let metrics_out = run(&fs, &["metrics"]).unwrap();
    let maps_out = run(&fs, &["maps"]).unwrap();
    assert!(!maps_out.contains("policy_drop_prog"), "{maps_out}");
    assert!(maps_out.contains("cilium_metrics"), "{maps_out}");
    assert!(
        metrics_out
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["Policy", "denied", "INGRESS", "5", "237", "42", "bpf_lxc.c"]),
        "{metrics_out}"
    );
}
