//! tc/XDP program tracing on the host kernel, which refuses fentry/fexit programs on BPF programs (EPERM, also as
//! root): the tracer finds that out with its own tail-call test programs (which must load, BTF included) and
//! reports it instead of failing; the rest of the tracer works. The tracing itself is tested in the VMs.
mod common;

use common::*;

#[test]
#[ignore = "needs root: BPF programs on the running kernel (tests/run.sh runs it)"]
fn refused_kernel_is_reported_not_fatal() {
    let _g = testkit::serial();
    let (t, attached, r) = attach_progs(true);
    assert_eq!(
        r.refused.as_deref(),
        Some("loading an fentry program on a BPF program: permission denied"),
        "{r:?}"
    );
    assert_eq!(r.traced, 0);
    assert!(t.prog_events().is_empty());
    assert_eq!(attached, 1, "the tracepoint is attached all the same");
    detach_and_check(t);
}
