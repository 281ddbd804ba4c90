//! Host end-to-end: Ctrl-C ends pwru at every moment of start-up, and reads of what the user names are bounded
//! (issue 17, item 3): `--kernel-btf /dev/zero`, `--kernel-btf FIFO`, `--output-file FIFO`.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::{TempDir, need_root, need_tool, pwru_bin, serial, sh};

/// Exit code, stderr and peak resident memory (KiB) of a child, waited for at most `secs`.
fn finish(child: &mut std::process::Child, secs: u64) -> (Option<i32>, String, i64) {
    let pid = child.id() as i32;
    let t0 = Instant::now();
    let (status, rss) = loop {
        let mut st = 0;
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut st, libc::WNOHANG, &mut ru) };
        if r == pid {
            break (st, ru.ru_maxrss);
        }
        if t0.elapsed() > Duration::from_secs(secs) {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("pwru did not exit within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut err).unwrap();
    }
    (code, err, rss)
}

fn spawn(args: &[&str]) -> std::process::Child {
    need_root("BPF programs");
    Command::new(pwru_bin())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn interrupt(child: &std::process::Child) {
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
}

/// Reads the child's stderr until `want` shows (at most 30 s); returns what was read.
fn stderr_until(child: &mut std::process::Child, want: &str) -> String {
    let mut err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let want = want.to_string();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut b = [0u8; 256];
        while let Ok(n) = err.read(&mut b) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&b[..n]);
            if String::from_utf8_lossy(&seen).contains(&want) {
                break;
            }
        }
        let _ = tx.send((String::from_utf8_lossy(&seen).into_owned(), err));
    });
    let (seen, err) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("stderr did not say it within 30 s");
    child.stderr = Some(err);
    seen
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn kernel_btf_dev_zero_is_bounded_and_interruptible() {
    let _g = serial();
    let mut c = spawn(&["--kernel-btf", "/dev/zero", "icmp"]);
    let (code, err, rss_kib) = finish(&mut c, 60);
    eprintln!(
        "--kernel-btf /dev/zero: exit {code:?}, peak RSS {} MiB: {err}",
        rss_kib >> 10
    );
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/dev/zero") && err.contains("MiB"), "{err}");
    assert!(rss_kib < 400 << 10, "peak RSS {} MiB", rss_kib >> 10);

    // Ctrl-C in the middle of a read that would go on for a long time: a FIFO fed slowly with zeros.
    need_tool("mkfifo");
    let d = TempDir::new("pwru-start-slow-btf");
    let fifo = d.join("btf");
    sh(&format!("mkfifo {}", fifo.display()));
    let mut c = spawn(&["--kernel-btf", fifo.to_str().unwrap(), "icmp"]);
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            let chunk = vec![0u8; 1 << 20];
            // Ends when pwru is gone (EPIPE).
            while std::io::Write::write_all(&mut w, &chunk).is_ok() {
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let rss = |pid: u32| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
            .unwrap_or(0)
    };
    let t0 = Instant::now();
    while rss(c.id()) < 40 << 10 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "pwru is not reading the FIFO"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    interrupt(&c);
    let t0 = Instant::now();
    let (code, err, _) = finish(&mut c, 10);
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(code, Some(130), "{err}");
    assert!(
        err.contains("interrupted (SIGINT) while reading BTF"),
        "{err}"
    );
    writer.join().unwrap();
}

/// `flag FIFO` with nobody at the other end: pwru says what it waits for, and Ctrl-C ends the wait. Returns the
/// directory with the FIFO (`fifo`).
fn lonely_fifo_wait_is_interruptible(flag: &str, says: &str, phase: &str) -> TempDir {
    need_tool("mkfifo");
    let d = TempDir::new("pwru-start-fifo");
    let fifo = d.join("fifo");
    sh(&format!("mkfifo {}", fifo.display()));
    let mut c = spawn(&[flag, fifo.to_str().unwrap(), "icmp"]);
    let seen = stderr_until(&mut c, says);
    std::thread::sleep(Duration::from_millis(300));
    interrupt(&c);
    let (code, err, _) = finish(&mut c, 10);
    assert_eq!(code, Some(130), "{seen}{err}");
    let want = format!("interrupted (SIGINT) while {phase}: stopped before tracing began");
    assert!(err.contains(&want), "{seen}{err}");
    d
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn kernel_btf_fifo_without_writer_says_so_and_ctrl_c_ends_it() {
    let _g = serial();
    lonely_fifo_wait_is_interruptible(
        "--kernel-btf",
        "is a FIFO: waiting for a writer (Ctrl-C to stop)",
        "reading BTF",
    );
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn output_file_fifo_waits_for_a_reader_interruptibly() {
    let _g = serial();
    let d = lonely_fifo_wait_is_interruptible(
        "--output-file",
        "is a FIFO with no reader yet: waiting for one (Ctrl-C to stop)",
        "opening the output",
    );
    let fifo = d.join("fifo");

    // Once a reader comes, the trace goes on and writes into the FIFO.
    let ready = d.join("ready");
    let mut c = spawn(&[
        "--backend",
        "tracepoint",
        "--ready-file",
        ready.to_str().unwrap(),
        "--output-file",
        fifo.to_str().unwrap(),
        "icmp",
    ]);
    let seen = stderr_until(&mut c, "no reader yet");
    let mut reader = std::fs::File::open(&fifo).unwrap();
    let t0 = Instant::now();
    while !ready.exists() {
        assert!(t0.elapsed() < Duration::from_secs(120), "not ready: {seen}");
        std::thread::sleep(Duration::from_millis(50));
    }
    interrupt(&c);
    let mut text = String::new();
    reader.read_to_string(&mut text).unwrap();
    let (code, err, _) = finish(&mut c, 30);
    assert_eq!(code, Some(0), "{seen}{err}");
    assert!(text.starts_with("SKB "), "{text}");
    assert!(err.contains("events produced"), "{err}");
}

/// The programs are loaded during the search for targets where nothing found changes them (here one raw_tp program
/// for every tracepoint), and after it where something does: a kernel summary's tables are sized by the targets,
/// BTF expressions are compiled on the BTF the search reads. Either way the run attaches and ends cleanly.
#[test]
#[ignore = "needs root: runs pwru (tests/run.sh runs it)"]
fn programs_load_during_the_search_unless_it_changes_them() {
    let _g = serial();
    need_root("BPF programs");
    for (args, ahead) in [
        (&["icmp"][..], true),
        (&["--output-json", "--filter-track-skb", "udp"], true),
        (&["--summary", "icmp"], false),
        (&["--filter-skb-expr", "skb->len > 0"], false),
    ] {
        let mut c = Command::new(pwru_bin())
            .args(args)
            .env("PWRU_STARTUP_TIMES", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let seen = stderr_until(&mut c, " attached, ");
        interrupt(&c);
        let (code, rest, _) = finish(&mut c, 30);
        let err = seen + &rest;
        assert_eq!(code, Some(0), "{args:?}: {err}");
        let loaded = err
            .lines()
            .find(|l| l.contains(": loaded in "))
            .unwrap_or_else(|| panic!("{args:?}: no load time: {err}"));
        assert_eq!(
            loaded.contains("during the search"),
            ahead,
            "{args:?}: {loaded}"
        );
        assert!(err.contains(" events produced, "), "{args:?}: {err}");
    }
}
