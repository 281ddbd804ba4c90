//! Root tests of what a user gets when the maps cannot be read as asked: no permission, not a bpffs, maps of the
//! wrong shape, empty maps, bad clocks, a closed stdout. Through the real `pwru` binary where the exit status is
//! the point (issue 17 items 7, 9, 11), through `cilium::run` where the printed text is.

mod common;

use common::cluster::{self, Layout};
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use testkit::cmd::as_nobody;
use testkit::paths::TempDir;
use testkit::pwru_bin;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The one line a failing command prints, checked to be exactly one.
fn one_error_line(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = stderr(o);
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    err.trim_end().to_string()
}

/// Without root the maps cannot be opened: one line naming the map and why, exit 1, and nothing on stdout (no
/// "Cilium version: … detected" from names alone).
#[test]
#[ignore = "needs root: BPF maps in a private bpffs (tests/run.sh runs it)"]
fn unprivileged_user_gets_a_clear_error() {
    let fs = Bpffs::new("nobody");
    cluster::build(&fs, Layout::V1_18);
    // A copy of the binary any user may run (the build tree may sit in a private home).
    let tmp = TempDir::new("pwru-cilium-nobody-bin");
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = tmp.join("pwru");
    std::fs::copy(pwru_bin(), &bin).unwrap();
    let as_nobody = |args: &[&str]| as_nobody(&bin).args(args).output().unwrap();
    let root = fs.root.to_str().unwrap();
    for cmd in [
        &["cilium", "maps"][..],
        &["cilium", "ipcache"],
        &["cilium", "ct", "-o", "json"],
    ] {
        let mut args = cmd.to_vec();
        args.extend(["--bpffs", root]);
        let o = as_nobody(&args);
        let err = one_error_line(&o);
        assert!(
            o.stdout.is_empty(),
            "{cmd:?} printed: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        assert!(
            err.starts_with(&format!(
                "pwru: cannot open pinned map {root}/tc/globals/cilium_"
            )) && err.contains("(reading BPF maps needs root or CAP_BPF)"),
            "{cmd:?}: {err}"
        );
    }
    // A bpffs only root may enter (as /sys/fs/bpf is) is not reported as missing.
    std::fs::set_permissions(&fs.root, std::fs::Permissions::from_mode(0o700)).unwrap();
    let err = one_error_line(&as_nobody(&["cilium", "maps", "--bpffs", root]));
    assert_eq!(
        err,
        format!(
            "pwru: cannot list {root}/tc/globals (reading Cilium's maps needs root): Permission denied (os error 13)"
        )
    );
}

/// A directory that is not a bpffs: said once, plainly, by `pwru cilium` and by the tracer's `--cilium`.
#[test]
#[ignore = "needs root: BPF maps in a private bpffs (tests/run.sh runs it)"]
fn not_a_bpffs_is_named_once() {
    let bin = pwru_bin();
    let dir = TempDir::new("pwru-cilium-notbpffs");
    let globals = dir.join("tc/globals");
    std::fs::create_dir_all(&globals).unwrap();
    for f in ["cilium_ipcache_v2", "cilium_lxc"] {
        std::fs::write(globals.join(f), "").unwrap();
    }
    let d = dir.path().to_str().unwrap();
    let what = format!(
        "{d}/tc/globals is not a BPF filesystem (Cilium pins its maps in a bpffs: mount -t bpf bpf /sys/fs/bpf)"
    );
    for cmd in [["maps"], ["ipcache"]] {
        let o = Command::new(&bin)
            .arg("cilium")
            .args(cmd)
            .args(["--bpffs", d])
            .output()
            .unwrap();
        assert_eq!(
            one_error_line(&o),
            format!("pwru: {what}; pass --bpffs DIR to read another bpffs"),
            "{cmd:?}"
        );
    }
    let o = Command::new(&bin)
        .args(["--backend", "tracepoint", &format!("--cilium={d}"), "icmp"])
        .output()
        .unwrap();
    let err = one_error_line(&o);
    assert_eq!(
        err,
        format!("pwru: --cilium: {what}; pass --cilium=DIR to read another bpffs")
    );
    // A pin opened directly says the same, not the kernel's EACCES.
    let e = cilium::bpf::Map::open(&globals.join("cilium_lxc")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{d}/tc/globals/cilium_lxc is not on a BPF filesystem")
    );
}

