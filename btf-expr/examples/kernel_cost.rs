//! Kernel cost per event of the BTF expressions beside the pcap filter's (run as root, release mode, on the host):
//!   cargo run --release -p btf-expr --example kernel_cost [PINGS]
//! A ping flood (1400-byte payload) between two network namespaces runs under the tracepoint backend once per row;
//! BPF_ENABLE_STATS makes the kernel time every run of our programs. Each filter is measured accepting the flood
//! (its cost plus the event's) and rejecting it (its cost alone, the common case of a selective filter); the
//! values and the struct dump are measured on every event.
use bpf_sys::obj::{self, Kind};
use bpf_sys::prog;
use bpf_sys::uapi::bpf_stats_type;
use probes::{Config, Dumps, FetchCode, FilterCode, TracepointTarget, Tracer};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use testkit::NetnsPair;

const TPS: [&str; 6] = [
    "netif_receive_skb",
    "net_dev_queue",
    "net_dev_start_xmit",
    "net_dev_xmit",
    "consume_skb",
    "kfree_skb",
];

fn tracepoints() -> Vec<TracepointTarget> {
    let btf = testkit::btf::Btf::vmlinux();
    btf.skb_tracepoints()
        .into_iter()
        .filter(|s| TPS.contains(&s.name.as_str()))
        .map(|s| TracepointTarget {
            reason_arg: s.drop_reasons.first().map(|&r| probes::ArgIndex(r as u8)),
            skb_arg: probes::ArgIndex(s.skb as u8),
            nargs: s.nargs as u8,
            name: s.name,
        })
        .collect()
}

/// (run_time_ns, run_cnt) summed over programs.
fn stats(ids: &[u32]) -> (u64, u64) {
    ids.iter().fold((0, 0), |(t, c), &id| {
        let fd = obj::fd_by_id(Kind::Prog, id).expect("program by id");
        let i = obj::prog_info(fd.as_fd()).expect("program info");
        (t + i.run_time_ns, c + i.run_cnt)
    })
}

fn flood(pair: &NetnsPair, pings: u32) -> Duration {
    let t0 = Instant::now();
    pair.exec(
        &pair.a,
        &format!(
            "ping -f -q -c {pings} -s 1400 -W 1 {} >/dev/null; true",
            pair.ip_b
        ),
    );
    t0.elapsed()
}

/// Runs the flood under `cfg`: (events read, program runs, ns in the programs, wall).
fn measure(pair: &NetnsPair, pings: u32, cfg: Config) -> (u64, u64, u64, Duration) {
    let mut t = Tracer::load(cfg).expect("Tracer::load");
    t.attach(|_, _, _| {}).expect("attach");
    let mut ring = t.take_ring().unwrap();
    let ids = t.kernel_ids().programs;
    let done = Arc::new(AtomicBool::new(false));
    let reader = std::thread::spawn({
        let done = done.clone();
        move || {
            let mut n = 0u64;
            loop {
                let stop = done.load(Ordering::Relaxed);
                ring.poll(Duration::from_millis(20)).unwrap();
                while ring.next_event().is_some() {
                    n += 1;
                }
                if stop {
                    return n;
                }
            }
        }
    });
    let before = stats(&ids);
    let wall = flood(pair, pings);
    let after = stats(&ids);
    std::thread::sleep(Duration::from_millis(200));
    done.store(true, Ordering::Relaxed);
    let events = reader.join().unwrap();
    t.detach();
    (events, after.1 - before.1, after.0 - before.0, wall)
}

fn main() {
    let pings: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20000);
    let pair = NetnsPair::new("ek", 208);
    let _stats: OwnedFd =
        prog::enable_stats(bpf_stats_type::BPF_STATS_RUN_TIME).expect("BPF_ENABLE_STATS");
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
    let base = || Config {
        tracepoints: tracepoints(),
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
        "host {}, {pings} pings -f -s 1400 between two netns, tracepoints {TPS:?}",
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "| {:<40} | {:>9} | {:>9} | {:>7} | {:>6} |",
        "programs", "events", "runs", "ns/run", "wall s"
    );
    println!("|---|---|---|---|---|");
    for (name, cfg) in rows {
        let (events, runs, ns, wall) = measure(&pair, pings, cfg);
        println!(
            "| {name:<40} | {events:>9} | {runs:>9} | {:>7.0} | {:>6.2} |",
            ns as f64 / runs.max(1) as f64,
            wall.as_secs_f64()
        );
    }
}
