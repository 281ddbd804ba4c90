//! The compiled pcap filters in the real kernel (root): every corpus expression's program is
//! spliced into the production object's `filter_test` classifier (probes::filter_check, the
//! same splice the probes use) and must pass the verifier, at L2 and at L3; then
//! BPF_PROG_TEST_RUN on every distinct corpus frame must give the verdict of pcap-filter's interpreter.
//!
//! Corpus: testkit::pcap_corpus() (`$PCAP_CORPUS`, else shared/pcap-filter above the workspace).

use pcap_filter::cli::{Packet, read_capture};
use probes::FilterCode;
use probes::filter_check::FilterTester;

fn corpus() -> (Vec<String>, Vec<Packet>, Vec<Packet>) {
    let dir = testkit::pcap_corpus();
    let exprs = testkit::corpus_expressions();
    let mut l2 = Vec::new();
    let mut l3 = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(dir.join("pcaps"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for p in names {
        for pkt in read_capture(&p).unwrap_or_default() {
            if pkt.l3 { l3.push(pkt) } else { l2.push(pkt) }
        }
    }
    (exprs, l2, l3)
}

/// The bytes the kernel sees: at most 2048 of them (the filter buffer), with a dummy Ethernet
/// header in front for L3 packets (the classifier skips it).
fn frame(p: &Packet) -> Vec<u8> {
    let data = &p.data[..p.data.len().min(2048)];
    if !p.l3 {
        return data.to_vec();
    }
    let mut f = vec![0u8; 12];
    let v6 = data.first().is_some_and(|b| b >> 4 == 6);
    f.extend_from_slice(if v6 { &[0x86, 0xdd] } else { &[0x08, 0x00] });
    f.extend_from_slice(data);
    f
}

/// The distinct frames of `pkts` as the kernel sees them (identical frames give identical verdicts), and how
/// many packets were shorter than an Ethernet header (the classifier needs one).
fn distinct_frames(pkts: &[Packet]) -> (Vec<Vec<u8>>, usize) {
    let mut seen = std::collections::HashSet::new();
    let mut short = 0;
    let mut out = Vec::new();
    for f in pkts.iter().map(frame) {
        if f.len() < 14 {
            short += 1;
        } else if seen.insert(f.clone()) {
            out.push(f);
        }
    }
    (out, short)
}

/// What one worker saw.
#[derive(Default)]
struct Tally {
    loaded: usize,
    runs: u64,
    failures: Vec<String>,
    /// (l3, frame index) of frames the kernel refuses to test-run.
    refused: std::collections::HashSet<(bool, usize)>,
}

/// Runs every distinct frame through `prog` loaded at L2 or L3, against the interpreter.
fn check(prog: &pcap_filter::Program, expr: &str, is_l3: bool, frames: &[Vec<u8>], t: &mut Tally) {
    let code = FilterCode {
        insns: prog.to_bytes(),
        snaplen: prog.snaplen,
    };
    let mut tester = match FilterTester::new(&code, is_l3) {
        Ok(tester) => tester,
        Err(e) => {
            t.failures
                .push(format!("{expr:?} (l3={is_l3}): verifier refused: {e}"));
            return;
        }
    };
    t.loaded += 1;
    for (i, f) in frames.iter().enumerate() {
        let bytes = if is_l3 { &f[14..] } else { &f[..] };
        let want = pcap_filter::interpret(prog, bytes, is_l3).expect("interpreter fault") != 0;
        let got = match tester.run(f) {
            Ok(v) => v != 0,
            // The kernel refuses to test-run frames whose IP header is cut short (EINVAL).
            Err(_) => {
                t.refused.insert((is_l3, i));
                continue;
            }
        };
        t.runs += 1;
        if want != got {
            t.failures.push(format!(
                "{expr:?} (l3={is_l3}): kernel {} interpreter {} on a {}-byte packet",
                got as u8,
                want as u8,
                bytes.len()
            ));
            return;
        }
    }
}

/// Every corpus expression's program, loaded once per distinct program (aliases often compile to the same
/// instructions) at L2 and at L3, on every distinct corpus frame; the loads are shared out over the cores.
#[test]
#[ignore = "needs root: BPF_PROG_TEST_RUN, and the filter corpus (tests/run.sh runs it)"]
fn kernel_agrees_with_interpreter() {
    testkit::need_root("BPF_PROG_TEST_RUN");
    let started = std::time::Instant::now();
    let (exprs, l2, l3) = corpus();
    let (l2, short2) = distinct_frames(&l2);
    let (l3, short3) = distinct_frames(&l3);
    let mut compiled = 0;
    let mut progs: Vec<(pcap_filter::Program, &str)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for expr in &exprs {
        let Ok(prog) = pcap_filter::compile(expr) else {
            continue;
        };
        compiled += 1;
        if seen.insert((prog.to_bytes(), prog.snaplen)) {
            progs.push((prog, expr));
        }
    }
    let longest = progs.iter().max_by_key(|(p, _)| p.len()).unwrap();
    let tasks: Vec<(usize, bool)> = (0..progs.len())
        .flat_map(|i| [(i, false), (i, true)])
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let tallies: Vec<Tally> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut t = Tally::default();
                    loop {
                        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&(i, is_l3)) = tasks.get(n) else {
                            return t;
                        };
                        let (prog, expr) = &progs[i];
                        check(prog, expr, is_l3, if is_l3 { &l3 } else { &l2 }, &mut t);
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all = Tally::default();
    for t in tallies {
        all.loaded += t.loaded;
        all.runs += t.runs;
        all.failures.extend(t.failures);
        all.refused.extend(t.refused);
    }
    println!(
        "kernel check: {compiled} expressions, {} distinct programs, {} loads verified, {} distinct frames \
         (L2 {}, L3 {}), {} test runs agree with the interpreter, {workers} workers, {:.1?}; longest program {} insns \
         ({:?}); {} packets shorter than an Ethernet header skipped; {} distinct truncated frames the kernel refuses \
         to test-run",
        progs.len(),
        all.loaded,
        l2.len() + l3.len(),
        l2.len(),
        l3.len(),
        all.runs,
        started.elapsed(),
        longest.0.len(),
        longest.1,
        short2 + short3,
        all.refused.len()
    );
    assert!(
        all.refused.len() < 100,
        "the kernel refused {} frames",
        all.refused.len()
    );
    assert!(compiled > 500, "too few expressions compiled: {compiled}");
    assert!(all.loaded > 500, "too few programs loaded: {}", all.loaded);
    assert!(
        all.failures.is_empty(),
        "{} failures:\n{}",
        all.failures.len(),
        all.failures.join("\n")
    );
}

fn host_list(n: usize) -> String {
    (0..n)
        .map(|i| format!("host 10.0.{}.{}", i / 250, i % 250 + 1))
        .collect::<Vec<_>>()
        .join(" or ")
}

fn host6_list(n: usize) -> String {
    let v6: Vec<String> = (0..n)
        .map(|i| format!("ip6 host 2001:db8::{:x}", i + 1))
        .collect();
    format!("host 10.0.0.1 or {}", v6.join(" or "))
}

/// An IPv4 or IPv6 frame from `src`, with an Ethernet header.
fn ip_frame(src: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    if src.len() == 4 {
        f.extend([0x08, 0x00, 0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0]);
        f.extend(src);
        f.extend([192, 168, 0, 1]);
    } else {
        f.extend([0x86, 0xdd, 0x60, 0, 0, 0, 0, 20, 6, 64]);
        f.extend(src);
        f.extend([0xfe, 0x80].iter().chain([0u8; 14].iter()));
    }
    f.extend([0u8; 20]);
    f
}

/// Expressions far longer than the corpus's, which libpcap accepts with no limit: they must
/// pass the verifier (its budget is the instructions it walks, over every path) and agree
/// with the interpreter, matches included.
#[test]
#[ignore = "needs root: BPF_PROG_TEST_RUN, and the filter corpus (tests/run.sh runs it)"]
fn long_expressions_load_and_agree() {
    testkit::need_root("BPF_PROG_TEST_RUN");
    let (_, l2, l3) = corpus();
    let mut v6_500 = vec![0x20, 0x01, 0x0d, 0xb8];
    v6_500.extend([0u8; 10]);
    v6_500.extend([0x01, 0xf4]);
    let crafted = [
        ip_frame(&[10, 0, 1, 7]),
        ip_frame(&[10, 0, 9, 7]),
        ip_frame(&v6_500),
        ip_frame(&[
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x01,
        ]),
    ];
    let deep = format!("{}tcp port 80 or udp{}", "(".repeat(60), ")".repeat(60));
    for (expr, hits) in [(host_list(500), 1), (host6_list(500), 1), (deep, 0)] {
        let t = std::time::Instant::now();
        let prog = pcap_filter::compile(&expr).expect("compiles");
        let compile = t.elapsed();
        let code = FilterCode {
            insns: prog.to_bytes(),
            snaplen: prog.snaplen,
        };
        let mut matched = 0;
        for (is_l3, pkts) in [(false, &l2), (true, &l3)] {
            let t = std::time::Instant::now();
            let mut tester = FilterTester::new(&code, is_l3).unwrap_or_else(|e| {
                panic!("{} insns (l3={is_l3}): verifier refused: {e}", prog.len())
            });
            let load = t.elapsed();
            println!(
                "{} insns: compiled in {compile:?}, loaded (l3={is_l3}) in {load:?}",
                prog.len()
            );
            let frames = crafted
                .iter()
                .cloned()
                .chain(pkts.iter().take(3000).map(frame))
                .filter(|f| f.len() >= 14);
            for f in frames {
                let bytes = if is_l3 { &f[14..] } else { &f[..] };
                let want = pcap_filter::interpret(&prog, bytes, is_l3).unwrap() != 0;
                let Ok(got) = tester.run(&f) else { continue };
                assert_eq!(got != 0, want, "{} insns (l3={is_l3})", prog.len());
                matched += want as usize;
            }
        }
        assert!(
            matched >= hits,
            "{} insns: the crafted matching frames did not match",
            prog.len()
        );
    }
}
