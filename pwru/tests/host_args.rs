//! Host end-to-end: flag values that cannot work are refused with one line that says why and what is valid,
//! before any BPF work (issue 17, items 5, 8 and 11).

use testkit::pwru::*;
use testkit::{need_root, serial, sh};

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn impossible_values_are_one_line_errors() {
    let _g = serial();
    need_root("BPF programs");
    for (args, want) in [
        // The probes take netns 0 as "no filter": it must not turn the filter off.
        (
            &["--filter-netns", "inode:0"][..],
            "no namespace has inode 0",
        ),
        (&["--ringbuf-size", "3"], "must be a power of two from"),
        (&["--ringbuf-size", "0"], "must be a power of two from"),
        (&["--ringbuf-size", "6000"], "must be a power of two from"),
        (&["--ringbuf-size", "2048"], "must be a power of two from"),
        (
            &["--ringbuf-size", "4294967295"],
            "to 1073741824 (1 GiB, the cap)",
        ),
        (
            &["--ringbuf-size", "2147483648"],
            "to 1073741824 (1 GiB, the cap)",
        ),
        (
            &["--filter-mark", "4294967296"],
            "4294967296 is out of range",
        ),
        (&["--filter-mark", "0x10/0x100000000"], "is out of range"),
        (&["--filter-mark", "1/0"], "so no packet can match"),
        (&["--filter-mark", "0x30/0x10"], "so no packet can match"),
        (
            &["--kmods", "no_such_module_xyz"],
            "unknown kernel module no_such_module_xyz",
        ),
    ] {
        let err = one_line_error(&[args, &["icmp"]].concat());
        assert!(
            err.starts_with("pwru: ") && err.contains(want),
            "{args:?}: {err}"
        );
    }
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn valid_edge_values_trace() {
    let _g = serial();
    let page = sh("getconf PAGESIZE").trim().to_string();
    for args in [
        vec!["--ringbuf-size", page.as_str()],
        vec!["--filter-mark", "0/0"],
        vec!["--filter-mark", "0xffffffff"],
    ] {
        let f = Pwru::start(&args).stop(SIGINT);
        assert_eq!(f.code, Some(0), "{args:?}: {}", f.stderr);
    }
}

/// Whether veth is built into the running kernel, from the kernel's own lists (not from pwru's guess).
fn veth_built_in() -> bool {
    let release = sh("uname -r").trim().to_string();
    let builtin = format!("/lib/modules/{release}/modules.builtin");
    if let Ok(list) = std::fs::read_to_string(&builtin) {
        return list.lines().any(|l| l.ends_with("/veth.ko"));
    }
    if std::path::Path::new("/proc/config.gz").exists() {
        return sh("zcat /proc/config.gz")
            .lines()
            .any(|l| l == "CONFIG_VETH=y");
    }
    panic!("cannot tell whether veth is built in: neither {builtin} nor /proc/config.gz exists");
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn kmods_say_what_they_do_on_the_tracepoint_backend() {
    let _g = serial();
    let f = Pwru::start(&["--kmods", "veth"]).stop(SIGINT);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert!(!f.stderr.contains("unknown kernel module"), "{}", f.stderr);
    assert_eq!(
        f.stderr
            .contains("pwru: --kmods veth: veth is built into the kernel, not a module"),
        veth_built_in(),
        "{}",
        f.stderr
    );
    let not_here = "pwru: --kmods/--all-kmods do not apply to the tracepoint backend";
    assert!(f.stderr.contains(not_here), "{}", f.stderr);
    let f = Pwru::start(&["--all-kmods"]).stop(SIGINT);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert_eq!(f.stderr.matches(not_here).count(), 1, "{}", f.stderr);
}
