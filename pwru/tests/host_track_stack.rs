//! Host end-to-end of `--filter-track-skb-by-stackid` (the test kit runs the tracepoint backend; real packets through a veth pair): the
//! filter selects only the echo request; the reply is a new skb that the namespace builds while the request is
//! being processed by the same task, and stack tracking follows it. Run as root:
//! `cargo test -p pwru --test host_track_stack -- --include-ignored`. The kprobe side (`--filter-non-skb-funcs`)
//! is proven in the VM (tests/vm scenario 14).

use testkit::pwru::*;
use testkit::{NetnsPair, serial};

/// (skb, saddr, by_stack) of the ICMP events between the pair.
fn icmp(f: &Finished, t: &NetnsPair) -> Vec<(String, String, bool)> {
    f.json()
        .into_iter()
        .filter(|e| {
            e["tuple"]["proto"] == 1
                && [t.ip_a.as_str(), t.ip_b.as_str()]
                    .contains(&e["tuple"]["saddr"].as_str().unwrap_or(""))
                && [t.ip_a.as_str(), t.ip_b.as_str()]
                    .contains(&e["tuple"]["daddr"].as_str().unwrap_or(""))
        })
        .map(|e| {
            (
                e["skb"].as_str().unwrap_or("").to_string(),
                e["tuple"]["saddr"].as_str().unwrap_or("").to_string(),
                e["by_stack"] == true,
            )
        })
        .collect()
}

fn trace_ping(t: &NetnsPair, extra: &[&str]) -> Vec<(String, String, bool)> {
    let filter = format!("icmp[icmptype] == icmp-echo and host {}", t.ip_b);
    let mut args = vec!["--output-json"];
    args.extend_from_slice(extra);
    args.push(&filter);
    let p = Pwru::start(&args);
    t.exec(&t.a, &format!("ping -c1 -W2 {}", t.ip_b));
    settle();
    let f = p.stop(SIGINT);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    icmp(&f, t)
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn the_reply_built_while_the_request_is_processed_is_followed_by_stack() {
    let _g = serial();
    let t = NetnsPair::builder("t67", 67).resolve_neighbours().build();
    let evs = trace_ping(&t, &["--filter-track-skb", "--filter-track-skb-by-stackid"]);
    let req: Vec<_> = evs.iter().filter(|e| e.1 == t.ip_a).collect();
    let rep: Vec<_> = evs.iter().filter(|e| e.1 == t.ip_b).collect();
    assert!(!req.is_empty(), "no request event: {evs:?}");
    assert!(
        req.iter().all(|e| !e.2),
        "the selected request is not by_stack: {evs:?}"
    );
    assert!(rep.len() >= 2, "the reply is followed: {evs:?}");
    assert!(
        rep[0].2,
        "the reply's first event says it was followed by stack: {evs:?}"
    );
    assert!(
        rep.iter().all(|e| e.0 != req[0].0),
        "the reply is another skb: {evs:?}"
    );
    assert!(
        rep.iter().all(|e| e.0 == rep[0].0),
        "one reply skb, followed from there: {evs:?}"
    );

    // Control: without stack tracking the reply does not match the filter.
    let evs = trace_ping(&t, &["--filter-track-skb"]);
    assert!(
        evs.iter().any(|e| e.1 == t.ip_a),
        "no request event: {evs:?}"
    );
    assert!(
        evs.iter().all(|e| e.1 != t.ip_b && !e.2),
        "no reply event without stack tracking: {evs:?}"
    );
}

#[test]
#[ignore = "needs root: probes the kernel's tracing support"]
fn non_skb_funcs_are_refused_by_the_tracepoint_backend() {
    let err = one_line_error(&[
        "--backend",
        "tracepoint",
        "--filter-non-skb-funcs",
        "fib_table_lookup",
    ]);
    assert!(
        err.starts_with("pwru: --filter-non-skb-funcs needs kprobes: the tracepoint backend cannot probe functions"),
        "{err}"
    );
}
