//! Host end-to-end: after SIGINT or SIGTERM, no BPF program, link or map pwru created is left in the kernel.

mod common;
use common::*;
use std::collections::BTreeSet;

/// The BPF objects process `pid` holds, from the fdinfo of its file descriptors (prog_id / map_id / link_id).
/// This is exact even when other tracers run on the machine (bpftool here has no pid information).
struct Objects {
    progs: BTreeSet<u64>,
    links: BTreeSet<u64>,
    maps: BTreeSet<u64>,
}

fn held_by(pid: u32) -> Objects {
    let mut o = Objects {
        progs: BTreeSet::new(),
        links: BTreeSet::new(),
        maps: BTreeSet::new(),
    };
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        let info = std::fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            fd.file_name().to_string_lossy()
        ))
        .unwrap_or_default();
        for line in info.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let Ok(id) = v.trim().parse::<u64>() else {
                continue;
            };
            match k {
                "prog_id" => o.progs.insert(id),
                "link_id" => o.links.insert(id),
                "map_id" => o.maps.insert(id),
                _ => false,
            };
        }
    }
    o
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
    let p = Pwru::start(&[]);
    let Objects { progs, links, maps } = held_by(p.pid());
    assert!(
        progs.len() >= 10,
        "pwru holds {} programs while it runs: the check would be blind",
        progs.len()
    );
    assert!(!maps.is_empty(), "pwru holds no map fd? {maps:?}");
    // tp_btf/raw_tp attachments are links in the kernel even when no link fd shows in fdinfo.
    let attached: BTreeSet<u64> = bpftool_list("link")
        .into_iter()
        .filter(|l| l["prog_id"].as_u64().is_some_and(|id| progs.contains(&id)))
        .map(|l| l["id"].as_u64().unwrap())
        .collect();
    assert!(
        !attached.is_empty(),
        "no kernel link points at pwru's programs"
    );
    let links: BTreeSet<u64> = links.union(&attached).copied().collect();
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
