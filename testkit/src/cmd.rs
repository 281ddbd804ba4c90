//! Commands from tests, and the checks that make a test fail (never skip) when the machine cannot run it.

use std::process::{Command, Output};

/// Runs `cmd` through `sh -c` and returns its stdout; panics with the status, stdout and stderr when it cannot
/// start or exits non-zero.
pub fn sh(cmd: &str) -> String {
    checked(cmd, Command::new("sh").arg("-c").arg(cmd).output())
}

/// Runs `program` with `args` (no shell) and returns its stdout; panics like [`sh`] when it fails.
pub fn run(program: &str, args: &[&str]) -> String {
    let what = format!("{program} {}", args.join(" "));
    checked(&what, Command::new(program).args(args).output())
}

/// Runs `program` with `args` (no shell) whatever its exit status; panics only when it cannot start.
pub fn output(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

fn checked(what: &str, out: std::io::Result<Output>) -> String {
    let out = out.unwrap_or_else(|e| panic!("cannot run `{what}`: {e}"));
    assert!(
        out.status.success(),
        "`{what}` failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Fails the test unless it runs as root; `why` says what needs it ("BPF programs", "mounting bpffs").
pub fn need_root(why: &str) {
    assert!(
        is_root(),
        "this test needs root ({why}): run `sudo bash tests/run.sh`, or `sudo cargo test -- --include-ignored`"
    );
}

/// Fails the test unless `tool` is on PATH.
pub fn need_tool(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "this test needs `{tool}`, which is not installed (tests/setup.sh installs every tool the tests use)"
    );
}

/// `program` as user nobody (65534) with no capabilities at all, through util-linux's `setpriv`: what an
/// unprivileged user gets. Add arguments and run it like any [`Command`].
pub fn as_nobody(program: impl AsRef<std::ffi::OsStr>) -> Command {
    need_tool("setpriv");
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--",
    ])
    .arg(program);
    c
}

/// Runs `tshark` with `args` and returns its stdout; panics when it fails or warns about anything (the notice it
/// prints when run as root is no warning about the file).
pub fn tshark(args: &[&str]) -> String {
    need_tool("tshark");
    let out = output("tshark", args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("Running as user \"root\""))
        .collect();
    assert!(
        out.status.success() && warnings.is_empty(),
        "tshark {} ({}):\n{stderr}",
        args.join(" "),
        out.status
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One row per packet of the capture `file`, as [`tshark`] reads it: the `fields` asked for (`frame.comment`,
/// `ip.src`, …), each row split at tshark's `|` separator.
pub fn tshark_fields(file: &std::path::Path, fields: &[&str]) -> Vec<Vec<String>> {
    let file = file.to_str().expect("a UTF-8 path");
    let mut args = vec!["-r", file, "-T", "fields", "-E", "separator=|"];
    for f in fields {
        args.extend(["-e", f]);
    }
    tshark(&args)
        .lines()
        .map(|l| l.split('|').map(str::to_string).collect())
        .collect()
}

/// The pcapng columns of pwru's frames: interface name and description, comment, length and captured length.
pub const FRAME_FIELDS: [&str; 5] = [
    "frame.interface_name",
    "frame.interface_description",
    "frame.comment",
    "frame.len",
    "frame.cap_len",
];

/// [`tshark_fields`] with the [`FRAME_FIELDS`] first (columns 0 to 4), then `more`.
pub fn tshark_frames(file: &std::path::Path, more: &[&str]) -> Vec<Vec<String>> {
    tshark_fields(file, &[&FRAME_FIELDS[..], more].concat())
}

/// A proptest's number of cases: `default`, or `PROPTEST_CASES` when set (tests/arm64/run.sh runs fewer under
/// qemu-user). A config's explicit `cases` would otherwise override the variable.
pub fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
