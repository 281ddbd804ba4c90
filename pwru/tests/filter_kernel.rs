//! The compiled pcap filters in the real kernel (root): every corpus expression's program is
//! spliced into the production object's `filter_test` classifier (probes::filter_check, the
//! same splice the probes use) and must pass the verifier, at L2 and at L3; then
//! BPF_PROG_TEST_RUN on every corpus packet must give the verdict of pcap-filter's interpreter.
//!
//! Corpus: testkit::pcap_corpus() (`$PCAP_CORPUS`, else shared/pcap-filter above the workspace).

use pcap_filter::cli::{Packet, read_capture};
use probes::FilterCode;
use probes::filter_check::FilterTester;

fn corpus() -> (Vec<String>, Vec<Packet>, Vec<Packet>) {
    let dir = testkit::pcap_corpus();
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("libpcap-filter-tests.json")).unwrap())
            .unwrap();
    let mut exprs: Vec<String> = Vec::new();
    for a in json["accept"].as_array().unwrap() {
        for al in a["aliases"].as_array().unwrap() {
            exprs.push(al.as_str().unwrap().to_string());
        }
    }
    for a in json["apply"].as_array().unwrap() {
        exprs.push(a["expr"].as_str().unwrap().to_string());
    }
    exprs.extend(
        include_str!("../../pcap-filter/tests/expressions.txt")
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(String::from),
    );
    exprs.sort();
    exprs.dedup();
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

#[test]
#[ignore = "needs root: BPF_PROG_TEST_RUN, and the filter corpus (tests/run.sh runs it)"]
fn kernel_agrees_with_interpreter() {
    testkit::need_root("BPF_PROG_TEST_RUN");
    let (exprs, l2, l3) = corpus();
    let mut loaded = 0;
    let mut runs = 0u64;
    let mut skipped_short = 0u64;
    let mut longest = (0usize, String::new());
    let mut failures = Vec::new();
    let mut refused: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::new();
    for expr in &exprs {
        let Ok(prog) = pcap_filter::compile(expr) else {
            continue;
        };
        if prog.len() > longest.0 {
            longest = (prog.len(), expr.clone());
        }
        let code = FilterCode {
            insns: prog.to_bytes(),
            snaplen: prog.snaplen,
        };
        for (is_l3, pkts) in [(false, &l2), (true, &l3)] {
            let mut tester = match FilterTester::new(&code, is_l3) {
                Ok(t) => t,
                Err(e) => {
                    failures.push(format!("{expr:?} (l3={is_l3}): verifier refused: {e}"));
                    continue;
                }
            };
            loaded += 1;
            for p in pkts.iter() {
                let f = frame(p);
                if f.len() < 14 {
                    skipped_short += 1;
                    continue;
                }
                let bytes = if is_l3 { &f[14..] } else { &f[..] };
                let want =
                    pcap_filter::interpret(&prog, bytes, is_l3).expect("interpreter fault") != 0;
                let got = match tester.run(&f) {
                    Ok(v) => v != 0,
                    // The kernel refuses to test-run frames whose IP header is cut short (EINVAL).
                    Err(_) => {
                        refused.insert(f.clone());
                        continue;
                    }
                };
                runs += 1;
                if want != got {
                    failures.push(format!(
                        "{expr:?} (l3={is_l3}): kernel {} interpreter {} on a {}-byte packet",
                        got as u8,
                        want as u8,
                        bytes.len()
                    ));
                    break;
                }
            }
        }
    }
    println!(
        "kernel check: {loaded} programs verified, {runs} test runs agree with the interpreter; longest program {} insns ({:?}); {skipped_short} packets shorter than an Ethernet header skipped; {} distinct truncated frames the kernel refuses to test-run",
        longest.0,
        longest.1,
        refused.len()
    );
    assert!(
        refused.len() < 100,
        "the kernel refused {} frames",
        refused.len()
    );
    assert!(loaded > 1000, "too few programs loaded: {loaded}");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
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
