//! Kernel cost per event with and without packet bytes (run as root, release mode, on the host):
//!   cargo run --release -p probes --example emit_bench [PINGS]
//! A ping flood (1400-byte payload) between two network namespaces runs under the tracepoint backend, once per
//! snaplen, and once counting in the kernel (a summary-only run); BPF_ENABLE_STATS makes the kernel time every run of
//! our programs. The table gives the mean ns per program run, beside the floor: a program that only returns (the
//! tracepoint and stats overhead alone).
use bpf_sys::obj;
use bpf_sys::prog::{self, ProgLoad};
use bpf_sys::uapi::{bpf_insn, bpf_prog_type};
use probes::contract::role;
use probes::{Config, KernelSummary, TracepointTarget, Tracer};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::time::Duration;
use testkit::flood::{self, Bench, Cost, xlated_insns};

fn tracepoints() -> Vec<TracepointTarget> {
    let btf =
        symbols::Btf::from_bytes(std::fs::read("/sys/kernel/btf/vmlinux").expect("vmlinux BTF"))
            .expect("parse vmlinux BTF");
    symbols::skb_tracepoints(&btf)
        .into_iter()
        .filter(|t| flood::TRACEPOINTS.contains(&t.name.as_str()))
        .map(TracepointTarget::from)
        .collect()
}

fn row(name: &str, insns: u32, events: u64, record_bytes: u64, lost: u64, cost: Cost) {
    println!(
        "| {name:<22} | {insns:>6} | {events:>9} | {:>8} | {lost:>6} | {:>9} | {:>7.0} | {:>6.2} |",
        record_bytes.checked_div(events).unwrap_or(0),
        cost.runs,
        cost.ns_per_run(),
        cost.wall.as_secs_f64()
    );
}

fn main() {
    let bench = Bench::new("eb", 207);
    println!(
        "| {:<22} | {:>6} | {:>9} | {:>8} | {:>6} | {:>9} | {:>7} | {:>6} |",
        "programs", "insns", "events", "B/record", "lost", "runs", "ns/run", "wall s"
    );
    println!("|---|---|---|---|---|---|---|---|");

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
        let names: Vec<std::ffi::CString> = flood::TRACEPOINTS
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
        let cost = bench.flood(&[id]);
        drop(links);
        row("return 0 (floor)", xlated_insns(id), 0, 0, 0, cost);
    }

    // The last row counts in the kernel, as a summary-only run does, with the roles pwru gives these tracepoints
    // (event::fate's rules, written out here: this crate does not depend on that one).
    let roles = |t: &TracepointTarget| match t.name.as_str() {
        "kfree_skb" => role::DROP | role::FREES | role::RELEASE_STEP,
        "consume_skb" => role::FREES | role::RELEASE_STEP,
        "netif_receive_skb" => role::STARTS_RX | role::RECEIVE,
        "net_dev_queue" => role::STARTS_TX,
        _ => role::HANDOFF,
    };
    for (snaplen, summary) in [
        (0u32, false),
        (64, false),
        (256, false),
        (1500, false),
        (0, true),
    ] {
        let tracepoints = tracepoints();
        let summary = summary.then(|| KernelSummary {
            roles: tracepoints.iter().map(roles).collect(),
            consumed_reasons: Vec::new(),
        });
        let name = match summary {
            Some(_) => "pwru, in-kernel summary".to_string(),
            None => format!("pwru, snaplen {snaplen}"),
        };
        let cfg = Config {
            tracepoints,
            ringbuf_bytes: 64 << 20,
            snaplen,
            summary,
            ..Config::default()
        };
        let mut t = Tracer::load(cfg).expect("Tracer::load");
        t.attach(|_, _, _| {}).expect("attach");
        let mut ring = t.take_ring().unwrap();
        let ids = t.kernel_ids().programs;
        let (cost, (events, bytes)) = bench.measure(&ids, |stop| {
            let (mut n, mut bytes) = (0u64, 0u64);
            loop {
                let stopping = stop.load(Ordering::Relaxed);
                ring.poll(Duration::from_millis(20)).unwrap();
                while let Some(r) = ring.next_event() {
                    n += 1;
                    bytes += r.head.size as u64;
                }
                if stopping {
                    return (n, bytes);
                }
            }
        });
        let n = xlated_insns(ids[0]);
        let st = t.detach();
        row(&name, n, events, bytes, st.lost, cost);
    }
}
