//! pcap-filter against libpcap: instruction counts per expression, and the kernel's per-packet
//! run time (BPF_PROG_TEST_RUN, repeated) of our eBPF against libpcap's optimised cBPF.
//!
//! - ours: the production path, our code spliced into probes' `filter_test` classifier (map
//!   lookup + bpf_skb_load_bytes of `snaplen` bytes + the filter). "net" subtracts the same
//!   wrapper with an empty filter and the same snaplen.
//! - libpcap: `pcap_compile(EN10MB, optimise)` translated to eBPF the way the kernel converts a
//!   classic socket filter (LD_ABS/LD_IND, A = r0, X = r7, M[] on the stack) and loaded as a
//!   classifier; "net" subtracts a classifier that only returns.
//!
//! Run as root: `cargo bench -p pcap-filter --bench compare` (`-- --no-kernel`: counts and
//! compile times only; `-- --all`: a row per corpus expression, worst ratio first).

use aya::programs::{SchedClassifier, TestRun, TestRunOptions};
use aya::{Ebpf, EbpfLoader};
use object::write::{Object, Symbol, SymbolSection};
use object::{
    Architecture, BinaryFormat, Endianness, SectionKind, SymbolFlags, SymbolKind, SymbolScope,
};
use pcap_filter::cli::{Packet, read_capture};
use pcap_filter::insn::*;
use testkit::libpcap::{CInsn, Program};

/// libpcap's program with its optimiser on (as tcpdump compiles), or None when libpcap refuses the expression.
fn libpcap(dlt: i32, expr: &str) -> Option<Vec<CInsn>> {
    Program::compile(dlt, expr, true)
        .ok()
        .map(|p| p.insns().to_vec())
}

/// Classic BPF to eBPF, as the kernel does for socket filters.
fn cbpf_to_ebpf(prog: &[CInsn]) -> Vec<Insn> {
    const A: u8 = 0;
    const X: u8 = 7;
    let mem = |k: u32| -(8 * (k as i16 + 1));
    // First pass: sizes, to map jump targets.
    let mut out: Vec<Vec<Insn>> = Vec::new();
    let mut fix: Vec<(usize, usize, usize, usize)> = Vec::new(); // (cbpf idx, insn idx in block, target cbpf idx, kind)
    for (i, c) in prog.iter().enumerate() {
        let mut v = Vec::new();
        let class = (c.code & 0x07) as u8;
        let size = (c.code & 0x18) as u8;
        let mode = (c.code & 0xe0) as u8;
        let op = (c.code & 0xf0) as u8;
        let srcx = c.code & 0x08 != 0;
        match class {
            0x00 => match mode {
                0x20 => v.push(Insn::new(0x20 | size, 0, 0, 0, c.k as i32)),
                0x40 => v.push(Insn::new(0x40 | size, 0, X, 0, c.k as i32)),
                0x80 => v.push(Insn::ldx(BPF_W, A, 6, 0)),
                0x00 => v.push(Insn::alu32_imm(MOV, A, c.k as i32)),
                0x60 => v.push(Insn::ldx(BPF_W, A, R10, mem(c.k))),
                _ => panic!("ld mode {mode:#x}"),
            },
            0x01 => match mode {
                0x00 => v.push(Insn::alu32_imm(MOV, X, c.k as i32)),
                0x60 => v.push(Insn::ldx(BPF_W, X, R10, mem(c.k))),
                0x80 => v.push(Insn::ldx(BPF_W, X, 6, 0)),
                0xa0 => {
                    v.push(Insn::alu64_reg(MOV, 8, A));
                    v.push(Insn::new(0x20 | BPF_B, 0, 0, 0, c.k as i32));
                    v.push(Insn::alu32_imm(AND, A, 0xf));
                    v.push(Insn::alu32_imm(LSH, A, 2));
                    v.push(Insn::alu64_reg(MOV, X, A));
                    v.push(Insn::alu64_reg(MOV, A, 8));
                }
                _ => panic!("ldx mode {mode:#x}"),
            },
            0x02 => v.push(Insn::stx(BPF_W, R10, A, mem(c.k))),
            0x03 => v.push(Insn::stx(BPF_W, R10, X, mem(c.k))),
            0x04 => {
                if op == NEG {
                    v.push(Insn::alu32_imm(NEG, A, 0));
                } else if srcx {
                    if op == DIV || op == MOD {
                        v.push(Insn::jmp32_imm(JNE, X, 0, 2));
                        v.push(Insn::alu32_imm(MOV, A, 0));
                        v.push(Insn::exit());
                    }
                    v.push(Insn::alu32_reg(op, A, X));
                } else {
                    v.push(Insn::alu32_imm(op, A, c.k as i32));
                }
            }
            0x05 => {
                if op == JA {
                    fix.push((i, v.len(), i + 1 + c.k as usize, 0));
                    v.push(Insn::ja(0));
                } else {
                    let ins = if srcx {
                        Insn::new(BPF_JMP32 | op | BPF_X, A, X, 0, 0)
                    } else {
                        Insn::new(BPF_JMP32 | op | BPF_K, A, 0, 0, c.k as i32)
                    };
                    fix.push((i, v.len(), i + 1 + c.jt as usize, 0));
                    v.push(ins);
                    if c.jf != 0 {
                        fix.push((i, v.len(), i + 1 + c.jf as usize, 0));
                        v.push(Insn::ja(0));
                    }
                }
            }
            0x06 => {
                if c.code & 0x18 == 0x10 {
                    // ret A
                } else {
                    v.push(Insn::alu32_imm(MOV, A, c.k as i32));
                }
                v.push(Insn::exit());
            }
            0x07 => {
                if c.code & 0xf8 == 0x00 {
                    v.push(Insn::alu64_reg(MOV, X, A)); // tax
                } else {
                    v.push(Insn::alu64_reg(MOV, A, X)); // txa
                }
            }
            _ => unreachable!(),
        }
        out.push(v);
    }
    let prologue = [
        Insn::alu64_reg(MOV, 6, 1),
        Insn::alu64_imm(MOV, A, 0),
        Insn::alu64_imm(MOV, X, 0),
    ];
    let mut start = vec![0usize; out.len() + 1];
    let mut pos = prologue.len();
    for (i, b) in out.iter().enumerate() {
        start[i] = pos;
        pos += b.len();
    }
    start[out.len()] = pos;
    for (ci, k, target, _) in fix {
        let at = start[ci] + k;
        out[ci][k].off = (start[target] as i64 - at as i64 - 1) as i16;
    }
    prologue
        .into_iter()
        .chain(out.into_iter().flatten())
        .collect()
}

