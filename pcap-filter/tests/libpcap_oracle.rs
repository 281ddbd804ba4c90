//! Differential test against Debian's libpcap (the oracle), over the corpus in
//! `/work/shared/pcap-filter` (found by testkit::pcap_corpus(), or at `$PCAP_CORPUS`):
//! - every expression (accept aliases, reject and apply expressions, and our own list) that
//!   libpcap compiles for EN10MB must compile, and give libpcap's verdict on every packet of
//!   every capture of that link type, at L2 and at L3 (RAW);
//! - every expression libpcap refuses for both link types must be refused;
//! - every `apply` case must give its listed results.
//!
//! Needs libpcap.so.0.8 (testkit opens it at run time). Run with `--release` for speed.

use std::collections::BTreeMap;

use pcap_filter::cli::{Packet, read_capture};
use testkit::libpcap::{DLT_EN10MB, DLT_RAW, Program};

struct Corpus {
    json: serde_json::Value,
    /// (file name, packets) per link type: [L2, L3].
    captures: [Vec<(String, Vec<Packet>)>; 2],
    unreadable: Vec<String>,
}

fn load_corpus() -> Corpus {
    let dir = testkit::pcap_corpus();
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("libpcap-filter-tests.json")).unwrap())
            .unwrap();
    let mut captures: [Vec<(String, Vec<Packet>)>; 2] = [Vec::new(), Vec::new()];
    let mut unreadable = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(dir.join("pcaps"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for path in names {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match read_capture(&path) {
            Ok(pkts) if !pkts.is_empty() => {
                let l3 = pkts[0].l3;
                captures[l3 as usize].push((name, pkts));
            }
            Ok(_) => {}
            Err(_) => unreadable.push(name),
        }
    }
    Corpus {
        json,
        captures,
        unreadable,
    }
}

/// Expressions a pwru user types, beyond libpcap's suite (shared with the kernel check and the
/// benchmark).
fn extra() -> impl Iterator<Item = String> {
    include_str!("expressions.txt")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
}

#[derive(Default)]
struct Tally {
    pairs: u64,
    agree: u64,
    expressions: u64,
    compiled_both: u64,
    excepted_pairs: u64,
    excepted_agree: u64,
}

/// Allowed disagreements: (expression, reason).
const EXCEPTIONS: &[(&str, &str)] = &[
    (
        "byte 0 & 1",
        "libpcap 1.10.3 loses the byte load of `byte N & M` (it emits `jset #M` on A = 0, never true); we test the byte",
    ),
    (
        "inbound",
        "needs the skb's packet type, which the copied packet bytes do not carry; refused",
    ),
    (
        "outbound",
        "needs the skb's packet type, which the copied packet bytes do not carry; refused",
    ),
    (
        "ifindex 10",
        "needs the skb's interface index, which the copied packet bytes do not carry; refused",
    ),
];

/// The suite's `apply` cases: our verdicts must be the listed results. Where they are not, the
/// case must be one Debian's libpcap 1.10.3 does not pass either (newer libpcap behaviour), and
/// it is reported.
#[test]
#[ignore = "needs libpcap.so.0.8 and the shared filter corpus (tests/run.sh runs it)"]
fn apply_cases_give_listed_results() {
    let corpus = load_corpus();
    let dir = testkit::pcap_corpus();
    let (mut pass, mut total) = (0, 0);
    let mut notes = Vec::new();
    let mut failures = Vec::new();
    for a in corpus.json["apply"].as_array().unwrap() {
        let expr = a["expr"].as_str().unwrap();
        let file = a["savefile"].as_str().unwrap();
        let want: Vec<bool> = a["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_u64().unwrap() != 0)
            .collect();
        total += 1;
        let pkts = read_capture(&dir.join("pcaps").join(file)).expect("apply capture");
        let ours: Option<Vec<bool>> = pcap_filter::compile(expr).ok().map(|p| {
            pkts.iter()
                .map(|k| {
                    pcap_filter::interpret_with_len(&p, &k.data, k.wirelen, k.l3).unwrap() != 0
                })
                .collect()
        });
        if ours.as_ref() == Some(&want) {
            pass += 1;
            continue;
        }
        let dlt = if pkts.first().is_some_and(|p| p.l3) {
            DLT_RAW
        } else {
            DLT_EN10MB
        };
        let debian: Option<Vec<bool>> = Program::compile_like_tcpdump(dlt, expr)
            .ok()
            .map(|o| pkts.iter().map(|k| o.matches(&k.data, k.wirelen)).collect());
        if let Some((_, why)) = EXCEPTIONS.iter().find(|(e, _)| *e == expr) {
            notes.push(format!(
                "{expr:?} on {file}: want {want:?}, we give {ours:?} -- {why}"
            ));
        } else if debian.as_ref() == Some(&want) {
            failures.push(format!(
                "{expr:?} on {file}: want {want:?}, we give {ours:?}"
            ));
        } else {
            notes.push(format!(
                "{expr:?} on {file}: {} (Debian's libpcap 1.10.3: {})",
                match &ours {
                    None => "we refuse it".to_string(),
                    Some(v) => format!("we give {v:?}"),
                },
                match &debian {
                    None => "refuses it".to_string(),
                    Some(v) if Some(v) == ours.as_ref() => "same as ours".to_string(),
                    Some(v) => format!("{v:?}"),
                }
            ));
        }
    }
    println!("apply cases: {pass}/{total} give the suite's listed results");
    for n in &notes {
        println!("apply exception: {n}");
    }
    assert!(
        failures.is_empty(),
        "apply cases where Debian's libpcap passes and we do not:\n{}",
        failures.join("\n")
    );
}

#[test]
#[ignore = "needs libpcap.so.0.8 and the shared filter corpus (tests/run.sh runs it)"]
fn agrees_with_libpcap() {
    let corpus = load_corpus();
    let mut exprs: Vec<String> = Vec::new();
    for a in corpus.json["accept"].as_array().unwrap() {
        for al in a["aliases"].as_array().unwrap() {
            exprs.push(al.as_str().unwrap().to_string());
        }
    }
    let mut rejects = std::collections::HashSet::new();
    for r in corpus.json["reject"].as_array().unwrap() {
        if let Some(e) = r["expr"].as_str() {
            exprs.push(e.to_string());
            rejects.insert(e.to_string());
        }
    }
    let mut refused_like_newer: Vec<String> = Vec::new();
    for a in corpus.json["apply"].as_array().unwrap() {
        exprs.push(a["expr"].as_str().unwrap().to_string());
    }
    exprs.extend(extra());
    exprs.sort();
    exprs.dedup();

    let mut tally = Tally::default();
    let mut failures: Vec<String> = Vec::new();
    let mut excepted: BTreeMap<String, String> = BTreeMap::new();
    let mut outside = 0;
    for expr in &exprs {
        if expr == "_enumerate_bpf_image" {
            continue;
        }
        tally.expressions += 1;
        let l2 = Program::compile_like_tcpdump(DLT_EN10MB, expr);
        let l3 = Program::compile_like_tcpdump(DLT_RAW, expr);
        let ours = pcap_filter::compile(expr);
        let exception = EXCEPTIONS.iter().find(|(e, _)| e == expr).map(|(_, r)| *r);
        let mut fail = |msg: String| match exception {
            Some(r) => {
                excepted.insert(expr.clone(), format!("{msg} -- {r}"));
            }
            None => failures.push(format!("{expr:?}: {msg}")),
        };
        let prog = match (&ours, &l2, &l3) {
            (Err(e), Ok(_), _) if rejects.contains(expr) => {
                // Newer libpcap (the suite) refuses it; Debian's 1.10.3 still accepts it.
                refused_like_newer.push(format!("{expr:?}: {e}"));
                continue;
            }
            (Err(e), Ok(_), _) => {
                fail(format!("libpcap compiles it for EN10MB, we refuse: {e}"));
                continue;
            }
            (Err(_), Err(_), Err(_)) => {
                outside += 1;
                continue;
            }
            (Err(e), Err(_), Ok(_)) => {
                fail(format!("libpcap compiles it only for RAW; we refuse: {e}"));
                continue;
            }
            (Ok(_), Err(m2), Err(_)) => {
                fail(format!("libpcap refuses it ({m2}); we compile it"));
                continue;
            }
            (Ok(p), _, _) => p,
        };
        tally.compiled_both += 1;
        if rejects.contains(expr) {
            let dlt = if l2.is_ok() { "RAW" } else { "EN10MB" };
            refused_like_newer.push(format!(
                "{expr:?}: compiled (Debian's libpcap compiles it for {}); the suite refuses it for {dlt} only",
                if l2.is_ok() { "EN10MB" } else { "RAW" }
            ));
        }
        for (l3_side, oracle) in [(false, &l2), (true, &l3)] {
            let Ok(oracle) = oracle else { continue };
            for (name, pkts) in &corpus.captures[l3_side as usize] {
                for (i, p) in pkts.iter().enumerate() {
                    let want = oracle.matches(&p.data, p.wirelen);
                    let got = match pcap_filter::interpret_with_len(prog, &p.data, p.wirelen, p.l3)
                    {
                        Ok(v) => v != 0,
                        Err(e) => {
                            fail(format!("{name} #{}: interpreter fault {e}", i + 1));
                            continue;
                        }
                    };
                    tally.pairs += 1;
                    if exception.is_some() {
                        tally.excepted_pairs += 1;
                    }
                    if want == got {
                        tally.agree += 1;
                        if exception.is_some() {
                            tally.excepted_agree += 1;
                        }
                    } else {
                        fail(format!(
                            "{name} #{} ({}): libpcap {} we {}",
                            i + 1,
                            if l3_side { "RAW" } else { "EN10MB" },
                            want as u8,
                            got as u8
                        ));
                    }
                }
            }
        }
    }
    println!(
        "libpcap agreement: {}/{} (expression, packet) verdicts = {:.4} %; {} expressions, {} compiled, {} outside the language (libpcap refuses them too)",
        tally.agree,
        tally.pairs,
        100.0 * tally.agree as f64 / tally.pairs.max(1) as f64,
        tally.expressions,
        tally.compiled_both,
        outside
    );
    let (p, a) = (
        tally.pairs - tally.excepted_pairs,
        tally.agree - tally.excepted_agree,
    );
    println!(
        "excluding the {} listed exceptions: {a}/{p} = {:.4} %",
        EXCEPTIONS.len(),
        100.0 * a as f64 / p.max(1) as f64
    );
    println!(
        "captures: {} EN10MB, {} RAW, unreadable: {:?}",
        corpus.captures[0].len(),
        corpus.captures[1].len(),
        corpus.unreadable
    );
    for r in &refused_like_newer {
        println!("suite reject: {r}");
    }
    for (e, why) in &excepted {
        println!("exception {e:?}: {why}");
    }
    // One line per expression is enough to debug.
    let mut seen = std::collections::HashSet::new();
    let uniq: Vec<&String> = failures
        .iter()
        .filter(|f| seen.insert(f.split(": ").next().unwrap().to_string()))
        .collect();
    assert!(
        uniq.is_empty(),
        "{} disagreements ({} expressions):\n{}",
        failures.len(),
        uniq.len(),
        uniq.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}
