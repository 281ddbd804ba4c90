//! Host end-to-end: after SIGINT or SIGTERM, no BPF program, link or map pwru created is left in the kernel.

mod common;
use common::*;
use std::collections::BTreeSet;

/// Our programs, by the names the probes give them in the kernel (`pwru_<tracepoint>`, `kprobe_skb_N`, …).
/// bpftool on this host is built without pid information, so ownership is established by name, and the maps
/// and links are the ones those programs use.
fn is_ours(name: &str) -> bool {
    name.starts_with("pwru_")
        || name.starts_with("kprobe_skb_")
        || name.starts_with("kprobe_multi_s")
}

struct Objects {
    progs: BTreeSet<u64>,
    links: BTreeSet<u64>,
    maps: BTreeSet<u64>,
}

fn ours_now() -> Objects {
    let progs: Vec<_> = bpftool_list("prog")
        .into_iter()
        .filter(|p| p["name"].as_str().is_some_and(is_ours))
        .collect();
    let ids: BTreeSet<u64> = progs.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    let maps = progs
        .iter()
        .flat_map(|p| p["map_ids"].as_array().cloned().unwrap_or_default())
        .map(|m| m.as_u64().unwrap())
        .collect();
    let links = bpftool_list("link")
        .into_iter()
        .filter(|l| l["prog_id"].as_u64().is_some_and(|id| ids.contains(&id)))
        .map(|l| l["id"].as_u64().unwrap())
        .collect();
    Objects {
        progs: ids,
        links,
        maps,
    }
}

fn bpftool_list(kind: &str) -> Vec<serde_json::Value> {
    let out = sh(&format!("bpftool -j {kind} show"));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("bpftool {kind} show: {e}: {out}"))
}

fn all_ids(kind: &str) -> BTreeSet<u64> {
    bpftool_list(kind)
        .into_iter()
        .map(|o| o["id"].as_u64().unwrap())
        .collect()
}

fn nothing_left_after(sig: i32) {
    need_tool("bpftool");
    let before = ours_now();
    assert!(
        before.progs.is_empty(),
        "programs of ours exist before the test started: {:?}",
        before.progs
    );
    let p = Pwru::start(&[]);
    let Objects { progs, links, maps } = ours_now();
    assert!(
        progs.len() >= 10,
        "bpftool shows {} pwru programs while it runs: the check would be blind",
        progs.len()
    );
    assert!(
        links.len() >= progs.len(),
        "one link per program expected: {links:?} for {progs:?}"
    );
    assert!(maps.len() >= 2, "the programs use no maps? {maps:?}");
    let f = p.stop(sig);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    // The kernel frees objects once their last fd is gone, which may trail the exit by a moment (RCU).
    let mut left = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for _ in 0..50 {
        left = (
            progs.intersection(&all_ids("prog")).copied().collect(),
            links.intersection(&all_ids("link")).copied().collect(),
            maps.intersection(&all_ids("map")).copied().collect(),
        );
        if left.0.is_empty() && left.1.is_empty() && left.2.is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!(
        "left behind after signal {sig}: progs {:?} links {:?} maps {:?}",
        left.0, left.1, left.2
    );
}

#[test]
fn nothing_left_after_sigint() {
    let _g = serial();
    nothing_left_after(SIGINT);
}

#[test]
fn nothing_left_after_sigterm() {
    let _g = serial();
    nothing_left_after(SIGTERM);
}

#[test]
fn nothing_pinned_under_bpffs() {
    let _g = serial();
    let before = sh("find /sys/fs/bpf -maxdepth 3 2>/dev/null | sort");
    let p = Pwru::start(&[]);
    let f = p.stop(SIGINT);
    assert_eq!(f.code, Some(0));
    assert_eq!(
        sh("find /sys/fs/bpf -maxdepth 3 2>/dev/null | sort"),
        before
    );
}