fn elf(name: &str, insns: &[Insn]) -> Vec<u8> {
    let code: Vec<u8> = insns.iter().flat_map(|i| i.to_bytes()).collect();
    let mut o = Object::new(BinaryFormat::Elf, Architecture::Bpf, Endianness::Little);
    let text = o.add_section(vec![], b"classifier".to_vec(), SectionKind::Text);
    let off = o.append_section_data(text, &code, 8);
    o.add_symbol(Symbol {
        name: name.as_bytes().to_vec(),
        value: off,
        size: code.len() as u64,
        kind: SymbolKind::Text,
        scope: SymbolScope::Dynamic,
        weak: false,
        section: SymbolSection::Section(text),
        flags: SymbolFlags::None,
    });
    let lic = o.add_section(vec![], b"license".to_vec(), SectionKind::Data);
    o.append_section_data(lic, b"GPL\0", 1);
    o.write().unwrap()
}

struct Loaded {
    ebpf: Ebpf,
    name: &'static str,
}

impl Loaded {
    fn ours(code: &[u8], snaplen: u32) -> Loaded {
        let stub = probes::splice::Stub {
            section: probes::splice::PCAP_FILTER,
            insns: code,
        };
        let elf = probes::splice::splice(probes::objects::object(), &[stub]).expect("splice");
        let one = 1u32;
        let zero = 0u32;
        let snap = snaplen.clamp(1, 2048);
        let mut ebpf = EbpfLoader::new()
            .override_global("HAVE_FILTER", &one, true)
            .override_global("FILTER_SNAPLEN", &snap, true)
            .override_global("FILTER_TEST_L3", &zero, true)
            .map_max_entries("EVENTS", 4096)
            .map_max_entries("STACKS", 1)
            .map_max_entries("TRACKED", 1)
            .load(&elf)
            .expect("load object");
        let p: &mut SchedClassifier = ebpf.program_mut("filter_test").unwrap().try_into().unwrap();
        p.load().expect("verifier");
        Loaded {
            ebpf,
            name: "filter_test",
        }
    }

