//! tc/XDP program tracing on the host kernel, which refuses fentry/fexit programs on BPF programs (EPERM, also as
//! root): the tracer finds that out with its own tail-call test programs (which must load, BTF included) and
//! reports it instead of failing; the rest of the tracer works. The tracing itself is tested in the VMs.
mod common;

use common::*;
use probes::{Config, ProgTracing, Tracer};

#[test]
#[ignore = "needs root: BPF programs on the running kernel (tests/run.sh runs it)"]
fn refused_kernel_is_reported_not_fatal() {
    let _g = testkit::serial();
    let cfg = Config {
        tracepoints: tracepoints(&["netif_receive_skb"]),
        progs: ProgTracing {
            tc: true,
            xdp: true,
            helpers: false,
            poll: Some(std::time::Duration::from_millis(100)),
        },
        skb_cb: true,
        ..Config::default()
    };
    let mut t = Tracer::load(cfg).unwrap_or_else(|e| panic!("load: {e}"));
    let st = t
        .attach(|_, _, _| {})
        .unwrap_or_else(|e| panic!("attach: {e}"));
    let r = st.progs.expect("a report for the programs");
    assert_eq!(
        r.refused.as_deref(),
        Some("loading an fentry program on a BPF program: permission denied"),
        "{r:?}"
    );
    assert_eq!(r.traced, 0);
    assert!(t.prog_events().is_empty());
    assert_eq!(st.attached, 1, "the tracepoint is attached all the same");
    detach_and_check(t);
}
