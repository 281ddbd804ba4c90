//! Times the phases of loading the probes on this kernel (run as root, in release mode):
//!   cargo run --release -p probes --example load_bench
//! Prints one line per phase; used to keep load time in check (numbers in the probes report).
use std::time::Instant;

fn main() {
    let t = Instant::now();
    let btf = aya_obj::btf::Btf::from_sys_fs().expect("kernel BTF");
    println!(
        "parse kernel BTF        {:>8.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let elf = probes::objects::object();
    let t = Instant::now();
    let ebpf = aya::EbpfLoader::new()
        .btf(Some(&btf))
        .load(elf)
        .expect("aya load");
    println!(
        "aya: maps + relocation  {:>8.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    drop(ebpf);
    let t = Instant::now();
    let mut obj = aya_obj::Object::parse(elf).expect("parse");
    println!(
        "parse object            {:>8.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let t = Instant::now();
    obj.relocate_btf(&btf).expect("relocate");
    println!(
        "CO-RE relocation        {:>8.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    for backend in [
        probes::Backend::Tracepoint,
        probes::Backend::Kprobe,
        probes::Backend::KprobeMulti,
    ] {
        let kprobes = (0..5)
            .map(|a| probes::Target {
                name: format!("f{a}"),
                module: None,
                skb_arg: probes::ArgIndex(a),
                reason_arg: None,
                address: None,
            })
            .collect();
        let cfg = probes::Config {
            backend,
            kprobes,
            ..Default::default()
        };
        let t = Instant::now();
        let mut tr = probes::Tracer::load(cfg).expect("Tracer::load");
        println!(
            "Tracer::load {:<12} {:>8.1} ms",
            backend.name(),
            t.elapsed().as_secs_f64() * 1e3
        );
        if backend == probes::Backend::Tracepoint {
            println!("RSS after load          {:>8} kB", rss_kb());
            tr.attach(|_, _, _| {}).expect("attach");
            println!("RSS after attach        {:>8} kB", rss_kb());
        }
        drop(tr);
    }
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
