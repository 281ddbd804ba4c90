//! Kernel cost per event of the BTF expressions beside the pcap filter's (run as root, release mode, on the host):
//!   cargo run --release -p btf-expr --example kernel_cost [PINGS]
//! A ping flood (1400-byte payload) between two network namespaces runs under the tracepoint backend once per row;
//! BPF_ENABLE_STATS makes the kernel time every run of our programs. Each filter is measured accepting the flood
//! (its cost plus the event's) and rejecting it (its cost alone, the common case of a selective filter); the
//! values and the struct dump are measured on every event.
use probes::{Config, Dumps, FetchCode, FilterCode, TracepointTarget, Tracer};
use std::sync::atomic::Ordering;
use std::time::Duration;
use testkit::flood::{self, Bench, Cost};

/// Runs the flood under `cfg`: (events read, what the programs cost).
fn measure(bench: &Bench, cfg: Config) -> (u64, Cost) {
    let mut t = Tracer::load(cfg).expect("Tracer::load");
    t.attach(|_, _, _| {}).expect("attach");
    let mut ring = t.take_ring().unwrap();
    let ids = t.kernel_ids().programs;
    let (cost, events) = bench.measure(&ids, |stop| {
        let mut n = 0u64;
        loop {
            let stopping = stop.load(Ordering::Relaxed);
            ring.poll(Duration::from_millis(20)).unwrap();
            while ring.next_event().is_some() {
                n += 1;
            }
            if stopping {
                return n;
            }
        }
    });
    t.detach();
    (events, cost)
}

fn main() {
    let bench = Bench::new("ek", 208);
    let pair = &bench.pair;
    let btf =
        symbols::Btf::from_bytes(std::fs::read("/sys/kernel/btf/vmlinux").expect("vmlinux BTF"))
            .expect("parse vmlinux BTF");
    let skb = btf_expr::Compiler::new(&btf, "skb", "sk_buff").expect("struct sk_buff");
    let pcap = |expr: &str| {
        let p = pcap_filter::compile(expr).expect("pcap filter");
        Some(FilterCode {
            insns: p.to_bytes(),
            snaplen: p.snaplen,
        })
    };
    let expr = |e: &str| Some(skb.filter(e).expect("BTF expression").to_bytes());
    let fetch = |es: &[&str]| {
        let f = skb.fetch(es).expect("BTF expressions");
        Some(FetchCode {
            insns: f.to_bytes(),
            area_size: f.area_size,
        })
    };
    let tracepoints: Vec<TracepointTarget> = symbols::skb_tracepoints(&btf)
        .into_iter()
        .filter(|t| flood::TRACEPOINTS.contains(&t.name.as_str()))
        .map(TracepointTarget::from)
        .collect();
    let base = || Config {
        tracepoints: tracepoints.clone(),
        ringbuf_bytes: 64 << 20,
        ..Config::default()
    };
    let host = format!("host {}", pair.ip_b);
    let dev = format!(
        "skb->dev->name == \"{}\" || skb->dev->name == \"{}\"",
        pair.veth_a, pair.veth_b
    );
    let rows: Vec<(String, Config)> = vec![
        ("no filter".into(), base()),
        (
            format!("pcap '{host}' (accepts)"),
            Config {
                filter: pcap(&host),
                ..base()
            },
        ),
        (
            "pcap 'udp port 53' (rejects)".into(),
            Config {
                filter: pcap("udp port 53"),
                ..base()
            },
        ),
        (
            "expr 'skb->len > 1000' (accepts)".into(),
            Config {
                skb_expr: expr("skb->len > 1000"),
                ..base()
            },
        ),
        (
            "expr 'skb->len > 100000' (rejects)".into(),
            Config {
                skb_expr: expr("skb->len > 100000"),
                ..base()
            },
        ),
        (
            "expr dev->name, 2 names (accepts)".into(),
            Config {
                skb_expr: expr(&dev),
                ..base()
            },
        ),
        (
            "expr 'skb->dev->name == \"x\"' (rejects)".into(),
            Config {
                skb_expr: expr("skb->dev->name == \"x\""),
                ..base()
            },
        ),
        (
            "metadata mark,hash,len,dev->name".into(),
            Config {
                skb_fetch: fetch(&["skb->mark", "skb->hash", "skb->len", "skb->dev->name"]),
                ..base()
            },
        ),
        (
            "--output-skb (4096 B buffer)".into(),
            Config {
                dumps: Dumps {
                    skb: true,
                    shared_info: false,
                },
                percpu_buf: 4096,
                ..base()
            },
        ),
    ];
    println!(
        "| {:<40} | {:>9} | {:>9} | {:>7} | {:>6} |",
        "programs", "events", "runs", "ns/run", "wall s"
    );
    println!("|---|---|---|---|---|");
    for (name, cfg) in rows {
        let (events, cost) = measure(&bench, cfg);
        println!(
            "| {name:<40} | {events:>9} | {:>9} | {:>7.0} | {:>6.2} |",
            cost.runs,
            cost.ns_per_run(),
            cost.wall.as_secs_f64()
        );
    }
}
