//! Kernel cost per event with and without packet bytes (run as root, release mode, on the host):
//!   cargo run --release -p probes --example emit_bench [PINGS]
//! A ping flood (1400-byte payload) between two network namespaces runs under the tracepoint backend, once per
//! snaplen; BPF_ENABLE_STATS makes the kernel time every run of our programs. The table gives the mean ns per
//! program run, beside the floor: a program that only returns (the tracepoint and stats overhead alone).
use bpf_sys::obj::{self, Kind};
use bpf_sys::prog::{self, ProgLoad};
use bpf_sys::uapi::{bpf_insn, bpf_prog_type, bpf_stats_type};
use probes::{Config, TracepointTarget, Tracer};
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

/// Instructions of a loaded program after verification (dead branches removed).
fn xlated_insns(id: u32) -> u32 {
    let fd = obj::fd_by_id(Kind::Prog, id).expect("program by id");
    obj::prog_info(fd.as_fd())
        .expect("program info")
        .xlated_prog_len
        / 8
}

#[allow(clippy::too_many_arguments)]
fn row(
    name: &str,
    insns: u32,
    events: u64,
    record_bytes: u64,
    lost: u64,
    runs: u64,
    ns: u64,
    wall: Duration,
) {
    println!(
        "| {name:<22} | {insns:>6} | {events:>9} | {:>8} | {lost:>6} | {runs:>9} | {:>7.0} | {:>6.2} |",
        record_bytes.checked_div(events).unwrap_or(0),
        ns as f64 / runs.max(1) as f64,
        wall.as_secs_f64()
    );
}

fn main() {
    let pings: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20000);
    let pair = NetnsPair::new("eb", 207);
    let _stats: OwnedFd =
        prog::enable_stats(bpf_stats_type::BPF_STATS_RUN_TIME).expect("BPF_ENABLE_STATS");
    println!(
        "host {}, {pings} pings -f -s 1400 between two netns, tracepoints {TPS:?}",
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "| {:<22} | {:>9} | {:>8} | {:>6} | {:>9} | {:>7} | {:>6} |",
        "programs", "events", "B/record", "lost", "runs", "ns/run", "wall s"
    );
    println!("|---|---|---|---|---|---|---|");

    // The floor: `r0 = 0; exit` on the same tracepoints.
    {
        // SAFETY: bpf_insn is plain old data.
        let mut insns: [bpf_insn; 2] = unsafe { std::mem::zeroed() };
        insns[0].code = 0xb7;
        insns[1].code = 0x95;
        let p = prog::prog_load(&ProgLoad::new(
            bpf_prog_type::BPF_PROG_TYPE_RAW_TRACEPOINT,
            "pwru_floor",
            &insns,
        ))
        .expect("load the floor program");
        let names: Vec<std::ffi::CString> = TPS
            .iter()
            .map(|n| std::ffi::CString::new(*n).unwrap())
            .collect();
        let links: Vec<OwnedFd> = names
            .iter()
            .map(|n| {
                bpf_sys::link::raw_tracepoint_open(Some(n), p.as_fd()).expect("attach the floor")
            })
            .collect();
        let id = obj::prog_info(p.as_fd()).unwrap().id;
        let before = stats(&[id]);
        let wall = flood(&pair, pings);
        let after = stats(&[id]);
        drop(links);
        row(
            "return 0 (floor)",
            xlated_insns(id),
            0,
            0,
            0,
            after.1 - before.1,
            after.0 - before.0,
            wall,
        );
    }

    for snaplen in [0u32, 64, 256, 1500] {
        let cfg = Config {
            tracepoints: tracepoints(),
            ringbuf_bytes: 64 << 20,
            snaplen,
            ..Config::default()
        };
        let mut t = Tracer::load(cfg).expect("Tracer::load");
        t.attach(|_, _, _| {}).expect("attach");
        let mut ring = t.take_ring().unwrap();
        let ids = t.kernel_ids().programs;
        let done = Arc::new(AtomicBool::new(false));
        let reader = std::thread::spawn({
            let done = done.clone();
            move || {
                let (mut n, mut bytes) = (0u64, 0u64);
                loop {
                    let stop = done.load(Ordering::Relaxed);
                    ring.poll(Duration::from_millis(20)).unwrap();
                    while let Some(r) = ring.next_event() {
                        n += 1;
                        bytes += r.head.size as u64;
                    }
                    if stop {
                        return (n, bytes);
                    }
                }
            }
        });
        let before = stats(&ids);
        let wall = flood(&pair, pings);
        let after = stats(&ids);
        std::thread::sleep(Duration::from_millis(200));
        done.store(true, Ordering::Relaxed);
        let (events, bytes) = reader.join().unwrap();
        let n = xlated_insns(ids[0]);
        let st = t.detach();
        row(
            &format!("pwru, snaplen {snaplen}"),
            n,
            events,
            bytes,
            st.lost,
            after.1 - before.1,
            after.0 - before.0,
            wall,
        );
    }
}
