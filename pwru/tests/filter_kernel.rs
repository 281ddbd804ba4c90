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
        [
            "host 10.244.1.5 and tcp port 80",
            "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
            "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420",
            "ip and (udp[0:2] - 5) * 2 % 7 ^ 3 > 1",
            "udp[8:4] / 0 = 1",
            "ip[0:4] / ip[1:1] > 3",
            "-ip[0] = 0xffffffbb",
            "vlan and vlan and tcp port 80",
            "mpls and mpls 100 and tcp",
            "pppoes 0x3b and udp port 53",
            "ip6 protochain 6 or ip protochain 17",
        ]
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