    fn raw(insns: &[Insn]) -> Loaded {
        let mut ebpf = EbpfLoader::new()
            .load(&elf("cbpf", insns))
            .expect("load cbpf elf");
        let p: &mut SchedClassifier = ebpf.program_mut("cbpf").unwrap().try_into().unwrap();
        p.load().expect("verifier (cbpf)");
        Loaded { ebpf, name: "cbpf" }
    }

    /// Mean ns per run over `repeat` runs, and the verdict.
    fn time(&mut self, pkt: &[u8], repeat: u32) -> (f64, u32) {
        let p: &mut SchedClassifier = self
            .ebpf
            .program_mut(self.name)
            .unwrap()
            .try_into()
            .unwrap();
        let r = p
            .test_run(TestRunOptions {
                data_in: Some(pkt),
                repeat,
                ..Default::default()
            })
            .expect("test_run");
        (r.duration.as_nanos() as f64, r.return_value)
    }
}

/// The `q` quantile (0..=1) of `v`, nearest rank.
fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

fn median(v: &mut [f64]) -> f64 {
    quantile(v, 0.5)
}

/// Expressions the run-time table measures.
const RUNTIME_EXPRS: &[&str] = &[
    "ip",
    "tcp",
    "icmp",
    "host 10.0.0.1",
    "tcp port 80",
    "host 10.244.1.5 and tcp port 80",
    "tcp port 80 and host 10.0.0.1",
    "udp port 53 or tcp port 53",
    "net 10.0.0.0/8 and not port 22",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
    "vlan and tcp port 80",
    "ip6 and udp",
    "port 7 or portrange 1-1023",
    "ether host ab:cd:ef:00:00:01",
    "arp or icmp or icmp6",
];

fn hosts(n: usize) -> String {
    (0..n)
        .map(|i| format!("host 10.0.{}.{}", i / 250, i % 250 + 1))
        .collect::<Vec<_>>()
        .join(" or ")
}

fn hosts6(n: usize) -> String {
    let v6: Vec<String> = (0..n)
        .map(|i| format!("ip6 host 2001:db8::{:x}", i + 1))
        .collect();
    format!("host 10.0.0.1 or {}", v6.join(" or "))
}

