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
        let kprobes = (1..=5)
            .map(|a| probes::Target {
                name: format!("f{a}"),
                module: None,
                skb_arg: a,
                reason_arg: None,
            })
            .collect();
        let cfg = probes::Config {
            backend,
            kprobes,
            ..Default::default()
        };
        let t = Instant::now();
        let tr = probes::Tracer::load(cfg).expect("Tracer::load");
        println!(
            "Tracer::load {:<12} {:>8.1} ms",
            backend.name(),
            t.elapsed().as_secs_f64() * 1e3
        );
        drop(tr);
    }
}