/// Every listed map, recreated one byte too wide with an entry, is a layout error naming it and the sizes; a
/// listing whose maps are all missing says which.
#[test]
#[ignore = "needs root: BPF maps in a private bpffs (tests/run.sh runs it)"]
fn wrongly_shaped_maps_are_layout_errors() {
    // (command, map, type, key size, value size, flags) in the 1.17 layout.
    type Case = (
        &'static [&'static str],
        &'static str,
        bpf_map_type,
        u32,
        u32,
        u32,
    );
    let cases: &[Case] = &[
        (&["nodeid"], "cilium_node_map_v2", HASH, 20, 4, 0),
        (&["auth"], "cilium_auth_map", HASH, 12, 8, 0),
        (&["tunnel"], "cilium_tunnel_map", HASH, 20, 20, 0),
        (
            &["ipcache"],
            "cilium_ipcache",
            LPM_TRIE,
            24,
            12,
            BPF_F_NO_PREALLOC,
        ),
        (&["endpoints"], "cilium_lxc", HASH, 20, 48, 0),
        (&["metrics"], "cilium_metrics", PERCPU_HASH, 8, 16, 0),
        (&["ct"], "cilium_ct_any4_global", LRU_HASH, 14, 56, 0),
        (&["nat"], "cilium_snat_v4_external", LRU_HASH, 14, 40, 0),
        (&["lb"], "cilium_lb4_services_v2", HASH, 12, 12, 0),
        (
            &["lb", "--backends"],
            "cilium_lb4_backends_v3",
            HASH,
            4,
            12,
            0,
        ),
        (&["lb", "--revnat"], "cilium_lb4_reverse_nat", HASH, 2, 6, 0),
        (
            &["lb", "--source-ranges"],
            "cilium_lb4_source_range",
            LPM_TRIE,
            12,
            1,
            BPF_F_NO_PREALLOC,
        ),
        (
            &["lb", "--affinity"],
            "cilium_lb4_affinity",
            LRU_HASH,
            16,
            16,
            0,
        ),
        (
            &["policy", "2001"],
            "cilium_policy_v2_02001",
            LPM_TRIE,
            12,
            24,
            BPF_F_NO_PREALLOC,
        ),
    ];
    // One cluster with all of them replaced: each command reads its own map first.
    let fs = Bpffs::new("shape");
    cluster::build(&fs, Layout::V1_17);
    for &(_, name, ty, key, value, flags) in cases {
        std::fs::remove_file(fs.globals().join(name)).unwrap();
        let m = fs.create(name, ty, key, value + 1, 1024, flags);
        // LPM keys start with a prefix length the kernel checks; 8 bits fit every key here.
        let mut k = vec![0u8; key as usize];
        k[0] = 8;
        m.put(&k, &vec![0u8; value as usize + 1]);
    }
    for &(cmd, name, ty, key, value, _) in cases {
        let err = format!("{:#}", run(&fs, cmd).unwrap_err());
        let ty = match ty {
            HASH => "hash",
            LPM_TRIE => "lpm_trie",
            PERCPU_HASH => "percpu_hash",
            _ => "lru_hash",
        };
        let want = format!(
            "{name}: unknown layout for Cilium 1.17: {ty}, key {key} bytes, value {} bytes (expected ",
            value + 1
        );
        assert!(err.starts_with(&want), "{cmd:?}: {err}\nwant: {want}…");
        assert!(
            err.ends_with(&format!("key {key} bytes, value {value} bytes)")),
            "{cmd:?}: {err}"
        );
    }
    let fs = Bpffs::new("missing");
    cluster::build(&fs, Layout::V1_17);
    std::fs::remove_file(fs.globals().join("cilium_node_map_v2")).unwrap();
    let err = run(&fs, &["nodeid"]).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "map cilium_node_map_v2 is not pinned in {}",
            fs.globals().display()
        )
    );
}

