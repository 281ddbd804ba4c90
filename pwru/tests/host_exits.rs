//! Host end-to-end: every way out of a run ends cleanly with the summary line, and a closed or full stdout or
//! stderr never panics or aborts — the tracer, `pwru filter` and `pwru cilium` (issue 17, items 2 and 6).

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::mount::Mount;
use testkit::pwru::*;
use testkit::{NetnsPair, TempDir, need_root, need_tool, pwru_bin, serial, sh};

fn wait_for(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !done() {
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "{what}: not within {secs} s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for the child (at most `secs`), killing it on timeout.
fn exit_code(child: &mut std::process::Child, secs: u64) -> Option<i32> {
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code();
        }
        if t0.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pwru did not exit within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The numbers of the summary line: produced, lost, printed, not written, not read.
fn summary(stderr: &str) -> [u64; 5] {
    let line = stderr
        .lines()
        .find(|l| l.contains(" events produced, "))
        .unwrap_or_else(|| panic!("no summary line on stderr:\n{stderr}"));
    let count = |what: &str| -> u64 {
        regex::Regex::new(&format!(r"(\d+) {what}"))
            .unwrap()
            .captures(line)
            .map_or(0, |c| c[1].parse().unwrap())
    };
    [
        "events produced",
        "lost",
        "printed",
        "not written",
        "not read",
    ]
    .map(count)
}

/// Every event produced is lost, printed, not written or not read.
fn assert_accounted(stderr: &str) -> [u64; 5] {
    let s = summary(stderr);
    let [produced, lost, printed, unwritten, unread] = s;
    assert_eq!(produced, lost + printed + unwritten + unread, "{stderr}");
    s
}

/// A pipe whose reading end is already closed: any write to it fails with EPIPE at once.
fn closed_pipe() -> Stdio {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    unsafe { libc::close(fds[0]) };
    Stdio::from(unsafe { OwnedFd::from_raw_fd(fds[1]) })
}

fn dev_full() -> Stdio {
    Stdio::from(
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap(),
    )
}

fn no_crash(stderr: &str) {
    assert!(
        !stderr.contains("internal error") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn closed_stdout_ends_the_trace_with_the_summary() {
    let _g = serial();
    need_tool("bash");
    need_tool("head");
    let t = NetnsPair::builder("x31", 31).resolve_neighbours().build();
    let d = TempDir::new("pwru-exits-head");
    let (ready, err, out, code) = (
        d.join("ready"),
        d.join("err"),
        d.join("out"),
        d.join("code"),
    );
    // `pwru icmp | head -1`, literally.
    let script = format!(
        "set -o pipefail; {} --backend tracepoint --ready-file {} 'icmp and host {}' 2>{} | head -1 >{}; echo ${{PIPESTATUS[0]}} >{}",
        pwru_bin().display(),
        ready.display(),
        t.ip_b,
        err.display(),
        out.display(),
        code.display()
    );
    let mut sh = Command::new("bash").arg("-c").arg(&script).spawn().unwrap();
    wait_for("ready", 120, || ready.exists());
    // head has the header line and is gone; the first events meet a closed pipe.
    wait_for("head to exit", 10, || {
        std::fs::read_to_string(&out).is_ok_and(|s| s.ends_with('\n'))
    });
    t.exec(
        &t.a,
        &format!("ping -c 3 -i 0.2 -W 1 {} >/dev/null", t.ip_b),
    );
    assert_eq!(exit_code(&mut sh, 30), Some(0));
    let err = std::fs::read_to_string(&err).unwrap();
    assert_eq!(std::fs::read_to_string(&code).unwrap().trim(), "0", "{err}");
    let out = std::fs::read_to_string(&out).unwrap();
    assert!(out.starts_with("SKB ") && out.lines().count() == 1, "{out}");
    no_crash(&err);
    let [produced, ..] = assert_accounted(&err);
    assert!(produced >= 1, "{err}");
    // A reader that went away is not an error to shout about.
    assert!(
        !err.contains("Broken pipe") && !err.contains("cannot write"),
        "{err}"
    );
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn full_stdout_is_one_error_line_and_the_summary() {
    let _g = serial();
    need_root("BPF programs");
    let o = Command::new(pwru_bin())
        .args(["--backend", "tracepoint", "icmp"])
        .stdout(dev_full())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    no_crash(&err);
    assert!(
        err.contains("pwru: cannot write to stdout: No space left on device"),
        "{err}"
    );
    assert_accounted(&err);
    // The error comes before the summary, which is the last line.
    assert!(
        err.trim_end()
            .lines()
            .last()
            .unwrap()
            .contains("events produced"),
        "{err}"
    );
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn full_disk_names_the_file_and_counts_exactly() {
    let _g = serial();
    let t = NetnsPair::builder("x32", 32).resolve_neighbours().build();
    let d = TempDir::new("pwru-exits-disk");
    let mnt = Mount::with_options("tmpfs", "pwru-full-disk", "size=256k");
    let file = mnt.join("trace.json");
    let ready = d.join("ready");
    let mut child = Command::new(pwru_bin())
        .args(["--backend", "tracepoint", "--output-json", "--ready-file"])
        .arg(&ready)
        .arg("--output-file")
        .arg(&file)
        .arg(format!("host {}", t.ip_b))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("ready", 120, || ready.exists());
    // Far more than 256 KiB of JSON lines.
    t.exec(
        &t.a,
        &format!("ping -f -c 3000 -q {} >/dev/null || true", t.ip_b),
    );
    assert_eq!(exit_code(&mut child, 30), Some(1));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    no_crash(&err);
    assert!(
        err.contains(&format!(
            "pwru: cannot write to --output-file {}: No space left on device",
            file.display()
        )),
        "{err}"
    );
    let [_, _, printed, unwritten, _] = assert_accounted(&err);
    assert!(unwritten > 0, "{err}");
    // Exactly the events the summary calls printed are whole lines in the file.
    let text = std::fs::read(&file).unwrap();
    let lines = text.iter().filter(|&&b| b == b'\n').count() as u64;
    assert_eq!(lines, printed, "{err}");
    assert!(printed > 100, "{err}");
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn full_stderr_never_aborts() {
    let _g = serial();
    need_root("BPF programs");
    let d = TempDir::new("pwru-exits-stderr");
    let ready = d.join("ready");
    let mut child = Command::new(pwru_bin())
        .args(["--backend", "tracepoint", "--ready-file"])
        .arg(&ready)
        .arg("--output-file")
        .arg(d.join("out"))
        .stderr(dev_full())
        .spawn()
        .unwrap();
    wait_for("ready", 120, || ready.exists());
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(exit_code(&mut child, 30), Some(0));
    // Errors with nowhere to say them still exit 1, not 101 or 134.
    for args in [
        &["--filter-mark", "1/0"][..],
        &["filter", "--dump", "tcp port"],
    ] {
        let st = Command::new(pwru_bin())
            .args(args)
            .stderr(dev_full())
            .status()
            .unwrap();
        assert_eq!(st.code(), Some(1), "{args:?}");
    }
}

/// A one-packet pcap file (an Ethernet/IPv4/ICMP echo request).
fn tiny_pcap(path: &Path) {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    f.extend_from_slice(&[2, 0, 4, 0]);
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&1u32.to_le_bytes());
    let mut pkt = vec![0xff; 12];
    pkt.extend_from_slice(&[0x08, 0x00]);
    pkt.extend_from_slice(&[
        0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    pkt.extend_from_slice(&[8, 0, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
    f.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
    f.extend_from_slice(&pkt);
    std::fs::write(path, f).unwrap();
}

/// A bpffs with one map named like Cilium's, so `pwru cilium maps` has a table to print.
fn cilium_bpffs() -> Mount {
    need_tool("bpftool");
    let m = Mount::new("bpf", "pwru-exits-bpffs");
    let root = m.path();
    std::fs::create_dir_all(root.join("tc/globals")).unwrap();
    sh(&format!(
        "bpftool map create {}/tc/globals/cilium_ipcache_v2 type lpm_trie key 24 value 24 entries 16 name cilium_ipcache_v2 flags 1",
        root.display()
    ));
    m
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn filter_and_cilium_commands_on_closed_and_full_stdout() {
    let _g = serial();
    need_root("BPF programs");
    let d = TempDir::new("pwru-exits-cmds");
    let pcap = d.join("one.pcap");
    tiny_pcap(&pcap);
    let bpffs = cilium_bpffs();
    let read = [
        "filter".to_string(),
        "--read".into(),
        pcap.display().to_string(),
        "icmp".into(),
    ];
    let cilium = [
        "cilium".to_string(),
        "maps".into(),
        "--bpffs".into(),
        bpffs.path().display().to_string(),
    ];
    let dump = ["filter".to_string(), "--dump".into(), "tcp port 80".into()];
    for args in [&dump[..], &read[..], &cilium[..]] {
        // Sanity: each prints something when stdout works.
        let o = Command::new(pwru_bin()).args(args).output().unwrap();
        assert!(
            o.status.success() && !o.stdout.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        // A reader that went away: quiet, exit 0.
        let o = Command::new(pwru_bin())
            .args(args)
            .stdout(closed_pipe())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!((o.status.code(), err.as_ref()), (Some(0), ""), "{args:?}");
        // A full device: one line that says what could not be written, exit 1.
        let o = Command::new(pwru_bin())
            .args(args)
            .stdout(dev_full())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("pwru: cannot write to stdout: No space left on device"),
            "{args:?}: {err}"
        );
    }
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn limit_lines_and_every_signal_end_with_the_summary() {
    let _g = serial();
    let t = NetnsPair::builder("x33", 33).resolve_neighbours().build();
    for sig in [SIGINT, SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
        let p = Pwru::start(&["--filter-netns", &t.path_b()]);
        t.exec(
            &t.a,
            &format!("ping -c 2 -i 0.2 -W 1 {} >/dev/null", t.ip_b),
        );
        settle();
        let f = p.stop(sig);
        assert_eq!(f.code, Some(0), "signal {sig}: {}", f.stderr);
        let [produced, _, printed, ..] = assert_accounted(&f.stderr);
        assert!(produced > 0 && printed > 0, "signal {sig}: {}", f.stderr);
        assert_eq!(
            f.lines().len() as u64,
            printed + 1,
            "signal {sig}: header + events"
        );
    }
    let p = Pwru::start(&["--output-limit-lines", "2", "--filter-netns", &t.path_b()]);
    t.exec(
        &t.a,
        &format!("ping -c 2 -i 0.2 -W 1 {} >/dev/null", t.ip_b),
    );
    let f = p.wait();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let [_, _, printed, unwritten, _] = assert_accounted(&f.stderr);
    assert_eq!((printed, unwritten), (2, 0), "{}", f.stderr);
}
