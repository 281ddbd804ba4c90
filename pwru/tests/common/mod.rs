//! Shared pieces of the host end-to-end tests: a pair of network namespaces joined by a veth pair, and the real
//! pwru binary started with the tracepoint backend (this host has no kprobes) and stopped with a signal.
//! Everything is removed by Drop guards, also when an assertion fails.
#![allow(dead_code)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// pwru instances see each other's packets and BPF objects: tests of one binary run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "command failed: {cmd}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn need_tool(t: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {t}"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "`{t}` is required by this test and is not installed (apt-get install it)"
    );
}

pub fn need_root() {
    assert_eq!(
        unsafe { libc_geteuid() },
        0,
        "host end-to-end tests must run as root (they load BPF programs)"
    );
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// Two namespaces `a` and `b`, veth `va`(in a, 10.T.0.1/24) <-> `vb`(in b, 10.T.0.2/24).
pub struct Topo {
    pub a: String,
    pub b: String,
    pub va: String,
    pub vb: String,
    pub ip_a: String,
    pub ip_b: String,
    pub inode_a: u32,
    pub inode_b: u32,
    pub ifindex_a: u32,
    pub ifindex_b: u32,
}

impl Topo {
    /// `tag` is 1..=250 and unique per test, so leftovers of one test never collide with another's.
    pub fn new(tag: u8) -> Topo {
        need_root();
        need_tool("ip");
        let a = format!("pwru-t{tag}-a");
        let b = format!("pwru-t{tag}-b");
        let va = format!("pwt{tag}a");
        let vb = format!("pwt{tag}b");
        let _ = Command::new("ip")
            .args(["netns", "del", &a])
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &b])
            .stderr(Stdio::null())
            .status();
        sh(&format!("ip netns add {a} && ip netns add {b}"));
        let mut t = Topo {
            a: a.clone(),
            b: b.clone(),
            va: va.clone(),
            vb: vb.clone(),
            ip_a: format!("10.{tag}.0.1"),
            ip_b: format!("10.{tag}.0.2"),
            inode_a: 0,
            inode_b: 0,
            ifindex_a: 0,
            ifindex_b: 0,
        };
        sh(&format!(
            "ip -n {a} link add {va} type veth peer name {vb} netns {b} && \
             ip -n {a} addr add {ipa}/24 dev {va} && ip -n {b} addr add {ipb}/24 dev {vb} && \
             ip -n {a} link set {va} up && ip -n {b} link set {vb} up && \
             ip -n {a} link set lo up && ip -n {b} link set lo up",
            ipa = t.ip_a,
            ipb = t.ip_b
        ));
        t.inode_a = std::fs::metadata(format!("/run/netns/{a}")).unwrap().ino() as u32;
        t.inode_b = std::fs::metadata(format!("/run/netns/{b}")).unwrap().ino() as u32;
        t.ifindex_a = ifindex(&a, &va);
        t.ifindex_b = ifindex(&b, &vb);
        // Resolve neighbours up front so the traced packets are exactly the ones the test sends.
        sh(&format!(
            "ip netns exec {a} ping -c1 -W2 {} >/dev/null",
            t.ip_b
        ));
        t
    }

    pub fn path_a(&self) -> String {
        format!("/run/netns/{}", self.a)
    }
    pub fn path_b(&self) -> String {
        format!("/run/netns/{}", self.b)
    }

    /// Runs `cmd` inside namespace `ns`.
    pub fn exec(&self, ns: &str, cmd: &str) -> String {
        sh(&format!("ip netns exec {ns} sh -c '{cmd}'"))
    }
}

fn ifindex(ns: &str, dev: &str) -> u32 {
    sh(&format!(
        "ip netns exec {ns} cat /sys/class/net/{dev}/ifindex"
    ))
    .trim()
    .parse()
    .unwrap()
}

impl Drop for Topo {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.a]).status();
        let _ = Command::new("ip").args(["netns", "del", &self.b]).status();
    }
}

/// A running pwru with its output in a private directory.
pub struct Pwru {
    pub child: Option<Child>,
    pub dir: PathBuf,
    pub out: PathBuf,
    pub err: PathBuf,
}

pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Contents of --output-file.
    pub output: String,
}

impl Finished {
    pub fn lines(&self) -> Vec<&str> {
        self.output.lines().collect()
    }
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.output
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
    /// `N events produced, M lost` from stderr.
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

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_pwru")
}

impl Pwru {
    /// Starts `pwru --backend tracepoint --ready-file … --output-file … <args>` and waits until it is attached.
    pub fn start(args: &[&str]) -> Pwru {
        need_root();
        let dir = std::env::temp_dir().join(format!(
            "pwru-e2e-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos() ^ rand_u64()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ready = dir.join("ready");
        let out = dir.join("out");
        let err = dir.join("stderr");
        let mut cmd = Command::new(bin());
        cmd.arg("--backend")
            .arg("tracepoint")
            .arg("--ready-file")
            .arg(&ready)
            .arg("--output-file")
            .arg(&out);
        cmd.args(args);
        cmd.stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap());
        let child = cmd.spawn().expect("start pwru");
        let mut p = Pwru {
            child: Some(child),
            dir,
            out,
            err,
        };
        let t0 = Instant::now();
        while !ready.exists() {
            if let Some(st) = p.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "pwru exited before it was ready ({st}):\n{}",
                    std::fs::read_to_string(&p.err).unwrap()
                );
            }
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "pwru not ready after 120 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        p
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends `sig` and waits for the exit (at most 30 s).
    pub fn stop(self, sig: i32) -> Finished {
        let pid = self.pid() as i32;
        unsafe { libc_kill(pid, sig) };
        self.wait()
    }

    /// Waits for pwru to exit by itself (at most 30 s).
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
                panic!(
                    "pwru did not exit within 30 s:\n{}",
                    std::fs::read_to_string(&self.err).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Finished {
            code: status.code(),
            stdout: String::new(),
            stderr: std::fs::read_to_string(&self.err).unwrap_or_default(),
            output: std::fs::read_to_string(&self.out).unwrap_or_default(),
        }
    }
}

fn rand_u64() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

pub const SIGINT: i32 = 2;
pub const SIGTERM: i32 = 15;

impl Drop for Pwru {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits long enough for the events of traffic just sent to be printed.
pub fn settle() {
    std::thread::sleep(Duration::from_millis(700));
}

/// The fields of one pwru text line: SKB CPU PROCESS NETNS MARK IFACE PROTO MTU LEN TUPLE FUNC.
#[derive(Debug)]
pub struct TextLine {
    pub skb: String,
    pub netns: u32,
    pub mark: String,
    pub iface: String,
    pub proto: String,
    pub tuple: String,
    pub func: String,
}

pub fn parse_text(line: &str) -> Option<TextLine> {
    let f: Vec<&str> = line.split_whitespace().collect();
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

pub fn path_exists(p: &Path) -> bool {
    p.exists()
}