/// The 1.18 maps, all empty: every listing says "No entries found." in text and `[]` in JSON.
#[test]
#[ignore = "needs root: BPF maps in a private bpffs (tests/run.sh runs it)"]
fn empty_maps_say_so_in_text_and_json() {
    let fs = Bpffs::new("empty");
    for (name, ty, key, value, flags) in [
        ("cilium_ct4_global", LRU_HASH, 14, 56, 0),
        ("cilium_ct_any4_global", LRU_HASH, 14, 56, 0),
        ("cilium_ct6_global", LRU_HASH, 38, 56, 0),
        ("cilium_ct_any6_global", LRU_HASH, 38, 56, 0),
        ("cilium_snat_v4_external", LRU_HASH, 14, 40, 0),
        ("cilium_lb4_services_v2", HASH, 12, 12, 0),
        ("cilium_lb4_backends_v3", HASH, 4, 12, 0),
        ("cilium_lb4_reverse_nat", HASH, 2, 6, 0),
        (
            "cilium_lb4_source_range",
            LPM_TRIE,
            12,
            1,
            BPF_F_NO_PREALLOC,
        ),
        ("cilium_lb4_affinity", LRU_HASH, 16, 16, 0),
        ("cilium_ipcache_v2", LPM_TRIE, 24, 24, BPF_F_NO_PREALLOC),
        ("cilium_lxc", HASH, 20, 48, 0),
        ("cilium_metrics", PERCPU_HASH, 8, 16, 0),
        ("cilium_node_map_v2", HASH, 20, 4, 0),
        ("cilium_auth_map", HASH, 12, 8, 0),
        ("cilium_policy_v2_00007", LPM_TRIE, 12, 8, BPF_F_NO_PREALLOC),
    ] {
        fs.create(name, ty, key, value, 1024, flags);
    }
    for cmd in [
        &["ct"][..],
        &["nat"],
        &["lb"],
        &["lb", "--backends"],
        &["lb", "--revnat"],
        &["lb", "--source-ranges"],
        &["lb", "--affinity"],
        &["ipcache"],
        &["endpoints"],
        &["metrics"],
        &["nodeid"],
        &["auth"],
        &["nat", "--tuple", "10.0.0.1:1->10.0.0.2:2/tcp"],
    ] {
        assert_eq!(run(&fs, cmd).unwrap(), "No entries found.\n", "{cmd:?}");
        let mut json = cmd.to_vec();
        json.extend(["-o", "json"]);
        assert_eq!(run(&fs, &json).unwrap(), "[]\n", "{cmd:?} -o json");
    }
    assert_eq!(
        run(&fs, &["policy", "7"]).unwrap(),
        "Policy stats empty. Perhaps the policy enforcement is disabled?\n"
    );
    let j: serde_json::Value =
        serde_json::from_str(&run(&fs, &["policy", "7", "-o", "json"]).unwrap()).unwrap();
    assert_eq!(j["entries"], serde_json::json!([]));
    assert_eq!(
        run(&fs, &["ct", "--tuple", "10.0.0.1:1->10.0.0.2:2/tcp"]).unwrap(),
        "No conntrack entries for 10.0.0.1:1 -> 10.0.0.2:2/TCP\n"
    );
    assert_eq!(
        run(&fs, &["tunnel"]).unwrap_err().to_string(),
        "Cilium 1.18 has no tunnel map"
    );
}

