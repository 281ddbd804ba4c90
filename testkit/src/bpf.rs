//! The kernel's BPF objects as a leak check sees them: what one process holds, and what the kernel has loaded.

use crate::cmd::{need_tool, sh};
use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};

/// Tracers see each other's packets, and leak checks each other's objects: the tests of one test binary that load
/// a tracer hold this lock, so that they run one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Ids of the BPF programs, maps and links one process holds file descriptors to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// `prog_id`s.
    pub progs: BTreeSet<u64>,
    /// `map_id`s.
    pub maps: BTreeSet<u64>,
    /// `link_id`s.
    pub links: BTreeSet<u64>,
}

/// What process `pid` holds, from the fdinfo of its file descriptors: exact even when other tracers run on the
/// machine (bpftool shows no owner).
pub fn held_by(pid: u32) -> Held {
    let mut held = Held::default();
    let dir = format!("/proc/{pid}/fdinfo");
    for e in std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .flatten()
    {
        // A descriptor closed since the listing has no fdinfo any more.
        let info = std::fs::read_to_string(e.path()).unwrap_or_default();
        for line in info.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let Ok(id) = v.trim().parse::<u64>() else {
                continue;
            };
            match k {
                "prog_id" => held.progs.insert(id),
                "map_id" => held.maps.insert(id),
                "link_id" => held.links.insert(id),
                _ => false,
            };
        }
    }
    held
}

/// `bpftool -j <kind> show` (kind: prog, map, link), one JSON object per object.
pub fn bpftool_show(kind: &str) -> Vec<serde_json::Value> {
    need_tool("bpftool");
    let out = sh(&format!("bpftool -j {kind} show"));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("bpftool {kind} show: {e}: {out}"))
}

/// Ids of every object of `kind` the kernel has now.
pub fn loaded_ids(kind: &str) -> BTreeSet<u64> {
    bpftool_show(kind)
        .into_iter()
        .map(|o| {
            o["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("bpftool {kind}: no id in {o}"))
        })
        .collect()
}