/// Best of `n` runs of `f`, in seconds.
fn time_best<T>(n: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::MAX;
    let mut out = None;
    for _ in 0..n {
        let t = std::time::Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(r);
    }
    (best, out.unwrap())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` probes the harness; nothing to list.
    }
    let all_rows = args.iter().any(|a| a == "--all");
    let no_kernel = args.iter().any(|a| a == "--no-kernel");
    if !no_kernel && !testkit::is_root() {
        eprintln!(
            "compare: the kernel tables need root (BPF_PROG_TEST_RUN): sudo cargo bench -p pcap-filter --bench compare \
             (or `-- --no-kernel` for the counts alone)"
        );
        std::process::exit(1);
    }
    let dir = testkit::pcap_corpus();
    // The differential test's corpus (the suite's accepted aliases and apply expressions, and ours), and the
    // runtime's.
    let mut exprs = testkit::corpus_expressions();
    exprs.extend(RUNTIME_EXPRS.iter().map(|s| s.to_string()));
    exprs.sort();
    exprs.dedup();

    // ---- instruction counts ----
    let (mut r_en, mut r_raw, mut r_both) = (Vec::new(), Vec::new(), Vec::new());
    let mut r_both0 = Vec::new();
    let mut compile_us = Vec::new();
    let mut rows = Vec::new();
    for e in &exprs {
        let (Ok(p), Some(en)) = (pcap_filter::compile(e), libpcap(1, e)) else {
            continue;
        };
        let raw = libpcap(12, e).map(|r| r.len());
        let l2 = pcap_filter::compile_one_body(e, false).map(|p| p.len());
        let l3 = pcap_filter::compile_one_body(e, true).map(|p| p.len());
        let (t, _) = time_best(5, || pcap_filter::compile(e));
        compile_us.push(t * 1e6);
        // Where libpcap refuses the expression on RAW (it means nothing there), the RAW program
        // with our meaning is libpcap's one-instruction `ret #0`.
        let both = p.len() as f64 / (en.len() + raw.unwrap_or(1)) as f64;
        r_both.push(both);
        r_both0.push(p.len() as f64 / (en.len() + raw.unwrap_or(0)) as f64);
        if let Ok(l2) = l2 {
            r_en.push(l2 as f64 / en.len() as f64);
        }
        if let (Ok(l3), Some(raw)) = (l3, raw) {
            r_raw.push(l3 as f64 / raw as f64);
        }
        rows.push((both, e.clone(), p.len(), en.len(), raw));
    }
    println!(
        "## Instruction counts against libpcap's optimised cBPF (pcap_compile -O), {} corpus expressions\n",
        rows.len()
    );
    println!("| link type | expressions | median | p95 | max | share <= 1.0 |");
    println!("|---|---|---|---|---|---|");
    for (name, v) in [
        (
            "EN10MB: our Ethernet body alone / libpcap EN10MB",
            &mut r_en,
        ),
        ("RAW: our raw-IP body alone / libpcap RAW", &mut r_raw),
        ("both: our program / (EN10MB + RAW)", &mut r_both),
        ("both, a RAW refusal counted as 0 insns", &mut r_both0),
    ] {
        let le1 = v.iter().filter(|r| **r <= 1.0).count() as f64 / v.len().max(1) as f64;
        let n = v.len();
        println!(
            "| {name} | {n} | {:.2} | {:.2} | {:.2} | {:.0} % |",
            median(v),
            quantile(v, 0.95),
            quantile(v, 1.0),
            100.0 * le1
        );
    }
    println!();
    rows.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
    println!(
        "(a RAW refusal: libpcap refuses the expression on RAW, where it means nothing; our raw-IP \
         entry matches nothing, as libpcap's one-instruction `ret #0` would)\n"
    );
    println!("| expression | ours | libpcap EN10MB | libpcap RAW | ratio |");
    println!("|---|---|---|---|---|");
    for (r, e, ours, en, raw) in &rows {
        if all_rows || RUNTIME_EXPRS.contains(&e.as_str()) {
            let raw = raw.map_or("refused".to_string(), |n| n.to_string());
            println!(
                "| `{}` | {ours} | {en} | {raw} | {r:.2} |",
                e.replace('|', "\\|")
            );
        }
    }
    println!(
        "\ncompile time per corpus expression (both bodies, best of 5): median {:.0} us, p95 {:.0} us, max {:.0} us\n",
        median(&mut compile_us),
        quantile(&mut compile_us, 0.95),
        quantile(&mut compile_us, 1.0)
    );

    // ---- long expressions ----
    let root = !no_kernel;
    println!("## Long expressions\n");
    println!(
        "| expression | ours: insns | compile | kernel load | libpcap EN10MB + RAW | libpcap compile | ratio |"
    );
    println!("|---|---|---|---|---|---|---|");
    let deep = format!("{}tcp port 80{}", "(".repeat(60), ")".repeat(60));
    for (name, e) in [
        ("host A or ip6 host B1 or ... B200".to_string(), hosts6(200)),
        (
            "500 hosts: host 10.0.0.1 or ... (500)".to_string(),
            hosts(500),
        ),
        ("host A or 500 ip6 hosts".to_string(), hosts6(500)),
        ("2000 hosts".to_string(), hosts(2000)),
        ("60 nested parentheses".to_string(), deep),
    ] {
        let (t, p) = time_best(3, || pcap_filter::compile(&e));
        let p = match p {
            Ok(p) => p,
            Err(err) => {
                println!("| {name} | refused: {err} | | | | | |");
                continue;
            }
        };
        let load = if root {
            let t0 = std::time::Instant::now();
            let _l = Loaded::ours(&p.to_bytes(), p.snaplen);
            format!("{:.0} ms", t0.elapsed().as_secs_f64() * 1e3)
        } else {
            "(needs root)".into()
        };
        // libpcap's optimiser takes minutes on 2000 hosts: skip it there.
        let (lp, lpt) = if e.len() < 30_000 {
            let t0 = std::time::Instant::now();
            let en = libpcap(1, &e).map_or(0, |c| c.len());
            let raw = libpcap(12, &e).map_or(0, |c| c.len());
            (en + raw, format!("{:.1} s", t0.elapsed().as_secs_f64()))
        } else {
            (0, "(skipped)".into())
        };
        let ratio = if lp > 0 {
            format!("{:.2}", p.len() as f64 / lp as f64)
        } else {
            "".into()
        };
        println!(
            "| {name} | {} | {:.1} ms | {load} | {} | {lpt} | {ratio} |",
            p.len(),
            t * 1e3,
            if lp > 0 { lp.to_string() } else { "".into() }
        );
    }
    println!();

    // ---- run time ----
    if no_kernel {
        return;
    }
    let mut pkts: Vec<Packet> = Vec::new();
    for f in [
        "tcpdump-http-proxy-connect.pcap",
        "libpcap-vrrp.pcap",
        "tcpdump-ipv6-bad-version.pcap",
        "libpcap-isakmp4500.pcap",
        "tcpdump-dns_tcp.pcap",
    ] {
        if let Ok(mut p) = read_capture(&dir.join("pcaps").join(f)) {
            p.retain(|p| !p.l3 && p.data.len() >= 54 && p.data.len() <= 2048);
            pkts.extend(p.into_iter().take(4));
        }
    }
    if pkts.is_empty() {
        for n in std::fs::read_dir(dir.join("pcaps")).unwrap().take(40) {
            if let Ok(p) = read_capture(&n.unwrap().path()) {
                pkts.extend(
                    p.into_iter()
                        .filter(|p| !p.l3 && p.data.len() >= 54 && p.data.len() <= 2048)
                        .take(1),
                );
            }
        }
    }
    let repeat = 20000;
    let mut lp_base = Loaded::raw(&[Insn::alu64_imm(MOV, 0, 1), Insn::exit()]);
    let lp_base_ns = median(
        &mut pkts
            .iter()
            .map(|p| lp_base.time(&p.data, repeat).0)
            .collect::<Vec<_>>(),
    );
    println!(
        "## Run time per packet in the kernel (BPF_PROG_TEST_RUN x{repeat}, {} packets, medians in ns)\n",
        pkts.len()
    );
    println!(
        "ours: the production classifier with the filter spliced in; base: the same with an empty filter; \
         libpcap: its cBPF translated as the kernel does, net of a program that only returns ({lp_base_ns:.1} ns)\n"
    );
    println!("| expression | ours | base | ours net | libpcap | libpcap net | net ratio |");
    println!("|---|---|---|---|---|---|---|");
    let mut ratios = Vec::new();
    for e in RUNTIME_EXPRS {
        let p = pcap_filter::compile(e).unwrap();
        let Some(c) = libpcap(1, e) else { continue };
        let mut ours = Loaded::ours(&p.to_bytes(), p.snaplen);
        let empty = pcap_filter::compile("").unwrap();
        let mut base = Loaded::ours(&empty.to_bytes(), p.snaplen);
        let mut lp = Loaded::raw(&cbpf_to_ebpf(&c));
        let (mut o, mut b, mut l) = (Vec::new(), Vec::new(), Vec::new());
        for pk in &pkts {
            let (to, vo) = ours.time(&pk.data, repeat);
            let (tl, vl) = lp.time(&pk.data, repeat);
            assert_eq!(
                vo != 0,
                vl != 0,
                "{e}: ours and libpcap disagree in the kernel"
            );
            o.push(to);
            l.push(tl);
            b.push(base.time(&pk.data, repeat).0);
        }
        let (o, b, l) = (median(&mut o), median(&mut b), median(&mut l));
        let net = (o - b).max(0.0);
        let lnet = (l - lp_base_ns).max(0.0);
        let ratio = if lnet > 0.0 { net / lnet } else { f64::NAN };
        if ratio.is_finite() {
            ratios.push(ratio);
        }
        println!("| `{e}` | {o:.1} | {b:.1} | {net:.1} | {l:.1} | {lnet:.1} | {ratio:.2} |");
    }
    println!(
        "\nmedian net ratio ours/libpcap = {:.2}",
        median(&mut ratios)
    );
}
