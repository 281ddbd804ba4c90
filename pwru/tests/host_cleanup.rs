//! Host end-to-end: after SIGINT or SIGTERM, no BPF program, link or map pwru created is left in the kernel.

mod common;
use common::*;
use std::collections::BTreeSet;

/// ids of the BPF objects of `kind` (prog, link, map) that bpftool says process `pid` holds.
fn ids_held_by(kind: &str, pid: u32) -> BTreeSet<u64> {
    bpftool_list(kind)
        .into_iter()
        .filter(|o| o["pids"].as_array().is_some_and(|ps| ps.iter().any(|p| p["pid"] == pid)))
        .map(|o| o["id"].as_u64().unwrap())
        .collect()
}

fn bpftool_list(kind: &str) -> Vec<serde_json::Value> {
    let out = sh(&format!("bpftool -j {kind} show"));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("bpftool {kind} show: {e}: {out}"))
}

fn all_ids(kind: &str) -> BTreeSet<u64> {
    bpftool_list(kind).into_iter().map(|o| o["id"].as_u64().unwrap()).collect()
}

fn nothing_left_after(sig: i32) {
    need_tool("bpftool");
    let p = Pwru::start(&[]);
    let pid = p.pid();
    let progs = ids_held_by("prog", pid);
    let links = ids_held_by("link", pid);
    let maps = ids_held_by("map", pid);
    assert!(!progs.is_empty(), "bpftool shows no program held by pwru ({pid}): the check would be blind");
    assert!(!links.is_empty(), "bpftool shows no link held by pwru ({pid})");
    assert!(!maps.is_empty(), "bpftool shows no map held by pwru ({pid})");
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
    panic!("left behind after signal {sig}: progs {:?} links {:?} maps {:?}", left.0, left.1, left.2);
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
    assert_eq!(sh("find /sys/fs/bpf -maxdepth 3 2>/dev/null | sort"), before);
}
