//! What probes' tests attach to, read from BTF with testkit's reader (the skb tracepoints and functions of a kernel
//! as probes targets; drop-reason positions are passed as found, probes decides which it reads), and the steps the
//! host tests share: load and attach, drain the ring, check the counters, detach and check for leftovers.
#![allow(dead_code)]
use probes::event::{EV_HAS_TUPLE, EV_IPV6, EV_KIND_TRACEPOINT};
use probes::progs::ProgsReport;
use probes::{
    ArgIndex, Config, ProgTracing, RawEvent, Record, RingReader, Target, TracepointTarget, Tracer,
};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};
use testkit::btf::Btf;

fn arg(pos: usize) -> ArgIndex {
    ArgIndex(pos as u8)
}

/// Every skb tracepoint.
pub fn skb_tracepoints(btf: &Btf) -> Vec<TracepointTarget> {
    btf.skb_tracepoints()
        .into_iter()
        .map(|s| TracepointTarget {
            reason_arg: s.drop_reasons.first().copied().map(arg),
            skb_arg: arg(s.skb),
            nargs: s.nargs as u8,
            name: s.name,
        })
        .collect()
}

/// Every function with an skb among its first five parameters.
pub fn skb_functions(btf: &Btf) -> Vec<Target> {
    btf.skb_functions()
        .into_iter()
        .map(|s| Target {
            reason_arg: s.drop_reasons.first().copied().map(arg),
            skb_arg: arg(s.skb),
            module: None,
            address: None,
            name: s.name,
        })
        .collect()
}

/// The named skb tracepoints of the running kernel.
pub fn tracepoints(names: &[&str]) -> Vec<TracepointTarget> {
    let all = skb_tracepoints(&Btf::vmlinux());
    names
        .iter()
        .map(|n| {
            all.iter()
                .find(|t| t.name == *n)
                .unwrap_or_else(|| panic!("no skb tracepoint {n}"))
                .clone()
        })
        .collect()
}

/// Drains the ring until it has been quiet for `quiet`.
pub fn drain(ring: &mut RingReader, quiet: Duration) -> Vec<Record> {
    let mut out = Vec::new();
    let mut last = Instant::now();
    while last.elapsed() < quiet {
        if ring.poll(Duration::from_millis(50)).unwrap() && ring.drain_into(&mut out) > 0 {
            last = Instant::now();
        }
    }
    out
}

/// The IPv4 addresses of an event with an IPv4 tuple.
pub fn ipv4(e: &RawEvent) -> Option<(Ipv4Addr, Ipv4Addr)> {
    (e.flags & EV_HAS_TUPLE != 0 && e.flags & EV_IPV6 == 0).then(|| {
        (
            Ipv4Addr::new(e.saddr[0], e.saddr[1], e.saddr[2], e.saddr[3]),
            Ipv4Addr::new(e.daddr[0], e.daddr[1], e.daddr[2], e.daddr[3]),
        )
    })
}

/// The tracepoint an event came from.
pub fn name<'a>(cfg: &'a Config, e: &RawEvent) -> &'a str {
    assert_eq!(e.kind, EV_KIND_TRACEPOINT);
    &cfg.tracepoints[e.probe_id as usize].name
}

/// Detaches and checks that none of the tracer's programs or links is left in the kernel.
pub fn detach_and_check(mut t: Tracer) {
    let ids = t.kernel_ids();
    assert!(!ids.programs.is_empty());
    let st = t.detach();
    eprintln!("detached {} links in {:?}", st.closed, st.elapsed);
    assert_eq!(
        (st.produced, st.lost),
        (t.produced(), t.lost()),
        "counters stay readable after detach"
    );
    drop(t);
    // The kernel frees programs after an RCU grace period: give it a moment.
    let t0 = Instant::now();
    loop {
        let still = |kind, mine: &[u32]| -> Vec<u32> {
            bpf_sys::obj::ids(kind)
                .expect("list the kernel's BPF ids")
                .into_iter()
                .filter(|id| mine.contains(id))
                .collect()
        };
        let progs = still(bpf_sys::obj::Kind::Prog, &ids.programs);
        let links = still(bpf_sys::obj::Kind::Link, &ids.links);
        if progs.is_empty() && links.is_empty() {
            eprintln!("kernel released everything {:?} after detach", t0.elapsed());
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "left 5 s after detach: programs {progs:?}, links {links:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Loads and attaches `cfg` (every tracepoint must attach or be reported ignored) and takes the ring.
pub fn load_attach(cfg: Config) -> (Tracer, RingReader, Config) {
    attach_loaded(Tracer::load(cfg).unwrap_or_else(|e| panic!("load: {e}")))
}

/// [`load_attach`] for a tracer loaded already.
pub fn attach_loaded(mut t: Tracer) -> (Tracer, RingReader, Config) {
    let cfg = t.config().clone();
    let st = t
        .attach(|_, _, _| {})
        .unwrap_or_else(|e| panic!("attach: {e}"));
    eprintln!(
        "loaded in {:?}, attached {} tracepoints ({} tp_btf, {} raw_tp) in {:?}, ignored {:?}",
        t.load_time(),
        st.attached,
        st.tracepoints.tp_btf,
        st.tracepoints.raw_tp,
        st.elapsed,
        st.ignored
    );
    assert_eq!(st.attached + st.ignored.len(), cfg.tracepoints.len());
    let ring = t.take_ring().expect("ring");
    (t, ring, cfg)
}

/// Loads a tracer of tc and XDP programs (polled every 100 ms, beside a tracepoint on `netif_receive_skb`), with
/// `__sk_buff->cb` in skb events or not, and attaches it: the tracer, how many targets it attached, and its report
/// on the programs.
pub fn attach_progs(skb_cb: bool) -> (Tracer, usize, ProgsReport) {
    let cfg = Config {
        tracepoints: tracepoints(&["netif_receive_skb"]),
        progs: ProgTracing {
            tc: true,
            xdp: true,
            helpers: false,
            poll: Some(Duration::from_millis(100)),
            ..ProgTracing::default()
        },
        skb_cb,
        ..Config::default()
    };
    let mut t = Tracer::load(cfg).unwrap_or_else(|e| panic!("load: {e}"));
    let st = t
        .attach(|_, _, _| {})
        .unwrap_or_else(|e| panic!("attach: {e}"));
    let r = st.progs.expect("a report for the programs");
    (t, st.attached, r)
}

/// Waits for the counters to settle and checks produced == delivered + lost, draining the ring until the end.
pub fn check_counters(
    t: &Tracer,
    ring: &mut RingReader,
    mut delivered: usize,
) -> (u64, u64, usize) {
    loop {
        let (p, l) = (t.produced(), t.lost());
        delivered += drain(ring, Duration::from_millis(300)).len();
        if t.produced() == p {
            assert_eq!(
                p,
                delivered as u64 + l,
                "produced = delivered + lost (delivered {delivered}, lost {l})"
            );
            return (p, l, delivered);
        }
    }
}
