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
    // What Tracer::load does with the object: splice a filter in (every program, or only the one a kprobe-multi
    // run with cookies loads), parse, CO-RE relocate.
    let filter = [0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
    let stubs = [probes::splice::Stub {
        section: probes::splice::PCAP_FILTER,
        insns: &filter,
    }];
    for (what, keep) in [
        ("every program", None),
        ("kprobe_multi_cookie", Some(&["kprobe_multi_cookie"][..])),
    ] {
        let t = Instant::now();
        let spliced = match keep {
            None => probes::splice::splice(elf, &stubs),
            Some(k) => probes::splice::splice_keeping(elf, &stubs, k),
        }
        .expect("splice");
        let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
        let splice_ms = ms(t);
        let t = Instant::now();
        let mut obj = aya_obj::Object::parse(&spliced).expect("parse");
        let parse_ms = ms(t);
        let t = Instant::now();
        obj.relocate_btf(&btf).expect("relocate");
        println!(
            "{what:<20} splice {splice_ms:>6.1} ms, parse {parse_ms:>6.1} ms, CO-RE {:>6.1} ms ({} programs, {} kB)",
            ms(t),
            obj.programs.len(),
            spliced.len() / 1024
        );
    }
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
