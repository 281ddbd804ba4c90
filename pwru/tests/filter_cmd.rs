//! `pwru filter` as a user runs it: bad expressions end in one line at the right column (and a caret on a
//! terminal), `--read` matches what `tcpdump -r` matches on pcap and pcapng, damaged captures give every match
//! before the damage and then one warning line with tcpdump's exit status, and a closed stdout ends quietly.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use testkit::{TempDir, need_root, need_tool, pcap_corpus, pwru_bin};

fn bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(pwru_bin)
}

fn corpus(name: &str) -> PathBuf {
    let p = pcap_corpus().join("pcaps").join(name);
    assert!(
        p.is_file(),
        "{} missing from the capture corpus",
        p.display()
    );
    p
}

fn pwru(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Scratch files of this test process, removed at its end.
fn tmp(name: &str) -> PathBuf {
    static DIR: OnceLock<TempDir> = OnceLock::new();
    DIR.get_or_init(|| TempDir::new("pwru-filter-cmd"))
        .join(name)
}

/// The 1-based numbers of the packets of `file` that `tcpdump -r` matches (told by their bytes: tcpdump
/// writes what it matched, and those are found in order among the packets of `file`), its stderr and its exit.
fn tcpdump(file: &Path, expr: &str) -> (String, String, Option<i32>) {
    need_tool("tcpdump");
    let out = Command::new("tcpdump")
        .args(["-n", "-w", "-", "-r"])
        .arg(file)
        .arg(expr)
        .output()
        .unwrap();
    let matched = packets_of(&out.stdout);
    let all = packets_of(&std::fs::read(file).unwrap());
    let mut nums = String::new();
    let mut next = 0;
    for m in &matched {
        let i = next
            + all[next..]
                .iter()
                .position(|p| p == m)
                .expect("tcpdump wrote a packet of the file");
        nums.push_str(&format!("{}\n", i + 1));
        next = i + 1;
    }
    (nums, text(&out.stderr), out.status.code())
}

/// The packets of a capture up to its first damage.
fn packets_of(bytes: &[u8]) -> Vec<pcap_filter::capture::Packet> {
    match pcap_filter::capture::Capture::new(bytes) {
        Ok(c) => c.map_while(Result::ok).collect(),
        Err(_) => Vec::new(),
    }
}

fn read(file: &Path, expr: &str) -> Output {
    Command::new(bin())
        .args(["filter", "--read"])
        .arg(file)
        .arg(expr)
        .output()
        .unwrap()
}

fn one_line_error(out: &Output, what: &str) -> String {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{what}: {err}");
    assert_eq!(
        err.lines().count(),
        1,
        "{what}: one line expected, got:\n{err}"
    );
    assert!(err.starts_with("pwru: "), "{what}: {err}");
    for bad in [
        "panicked",
        "internal error",
        "HeaderNotRecognized",
        "UnexpectedEof",
        "Incomplete",
    ] {
        assert!(!err.contains(bad), "{what}: {err}");
    }
    err.trim_end().to_string()
}

const ODD: &[(&str, &str)] = &[
    (
        "hóst 10.0.0.1",
        "non-ASCII character 'ó' (U+00F3) at column 2",
    ),
    (
        "tcp port 8０",
        "non-ASCII character '０' (U+FF10) at column 11",
    ),
    (
        "icmp or 😀",
        "non-ASCII character '😀' (U+1F600) at column 9",
    ),
    (
        "ho\u{301}st 10.0.0.1",
        "non-ASCII character '\\u{301}' at column 3",
    ),
    (
        "udp and 主机",
        "non-ASCII character '主' (U+4E3B) at column 9",
    ),
    ("tcp\u{7}", "unexpected character '\\u{7}' at column 4"),
    (
        "tcp \u{1b}[2J",
        "unexpected character '\\u{1b}' at column 5",
    ),
];

#[test]
fn odd_characters_are_one_line_errors_at_their_column() {
    for (expr, want) in ODD {
        let out = pwru(&["filter", "--dump", expr]);
        let err = one_line_error(&out, expr);
        assert_eq!(
            err,
            format!("pwru: filter: syntax error: {want}"),
            "{expr:?}"
        );
        assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
#[ignore = "needs root: the tracer checks privileges first (tests/run.sh runs it)"]
fn the_tracer_refuses_odd_characters_before_any_bpf_work() {
    // The tracer checks privileges first, so this needs root; it loads nothing.
    need_root("the tracer checks privileges before the filter");
    for (expr, want) in ODD {
        let out = pwru(&["--backend", "tracepoint", expr]);
        let err = one_line_error(&out, expr);
        assert_eq!(
            err,
            format!("pwru: filter: syntax error: {want}"),
            "{expr:?}"
        );
    }
}

#[test]
#[ignore = "needs script(1), and root for the tracer (tests/run.sh runs it)"]
fn on_a_terminal_a_caret_points_at_the_column() {
    need_tool("script");
    need_root("the tracer checks privileges before the filter");
    for (cmd, expr, caret) in [
        ("filter --dump", "tcp port 8０", "            ^"),
        ("filter --dump", "udp and 主机", "          ^"),
        ("filter --dump", "ho\u{301}st", "    ^"),
        ("filter --dump", "tcp and", "         ^"),
        ("--backend tracepoint", "icmp or 😀", "          ^"),
    ] {
        // script(1) gives pwru a terminal; the expression goes through the environment, unquoted by nobody.
        let out = Command::new("script")
            .args(["-qec", &format!("\"$PWRU\" {cmd} \"$EXPR\""), "/dev/null"])
            .env("PWRU", bin())
            .env("EXPR", expr)
            .output()
            .unwrap();
        let s = text(&out.stdout).replace('\r', "");
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 3, "{expr:?}: {s}");
        assert!(lines[0].starts_with("pwru: filter: "), "{s}");
        assert_eq!(lines[2], caret, "{expr:?}:\n{s}");
        assert_eq!(out.status.code(), Some(1), "{s}");
    }
}

#[test]
#[ignore = "needs tcpdump, editcap and the capture corpus (tests/run.sh runs it)"]
fn read_matches_what_tcpdump_matches() {
    need_tool("editcap");
    let ng = tmp("dhcp.pcapng");
    let st = Command::new("editcap")
        .args(["-F", "pcapng"])
        .arg(corpus("tcpdump-dhcp-rfc3004.pcap"))
        .arg(&ng)
        .status()
        .unwrap();
    assert!(st.success());
    let files = [
        corpus("tcpdump-afs.pcap"),
        corpus("tcpdump-dcb_ets.pcap"),
        corpus("tcpdump-eapon1.pcap"),
        corpus("tcpdump-dhcp-rfc3004.pcap"),
        // Big-endian pcap, and raw IP.
        corpus("tcpdump-pptp.pcap"),
        corpus("tcpdump-LINKTYPE_RAW_ipv4.pcap"),
        corpus("tcpdump-LINKTYPE_RAW_ipv6.pcap"),
        ng,
    ];
    let mut matched = 0;
    for f in &files {
        for expr in [
            "udp",
            "tcp",
            "ip6",
            "ip broadcast",
            "not ip broadcast and ip",
            "ether broadcast",
        ] {
            let (want, err, code) = tcpdump(f, expr);
            // `ether broadcast` means nothing on raw IP: tcpdump refuses it there, pwru matches nothing.
            assert!(
                code == Some(0) || err.contains("not a broadcast link"),
                "{err}"
            );
            let out = read(f, expr);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{} {expr}: {}",
                f.display(),
                text(&out.stderr)
            );
            assert_eq!(text(&out.stdout), want, "{} {expr}", f.display());
            matched += want.lines().count();
        }
    }
    assert!(
        matched > 100,
        "the captures match too little to prove anything: {matched}"
    );
}

#[test]
#[ignore = "needs root and the capture corpus (tests/run.sh runs it)"]
fn ip_broadcast_needs_a_netmask_that_only_a_capture_has() {
    need_root("the tracer checks privileges before the filter");
    for args in [
        &["filter", "--dump", "ip broadcast"][..],
        &["--backend", "tracepoint", "ip broadcast"],
    ] {
        let err = one_line_error(&pwru(args), "ip broadcast");
        assert!(
            err.contains("netmask not known, so 'ip broadcast' not supported")
                && err.contains("reading a capture")
                && err.contains("255.255.255.255"),
            "{err}"
        );
    }
    let out = read(&corpus("tcpdump-dcb_ets.pcap"), "ip broadcast");
    assert_eq!(text(&out.stdout).lines().count(), 16);
}

/// `len` bytes of `src` in a new file.
fn cut(src: &Path, len: usize, name: &str) -> PathBuf {
    let b = std::fs::read(src).unwrap();
    let p = tmp(name);
    std::fs::write(&p, &b[..len.min(b.len())]).unwrap();
    p
}

#[test]
#[ignore = "needs tcpdump, editcap and the capture corpus (tests/run.sh runs it)"]
fn damaged_captures_give_every_match_before_the_damage() {
    need_tool("editcap");
    let pcap = corpus("tcpdump-afs.pcap");
    let ng = tmp("afs.pcapng");
    assert!(
        Command::new("editcap")
            .args(["-F", "pcapng"])
            .arg(&pcap)
            .arg(&ng)
            .status()
            .unwrap()
            .success()
    );
    let mut big = std::fs::read(&pcap).unwrap();
    // The 5th record claims 2 GiB.
    let mut fifth = 24;
    for _ in 0..4 {
        fifth += 16 + u32::from_le_bytes(big[fifth + 8..fifth + 12].try_into().unwrap()) as usize;
    }
    big[fifth + 8..fifth + 12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let bigcap = tmp("bigcap.pcap");
    std::fs::write(&bigcap, &big).unwrap();
    let half = std::fs::metadata(&pcap).unwrap().len() as usize / 2;
    let cases = [
        (
            cut(&pcap, half, "half.pcap"),
            "truncated: packet 310 (at byte 260544) ends after 414 of its 1530 bytes; the 309 packets before it were read",
        ),
        (
            cut(&pcap, 24 + 6, "hdr.pcap"),
            "truncated: packet 1 (at byte 24) ends after 6 of its 16 bytes",
        ),
        (
            cut(
                &ng,
                std::fs::metadata(&ng).unwrap().len() as usize / 2,
                "half.pcapng",
            ),
            "truncated: packet 310 (at byte",
        ),
        (
            bigcap,
            "damaged at byte 593, where packet 5 should start: a record of 2147483647 captured bytes \
                  (at most 262144 exist); the 4 packets before it were read",
        ),
    ];
    for (file, warning) in cases {
        for expr in ["udp", "udp port 7001", "ip"] {
            let (want, tcpdump_err, tcpdump_code) = tcpdump(&file, expr);
            let out = read(&file, expr);
            let err = text(&out.stderr);
            assert_eq!(text(&out.stdout), want, "{} {expr}", file.display());
            // tcpdump's status after a damaged file.
            assert_eq!(
                out.status.code(),
                tcpdump_code,
                "{} {expr}: {tcpdump_err}",
                file.display()
            );
            assert_eq!(out.status.code(), Some(1));
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(
                err.starts_with(&format!("pwru: warning: {}: {warning}", file.display())),
                "{err}"
            );
        }
    }
    assert!(half > 1000);
}

#[test]
#[ignore = "needs the capture corpus (tests/run.sh runs it)"]
fn unreadable_captures_are_readable_sentences() {
    let empty = tmp("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let text_file = tmp("notes.txt");
    std::fs::write(&text_file, "hello, this is not a capture\n").unwrap();
    let short = cut(&corpus("tcpdump-afs.pcap"), 10, "short.pcap");
    for (file, want) in [
        (empty.clone(), "truncated file header: 0 of its 4 bytes"),
        (
            text_file,
            "not a pcap or pcapng file (it starts with 68 65 6c 6c)",
        ),
        (short, "truncated file header: 10 of its 24 bytes"),
        (
            PathBuf::from("/nonexistent/x.pcap"),
            "No such file or directory",
        ),
        (std::env::temp_dir(), "Is a directory"),
    ] {
        let err = one_line_error(&read(&file, "tcp"), &file.display().to_string());
        assert!(
            err.contains(&file.display().to_string()) && err.contains(want),
            "{err}"
        );
    }
    // A bad expression is refused before the file is opened.
    let err = one_line_error(&read(Path::new("/nonexistent"), "tcpx"), "tcpx");
    assert_eq!(err, "pwru: filter: unknown protocol 'tcpx' at column 1");
}

#[test]
#[ignore = "needs tcpdump and the capture corpus (tests/run.sh runs it)"]
fn read_and_dump_do_both() {
    let f = corpus("tcpdump-dcb_ets.pcap");
    let out = Command::new(bin())
        .args(["filter", "--dump", "--read"])
        .arg(&f)
        .arg("ip broadcast")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    // The listing (its summary line and its instructions), then the numbers of the matches.
    let (listing, nums): (Vec<&str>, Vec<&str>) = s
        .lines()
        .partition(|l| l.starts_with("; ") || l.starts_with('('));
    let n: usize = listing[0]
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(listing.len(), n + 1, "{s}");
    assert!(listing.iter().any(|l| l.contains("0xffffffff")), "{s}");
    assert!(
        s.starts_with(listing.join("\n").as_str()),
        "listing first:\n{s}"
    );
    let nums: String = nums.iter().map(|l| format!("{l}\n")).collect();
    assert_eq!(nums, tcpdump(&f, "ip broadcast").0);
}

#[test]
#[ignore = "needs tcpdump and the capture corpus (tests/run.sh runs it)"]
fn stdin_is_read_with_a_dash() {
    let f = corpus("tcpdump-afs.pcap");
    let out = Command::new(bin())
        .args(["filter", "--read", "-", "udp port 7001"])
        .stdin(std::fs::File::open(&f).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), tcpdump(&f, "udp port 7001").0);
}

#[test]
#[ignore = "needs tcpdump, mkfifo and the capture corpus (tests/run.sh runs it)"]
fn a_fifo_is_said_to_wait_for_its_writer_then_read() {
    use std::io::{BufRead, BufReader};
    need_tool("mkfifo");
    let f = corpus("tcpdump-afs.pcap");
    let d = TempDir::new("pwru-filter-fifo");
    let fifo = d.join("capture");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let mut c = Command::new(bin())
        .args(["filter", "--read", fifo.to_str().unwrap(), "udp port 7001"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The note comes before the open that blocks: nothing has written to the FIFO yet.
    let stderr = c.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut note = String::new();
        let _ = BufReader::new(stderr).read_line(&mut note);
        let _ = tx.send(note);
    });
    let note = rx.recv_timeout(std::time::Duration::from_secs(10));
    // Written even without the note, so that a failing run ends instead of waiting forever.
    std::io::copy(
        &mut std::fs::File::open(&f).unwrap(),
        &mut std::fs::OpenOptions::new().write(true).open(&fifo).unwrap(),
    )
    .unwrap();
    let out = c.wait_with_output().unwrap();
    let note = note.unwrap_or_default();
    assert!(
        note.contains("is a FIFO: waiting for a writer (Ctrl-C to stop)"),
        "{note:?}"
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), tcpdump(&f, "udp port 7001").0);
}

#[test]
#[ignore = "needs the capture corpus (tests/run.sh runs it)"]
fn a_closed_or_full_stdout() {
    let f = corpus("tcpdump-afs.pcap");
    let f = f.to_str().unwrap();
    for args in [
        &["filter", "--dump", "tcp"][..],
        &["filter", "--read", f, "udp"],
    ] {
        // The reader is gone before pwru writes: `| head -0`.
        let mut child = Command::new(bin())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stderr), "", "{args:?}");
        // A full disk is an error that says so.
        let out = Command::new(bin())
            .args(args)
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let err = one_line_error(&out, "/dev/full");
        assert_eq!(
            err,
            "pwru: cannot write to stdout: No space left on device (os error 28)"
        );
    }
}
