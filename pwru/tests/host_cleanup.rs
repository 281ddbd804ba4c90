//! Host end-to-end: after SIGINT or SIGTERM, no BPF program, link or map pwru created is left in the kernel.

use std::collections::BTreeSet;
use testkit::bpf::{Held, bpftool_show, held_by, loaded_ids};
use testkit::pwru::*;
use testkit::{need_tool, serial, sh};

fn nothing_left_after(sig: i32) {
    need_tool("bpftool");
    let p = Pwru::start(&[]);
    let Held { progs, links, maps } = held_by(p.pid());
    assert!(
        progs.len() >= 10,
        "pwru holds {} programs while it runs: the check would be blind",
        progs.len()
    );
    assert!(!maps.is_empty(), "pwru holds no map fd? {maps:?}");
    // tp_btf/raw_tp attachments are links in the kernel even when no link fd shows in fdinfo.
    let attached: BTreeSet<u64> = bpftool_show("link")
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
            progs.intersection(&loaded_ids("prog")).copied().collect(),
            links.intersection(&loaded_ids("link")).copied().collect(),
            maps.intersection(&loaded_ids("map")).copied().collect(),
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
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn nothing_left_after_sigint() {
    let _g = serial();
    nothing_left_after(SIGINT);
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn nothing_left_after_sigterm() {
    let _g = serial();
    nothing_left_after(SIGTERM);
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
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
