//! Host end-to-end through the real tracer: `pwru --cilium` traces UDP that a tc program (standing in for Cilium's
//! datapath) drops on a veth while counting it in `cilium_metrics` with reason 133. The drop event must carry
//! Cilium's reason (POLICY_DENIED) and the fixture's identities, endpoint and policy verdict. Root; tracepoint
//! backend (no kprobes on the host).

mod common;

use common::cluster::{self, Layout};
use common::drop_prog::{pods_with_drop_on_ingress, program};
use common::*;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};
use testkit::pwru::{Pwru, SIGINT};
use testkit::{pwru_bin, sh};

/// Both tests trace `udp and dst port 8080` in every netns: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
#[ignore = "needs root: runs pwru, tc, netns (tests/run.sh runs it)"]
fn trace_with_cilium_names_policy_denied() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let bin = pwru_bin();
    let fs = Bpffs::new("trace");
    cluster::build(&fs, Layout::V1_18);
    let metrics = obj_get(&fs.globals().join("cilium_metrics"));
    let prog_pin = fs.root.join("policy_drop_prog");
    let _prog = load_tc_prog(&program(metrics.as_raw_fd()), &prog_pin);
    // Remote pod 10.244.2.7 (identity 34567) → local server 10.244.1.6 (endpoint 2001), no rule for 34567 on 8080.
    let ns = pods_with_drop_on_ingress("trace", &prog_pin);

    let cilium = format!("--cilium={}", fs.root.display());
    let p = Pwru::start_bin(&bin, &["--output-json", &cilium, "udp and dst port 8080"]);
    sh(&format!(
        "ip netns exec {a} bash -c 'echo hi > /dev/udp/10.244.1.6/8080'",
        a = ns.a
    ));

    // Wait for the drop event, then stop pwru with SIGINT (it flushes and exits 0).
    let t0 = Instant::now();
    while !p.output().contains("\"cilium_drop\"") && t0.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let f = p.stop(SIGINT);
    let (stderr, text) = (f.stderr, f.output);
    assert_eq!(f.code, Some(0), "pwru failed: {stderr}");
    let evs: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(!evs.is_empty(), "no events traced; stderr: {stderr}");
    let flow: Vec<_> = evs.iter().filter(|e| e["tuple"]["dport"] == 8080).collect();
    assert!(!flow.is_empty(), "no event of the flow:\n{text}");
    // Every event of the flow carries Cilium's view of it.
    for e in &flow {
        assert_eq!(e["cilium"]["src"]["identity"]["id"], 34567, "{e}");
        assert_eq!(e["cilium"]["dst"]["endpoint"], 2001, "{e}");
        assert_eq!(
            e["cilium"]["policy"][0]["drop_reason"], "POLICY_DENIED",
            "{e}"
        );
    }
    // The drop itself names Cilium's reason from the metrics counter the datapath bumped.
    let drop = flow
        .iter()
        .find(|e| e.get("cilium_drop").is_some())
        .unwrap_or_else(|| panic!("no event with a Cilium drop reason:\n{text}"));
    assert!(!drop["drop_reason"].is_null(), "{drop}");
    assert_eq!(drop["cilium_drop"][0]["name"], "POLICY_DENIED", "{drop}");
    assert_eq!(drop["cilium_drop"][0]["code"], 133, "{drop}");
    assert_eq!(drop["cilium_drop"][0]["file"], "bpf_lxc.c", "{drop}");
}

/// `--cilium --summary --metrics`: the drop is counted once, labelled with Cilium's reason in the summary JSON and in
/// the `pwru_drops_total` series scraped while the run goes on.
#[test]
#[ignore = "needs root: runs pwru, tc, netns (tests/run.sh runs it)"]
fn summary_and_metrics_label_cilium_reason() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let fs = Bpffs::new("tsum");
    cluster::build(&fs, Layout::V1_18);
    let metrics = obj_get(&fs.globals().join("cilium_metrics"));
    let prog_pin = fs.root.join("policy_drop_prog");
    let _prog = load_tc_prog(&program(metrics.as_raw_fd()), &prog_pin);
    let ns = pods_with_drop_on_ingress("tsum", &prog_pin);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let cilium = format!("--cilium={}", fs.root.display());
    let p = Pwru::start(&[
        "--output-json",
        "--summary",
        "--metrics",
        &addr,
        &cilium,
        "udp and dst port 8080",
    ]);
    sh(&format!(
        "ip netns exec {a} bash -c 'echo hi > /dev/udp/10.244.1.6/8080'",
        a = ns.a
    ));
    // The tracer's counters reach the endpoint once a second.
    let t0 = Instant::now();
    let series = loop {
        let text = get_metrics(&addr);
        let s: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("pwru_drops_total{"))
            .map(str::to_string)
            .collect();
        if !s.is_empty() || t0.elapsed() > Duration::from_secs(15) {
            break s;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let f = p.stop(SIGINT);
    assert_eq!(f.code, Some(0), "pwru failed: {}", f.stderr);
    assert_eq!(series.len(), 1, "one drop series: {series:?}");
    assert!(
        series[0].ends_with(",cilium_reason=\"POLICY_DENIED\"} 1"),
        "{series:?}"
    );
    let lines = f.json();
    let sum = &lines.last().expect("a summary line")["summary"];
    assert_eq!(sum["dropped"], 1, "{sum}");
    let drops = sum["drops"].as_array().expect("drops");
    assert_eq!(drops.len(), 1, "{sum}");
    assert_eq!(drops[0]["cilium_reason"], "POLICY_DENIED", "{sum}");
    assert_eq!(drops[0]["count"], 1, "{sum}");
}

/// `GET /metrics` over plain HTTP: the body.
fn get_metrics(addr: &str) -> String {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).expect("connect to --metrics");
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET /metrics HTTP/1.0\r\nHost: pwru\r\n\r\n")
        .unwrap();
    let mut r = String::new();
    c.read_to_string(&mut r).expect("read /metrics");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    r.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}
