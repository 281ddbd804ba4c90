//! The real pwru binary under test: started with the tracepoint backend (the host has no kprobes), waited for
//! until it has attached, stopped with a signal, its output read back.

use crate::cmd::need_root;
use crate::paths::{TempDir, pwru_bin};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// SIGINT, as pwru gets it from Ctrl-C.
pub const SIGINT: i32 = libc::SIGINT;
/// SIGTERM, as pwru gets it from kill or a container runtime.
pub const SIGTERM: i32 = libc::SIGTERM;

/// Waits long enough for the events of traffic just sent to be printed.
pub fn settle() {
    std::thread::sleep(Duration::from_millis(700));
}

/// Runs pwru with `args` to an error: it must exit 1 with exactly one line on stderr, which is returned.
pub fn one_line_error(args: &[&str]) -> String {
    let out = Command::new(pwru_bin()).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    err
}

/// A running pwru with its output in a private directory; killed and cleaned up on drop.
#[derive(Debug)]
pub struct Pwru {
    child: Option<Child>,
    dir: TempDir,
    /// Its `--output-file`.
    pub out: PathBuf,
    err: PathBuf,
}

/// How a pwru run ended.
#[derive(Debug)]
pub struct Finished {
    /// The exit code (`None` when a signal killed it).
    pub code: Option<i32>,
    /// What it wrote to stderr.
    pub stderr: String,
    /// The contents of its `--output-file`.
    pub output: String,
}

impl Finished {
    /// The output's lines.
    pub fn lines(&self) -> Vec<&str> {
        self.output.lines().collect()
    }

    /// The output as JSON lines (`--output-json`); panics on a line that is not JSON.
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.output
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    /// `N events produced, M lost` from stderr's summary line.
    pub fn counters(&self) -> (u64, u64) {
        let line = self
            .stderr
            .lines()
            .find(|l| l.contains("events produced"))
            .unwrap_or_else(|| panic!("no 'events produced' line on stderr:\n{}", self.stderr));
        let nums: Vec<u64> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        (nums[0], nums[1])
    }
}

impl Pwru {
    /// Starts [`pwru_bin`] as `pwru --backend tracepoint --ready-file … --output-file … <args>` and returns once it
    /// has attached; panics (with its stderr) when it exits first or is not ready within 120 s.
    pub fn start(args: &[&str]) -> Pwru {
        Self::start_bin(&pwru_bin(), args)
    }

    /// [`Pwru::start`] with another binary.
    pub fn start_bin(bin: &Path, args: &[&str]) -> Pwru {
        need_root("BPF programs");
        let dir = TempDir::new("pwru-e2e");
        let (ready, out, err) = (dir.join("ready"), dir.join("out"), dir.join("stderr"));
        let stderr =
            std::fs::File::create(&err).unwrap_or_else(|e| panic!("{}: {e}", err.display()));
        let child = Command::new(bin)
            .args(["--backend", "tracepoint", "--ready-file"])
            .arg(&ready)
            .arg("--output-file")
            .arg(&out)
            .args(args)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let mut p = Pwru {
            child: Some(child),
            dir,
            out,
            err,
        };
        let t0 = Instant::now();
        while !ready.exists() {
            if let Some(st) = p.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("pwru exited before it was ready ({st}):\n{}", p.stderr());
            }
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "pwru not ready after 120 s:\n{}",
                p.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        p
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// What it has written to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// What it has written to its output file so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Sends `sig` and waits for the exit (at most 30 s).
    pub fn stop(self, sig: i32) -> Finished {
        // SAFETY: kill has no memory preconditions; the pid is our own child, not yet reaped.
        unsafe { libc::kill(self.pid() as i32, sig) };
        self.wait()
    }

    /// Waits for pwru to exit by itself (at most 30 s, then kills it and panics).
    pub fn wait(mut self) -> Finished {
        let mut child = self.child.take().unwrap();
        let t0 = Instant::now();
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if t0.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("pwru did not exit within 30 s:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Finished {
            code: status.code(),
            stderr: self.stderr(),
            output: self.output(),
        }
    }

    /// The directory holding its files (for tests that add their own).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Pwru {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The fields of one pwru text line: SKB CPU PROCESS NETNS MARK IFACE PROTO MTU LEN TUPLE FUNC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextLine {
    /// The skb address (`0x…`).
    pub skb: String,
    /// The netns inode.
    pub netns: u32,
    /// The mark, in hex.
    pub mark: String,
    /// `name:ifindex`.
    pub iface: String,
    /// The L3 protocol (`0x0800`).
    pub proto: String,
    /// `saddr:sport->daddr:dport(proto)`.
    pub tuple: String,
    /// The kernel function.
    pub func: String,
}

/// Parses an event line of pwru's text output (with or without the `__sk_buff->cb[]` column after LEN); `None`
/// for headers, stack lines and anything else.
pub fn parse_text(line: &str) -> Option<TextLine> {
    let mut f: Vec<&str> = line.split_whitespace().collect();
    if f.len() == 12 && (f[9].starts_with('[') || f[9] == "-") {
        f.remove(9);
    }
    if f.len() != 11 || !f[0].starts_with("0x") {
        return None;
    }
    Some(TextLine {
        skb: f[0].into(),
        netns: f[3].parse().ok()?,
        mark: f[4].into(),
        iface: f[5].into(),
        proto: f[6].into(),
        tuple: f[9].into(),
        func: f[10].into(),
    })
}
