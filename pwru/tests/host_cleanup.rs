//! Host end-to-end: after SIGINT, SIGTERM, SIGHUP or SIGQUIT, also during start-up, no BPF program, link or map pwru created is left in the kernel.

use std::collections::BTreeSet;
use testkit::bpf::{Held, bpftool_show, held_by, loaded_ids};
use testkit::pwru::*;
use testkit::{need_root, need_tool, pwru_bin, serial, sh};

fn nothing_left_after(sig: i32) {
    need_tool("bpftool");
    let p = Pwru::start(&[]);
    let Held { progs, links, maps } = held_by(p.pid());
    assert!(!progs.is_empty(), "pwru holds no program fd?");
    assert!(!maps.is_empty(), "pwru holds no map fd? {maps:?}");
    // tp_btf/raw_tp attachments are links in the kernel even when no link fd shows in fdinfo.
    let attached: BTreeSet<u64> = bpftool_show("link")
        .into_iter()
        .filter(|l| l["prog_id"].as_u64().is_some_and(|id| progs.contains(&id)))
        .map(|l| l["id"].as_u64().unwrap())
        .collect();
    // One program serves every tracepoint (BPF cookies), through one link each.
    assert!(
        attached.len() >= 10,
        "{} kernel links point at pwru's programs while it runs: the check would be blind",
        attached.len()
    );
    let links: BTreeSet<u64> = links.union(&attached).copied().collect();
    let f = p.stop(sig);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert!(
        f.stderr.contains(" events produced, "),
        "signal {sig}: no summary: {}",
        f.stderr
    );
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

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn nothing_left_after_sighup() {
    let _g = serial();
    nothing_left_after(1);
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn nothing_left_after_sigquit() {
    let _g = serial();
    nothing_left_after(3);
}

/// Ctrl-C at every moment of start-up (checks, BTF, discovery, load, attach) ends pwru within a few seconds,
/// and whatever it had created by then is gone.
#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn ctrl_c_at_every_moment_of_startup() {
    let _g = serial();
    need_tool("bpftool");
    need_root("BPF programs");
    // A long filter makes the verifier's part of start-up long enough to be hit.
    let filter = (1..=40)
        .map(|i| format!("host 10.77.{i}.1"))
        .collect::<Vec<_>>()
        .join(" or ");
    let mut phases = std::collections::BTreeMap::<String, u32>::new();
    for delay_ms in [
        0u64, 20, 60, 120, 200, 300, 450, 600, 800, 1000, 1300, 1700, 2200, 3000,
    ] {
        let mut cmd = std::process::Command::new(pwru_bin());
        cmd.args([
            "--backend",
            "tracepoint",
            "--output-file",
            "/dev/null",
            &filter,
        ])
        .stderr(std::process::Stdio::piped());
        // As a shell started from a terminal gives it: a run started in the background (`tests/run.sh &`) inherits
        // SIGINT ignored, and a signal before pwru's handlers would then be dropped instead of ending it.
        // SAFETY: signal() is async-signal-safe, the only call between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        let pid = child.id();
        let t0 = std::time::Instant::now();
        let (mut progs, mut maps) = (BTreeSet::new(), BTreeSet::new());
        while t0.elapsed() < std::time::Duration::from_millis(delay_ms) {
            if std::fs::metadata(format!("/proc/{pid}/fd")).is_ok() {
                let o = held_by(pid);
                progs.extend(o.progs);
                maps.extend(o.maps);
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        unsafe { libc::kill(pid as i32, libc::SIGINT) };
        let sent = std::time::Instant::now();
        let out = child.wait_with_output().unwrap();
        let took = sent.elapsed();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            took < std::time::Duration::from_secs(5),
            "{delay_ms} ms: exit took {took:?}: {err}"
        );
        let phase = match out.status.code() {
            Some(130) => err
                .lines()
                .find_map(|l| l.strip_prefix("pwru: interrupted (SIGINT) while "))
                .and_then(|l| l.split(':').next())
                .unwrap_or_else(|| panic!("{delay_ms} ms: exit 130 without saying where: {err}"))
                .to_string(),
            Some(0) => {
                assert!(err.contains("events produced"), "{delay_ms} ms: {err}");
                "tracing".into()
            }
            // Before pwru installs its handlers (the first milliseconds), SIGINT's default action ends it.
            None if std::os::unix::process::ExitStatusExt::signal(&out.status) == Some(2) => {
                "before the handlers".into()
            }
            other => panic!("{delay_ms} ms: exit {other:?}: {err}"),
        };
        *phases.entry(phase).or_default() += 1;
        for _ in 0..50 {
            if progs.is_disjoint(&loaded_ids("prog")) && maps.is_disjoint(&loaded_ids("map")) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(
            progs.is_disjoint(&loaded_ids("prog")),
            "{delay_ms} ms: programs left"
        );
        assert!(
            maps.is_disjoint(&loaded_ids("map")),
            "{delay_ms} ms: maps left"
        );
    }
    eprintln!("phases interrupted: {phases:?}");
    assert!(phases.len() >= 3, "start-up phases hit: {phases:?}");
}
