//! Host end-to-end: under a ping flood, every event the kernel side produced is either printed or counted lost.

use testkit::pwru::*;
use testkit::{NetnsPair, as_nobody, pwru_bin, serial};

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn flood_printed_plus_lost_equals_produced() {
    let _g = serial();
    let t = NetnsPair::builder("t17", 17).resolve_neighbours().build();
    // A small ring buffer makes loss likely, so both terms of the sum are exercised.
    let p = Pwru::start(&["--output-json", "--ringbuf-size", "65536"]);
    t.exec(
        &t.a,
        &format!("ping -f -w 3 -q {} >/dev/null || true", t.ip_b),
    );
    settle();
    let f = p.stop(SIGINT);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let printed = f.output.lines().count() as u64;
    let (produced, lost) = f.counters();
    eprintln!("produced {produced}, printed {printed}, lost {lost}");
    assert!(
        produced > 1000,
        "a 3 s ping flood must produce more than 1000 events, got {produced}"
    );
    assert_eq!(
        printed + lost,
        produced,
        "printed {printed} + lost {lost} != produced {produced}"
    );
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn errors_are_one_line_and_nonzero() {
    let _g = serial();
    for (args, want) in [
        (vec!["--filter-func", "ip_("], "invalid --filter-func"),
        (
            vec!["--filter-netns", "/nonexistent/ns"],
            "invalid --filter-netns",
        ),
        (
            vec!["--filter-netns", "/proc/self/ns/mnt"],
            "not a network namespace",
        ),
        (vec!["--filter-mark", "0xzz"], "invalid --filter-mark"),
        (vec!["--kmods", "no_such_module_xyz"], "no_such_module_xyz"),
        (vec!["--kernel-btf", "/nonexistent/btf"], "/nonexistent/btf"),
        (vec!["--filter-ifname", "nosuchif0"], "nosuchif0"),
    ] {
        let out = std::process::Command::new(pwru_bin())
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{args:?} must fail");
        assert_eq!(
            err.lines().count(),
            1,
            "{args:?}: one line expected, got:\n{err}"
        );
        assert!(
            err.starts_with("pwru: ") && err.contains(want),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    // Without privileges: one line saying what to do, before any work.
    let out = as_nobody(pwru_bin()).arg("icmp").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("pwru: permission denied")
            && err.contains("sudo")
            && err.lines().count() == 1,
        "{err}"
    );
    // A forced backend the kernel lacks fails with the reason (this host has no kprobes; a CI kernel may).
    if !std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        let out = std::process::Command::new(pwru_bin())
            .args(["--backend", "kprobe"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0));
        assert!(
            err.starts_with("pwru: ") && err.contains("kprobe") && err.lines().count() == 1,
            "{err}"
        );
    }
}