/// `--clock jiffies:0` and absurd HZ are refused; the extreme valid clocks never print a negative or garbled
/// time, in text or JSON.
#[test]
#[ignore = "needs root: BPF maps in a private bpffs (tests/run.sh runs it)"]
fn clock_values_are_checked() {
    let bin = pwru_bin();
    let fs = Bpffs::new("clock");
    cluster::build(&fs, Layout::V1_18);
    let root = fs.root.to_str().unwrap();
    let ct = |clock: &str, extra: &[&str]| {
        Command::new(&bin)
            .args(["cilium", "ct", "--bpffs", root, "--clock", clock])
            .args(extra)
            .output()
            .unwrap()
    };
    for bad in [
        "jiffies:0",
        "jiffies:10001",
        "jiffies:99999999999999999999",
        "jiffies:-250",
        "jiffies:",
    ] {
        let o = ct(bad, &[]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {o:?}");
        assert!(o.stdout.is_empty(), "{bad}");
        assert!(
            stderr(&o).contains(&format!("bad HZ in \"{bad}\"")),
            "{bad}: {}",
            stderr(&o)
        );
    }
    for clock in ["jiffies:1", "jiffies:10000", "ktime"] {
        let o = ct(clock, &[]);
        assert!(o.status.success(), "{clock}: {}", stderr(&o));
        let text = String::from_utf8(o.stdout).unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 5, "{text}");
        for l in lines {
            // `expires=N (…) Packets=`: the remaining time, the time since expiry, or a clock mismatch.
            let (_, rest) = l
                .split_once(" (")
                .unwrap_or_else(|| panic!("{clock}: no remaining time: {l}"));
            let (what, _) = rest.split_once(") Packets=").unwrap();
            if clock.starts_with("jiffies") {
                // The fixture's stamps (5000…8000) lie before any jiffies clock's boot value, (2^32 − 300·HZ) >> 8.
                assert_eq!(what, "not a time on this clock", "{clock}: {l}");
                continue;
            }
            let n = what
                .strip_prefix("remaining: ")
                .and_then(|w| w.strip_suffix(" sec(s)"))
                .or_else(|| {
                    what.strip_prefix("expired ")
                        .and_then(|w| w.strip_suffix(" sec(s) ago"))
                })
                .unwrap_or_else(|| panic!("{clock}: {what:?} in {l}"));
            assert!(n.parse::<u64>().is_ok(), "{clock}: {n:?} in {l}");
        }
        let o = ct(clock, &["-o", "json"]);
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        for e in j.as_array().unwrap() {
            let (rem, exp) = (&e["entry"]["remaining_secs"], &e["entry"]["expired"]);
            if clock.starts_with("jiffies") {
                assert!(rem.is_null() && exp.is_null(), "{clock}: {e}");
            } else {
                assert!(rem.is_u64() && exp.is_boolean(), "{clock}: {e}");
            }
        }
        let o = Command::new(&bin)
            .args(["cilium", "nat", "--bpffs", root, "--clock", clock])
            .output()
            .unwrap();
        let text = String::from_utf8(o.stdout).unwrap();
        assert!(!text.contains("Created=-"), "{clock}: {text}");
        assert_eq!(text.matches(" Created=").count(), 3, "{text}");
    }
}

/// A reader that goes away (`| head -1`) ends the command quietly with status 0, in JSON as in text.
#[test]
#[ignore = "needs root: BPF maps in a private bpffs (tests/run.sh runs it)"]
fn closed_stdout_exits_zero() {
    let bin = pwru_bin();
    let fs = Bpffs::new("pipe");
    cluster::build(&fs, Layout::V1_18);
    let root = fs.root.to_str().unwrap();
    for cmd in [
        &["ct"][..],
        &["ct", "-o", "json"],
        &["ipcache", "-o", "json"],
        &["maps", "-o", "json"],
        &["lb", "10.96.0.10:53/udp", "-o", "json"],
    ] {
        // The read end is closed before pwru starts: its first write fails with EPIPE, always.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = Command::new(&bin)
            .arg("cilium")
            .args(cmd)
            .args(["--bpffs", root, "--clock", "none"])
            .stdout(Stdio::from(writer))
            .output()
            .unwrap();
        assert!(o.status.success(), "{cmd:?}: {o:?}");
        assert_eq!(stderr(&o), "", "{cmd:?}");
    }
    // And with a real `head -1`.
    let sh = format!(
        "{} cilium ct -o json --bpffs {root} | head -1; exit ${{PIPESTATUS[0]}}",
        bin.display()
    );
    let o = Command::new("bash").args(["-c", &sh]).output().unwrap();
    assert!(o.status.success(), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "[\n");
}

/// Reading the fixture as root works, so the failures above are the condition under test, not the fixture.
#[test]
#[ignore = "needs root: BPF maps in a private bpffs (tests/run.sh runs it)"]
fn fixture_reads_as_root() {
    let fs = Bpffs::new("asroot");
    cluster::build(&fs, Layout::V1_18);
    assert!(
        run(&fs, &["maps"])
            .unwrap()
            .starts_with("Cilium version: 1.18")
    );
    assert!(Path::new(&fs.globals().join("cilium_lxc")).exists());
}
