//! End-to-end: `pwru --tui` on the host, driven through tmux (`send-keys`, `capture-pane`), with the tracepoint
//! backend and real traffic through a veth pair into a netns. Needs root, tmux, iproute2, ping, bpftool and the
//! pwru binary (`PWRU_BIN`, else built with `cargo build -p pwru`). Fails (never skips) when any is missing.
//!
//! Run: `cargo test -p tui --test tmux_e2e -- --test-threads=1`

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn run(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"))
}

fn ok(cmd: &str, args: &[&str]) -> String {
    let o = run(cmd, args);
    assert!(
        o.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn require_tools() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "the TUI end-to-end test needs root (BPF, netns)"
    );
    for t in ["tmux", "ip", "ping", "bpftool"] {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .stdout(Stdio::null())
                .status()
                .unwrap()
                .success(),
            "{t} is not installed (apt-get install -y tmux iproute2 iputils-ping bpftool)"
        );
    }
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The pwru binary: `PWRU_BIN`, or a debug build in this test's target dir.
fn pwru_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PWRU_BIN") {
        return PathBuf::from(p);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = Command::new(&cargo)
        .args(["build", "-q", "-p", "pwru"])
        .current_dir(workspace())
        .status()
        .unwrap();
    assert!(st.success(), "cargo build -p pwru failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let bin = target.join("debug/pwru");
    assert!(bin.exists(), "{} not found after the build", bin.display());
    bin
}

/// Removes the netns, veth, tmux session and scratch dir even when the test fails.
struct Env {
    ns: String,
    veth: String,
    session: String,
    dir: PathBuf,
    net: String,
}

impl Env {
    /// `tag` (0-9) keeps the names of tests running at the same time apart.
    fn new(tag: u32) -> Self {
        let id = format!("{}{tag}", std::process::id());
        let pid = std::process::id();
        let e = Env {
            ns: format!("tuie2e{id}"),
            veth: format!("tuiv{id}"),
            session: format!("tuie2e{id}"),
            dir: std::env::temp_dir().join(format!("tui-e2e-{id}")),
            net: format!("10.{}.{}", 231 + tag, pid % 250 + 1),
        };
        let _ = std::fs::remove_dir_all(&e.dir);
        std::fs::create_dir_all(&e.dir).unwrap();
        let peer = format!("tuip{id}");
        ok("ip", &["netns", "add", &e.ns]);
        ok(
            "ip",
            &[
                "link", "add", &e.veth, "type", "veth", "peer", "name", &peer,
            ],
        );
        ok("ip", &["link", "set", &peer, "netns", &e.ns]);
        ok(
            "ip",
            &["addr", "add", &format!("{}.1/24", e.net), "dev", &e.veth],
        );
        ok("ip", &["link", "set", &e.veth, "up"]);
        ok(
            "ip",
            &[
                "-n",
                &e.ns,
                "addr",
                "add",
                &format!("{}.2/24", e.net),
                "dev",
                &peer,
            ],
        );
        ok("ip", &["-n", &e.ns, "link", "set", &peer, "up"]);
        ok("ip", &["-n", &e.ns, "link", "set", "lo", "up"]);
        e
    }

    fn capture(&self) -> String {
        String::from_utf8_lossy(&run("tmux", &["capture-pane", "-p", "-t", &self.session]).stdout)
            .into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut a = vec!["send-keys", "-t", &self.session];
        a.extend_from_slice(keys);
        ok("tmux", &a);
    }

    /// Polls the screen until `pred` holds; fails with the last screen and pwru's stderr.
    fn wait_screen(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.capture();
            if pred(&s) {
                return s;
            }
            if start.elapsed() > Duration::from_secs(20) {
                panic!(
                    "timed out waiting for {what}; screen:\n{s}\nstderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn wait_file(&self, name: &str, secs: u64) -> String {
        let p = self.dir.join(name);
        let start = Instant::now();
        while !p.exists() {
            if self.dir.join("exit").exists() && name != "exit" {
                panic!("pwru exited early; stderr:\n{}", self.stderr());
            }
            assert!(
                start.elapsed() < Duration::from_secs(secs),
                "timed out waiting for {}; stderr:\n{}",
                p.display(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(100));
        std::fs::read_to_string(p).unwrap()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = run("tmux", &["kill-session", "-t", &self.session]);
        let _ = run("ip", &["link", "del", &self.veth]);
        let _ = run("ip", &["netns", "del", &self.ns]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// ids of the BPF objects (`prog_id`, `map_id`, `link_id`) `pid` holds file descriptors to, from /proc fdinfo.
fn bpf_ids_of(key: &str, pid: u32) -> Vec<u64> {
    let mut ids = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fdinfo"))
        .unwrap()
        .filter_map(|e| e.ok())
    {
        let info = std::fs::read_to_string(e.path()).unwrap_or_default();
        for l in info.lines() {
            if let Some(v) = l.strip_prefix(key).and_then(|r| r.strip_prefix(':'))
                && let Ok(id) = v.trim().parse()
                && !ids.contains(&id)
            {
                ids.push(id);
            }
        }
    }
    ids
}

fn bpf_ids(kind: &str) -> Vec<u64> {
    let out = ok("bpftool", &["-j", kind, "show"]);
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or(serde_json::Value::Array(vec![]));
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["id"].as_u64())
        .collect()
}

/// Top-level entries of the host's bpffs (pwru pins nothing; a pin left behind would show here).
fn bpffs_entries() -> Vec<String> {
    std::fs::read_dir("/sys/fs/bpf")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn child_pid(parent: u32, name: &str) -> u32 {
    let out = ok("ps", &["-o", "pid=,comm=", "--ppid", &parent.to_string()]);
    out.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.parse().ok()?, it.next()?.to_string()))
        })
        .find(|(_, c): &(u32, String)| c == name)
        .map(|(p, _)| p)
        .unwrap_or_else(|| panic!("no {name} child of {parent}: {out}"))
}

#[test]
fn tui_shows_ping_drop_path_writes_file_and_cleans_up() {
    require_tools();
    let bin = pwru_bin();
    let env = Env::new(0);
    let pins_before = bpffs_entries();
    let net = env.net.clone();
    let d = env.dir.display().to_string();
    // The wrapper records pwru's exit code and the tty modes after it, then keeps the pane for inspection.
    let script = format!(
        "cd {d} && {bin} --backend tracepoint --tui --ready-file {d}/ready --filter-netns /var/run/netns/{ns} 2>{d}/stderr; \
         echo $? > {d}/exit.tmp; stty -a > {d}/stty; mv {d}/exit.tmp {d}/exit; sleep 60",
        bin = bin.display(),
        ns = env.ns
    );
    ok(
        "tmux",
        &[
            "new-session",
            "-d",
            "-s",
            &env.session,
            "-x",
            "200",
            "-y",
            "50",
            "sh",
            "-c",
            &script,
        ],
    );
    env.wait_file("ready", 90);
    let sh_pid: u32 = ok(
        "tmux",
        &["display-message", "-p", "-t", &env.session, "#{pane_pid}"],
    )
    .trim()
    .parse()
    .unwrap();
    let pwru_pid = child_pid(sh_pid, "pwru");

    // Real traffic: one ping, one UDP datagram to a closed port in the netns.
    let p = run("ping", &["-c1", "-W2", &format!("{net}.2")]);
    assert!(
        p.status.success(),
        "ping failed: {}",
        String::from_utf8_lossy(&p.stdout)
    );
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    sock.send_to(b"hello", format!("{net}.2:9999")).unwrap();

    let req = format!("{net}.1->{net}.2 icmp");
    let rep = format!("{net}.2->{net}.1 icmp");
    let udp_row = format!("{net}.1:");
    let screen = env.wait_screen("ping rows and the UDP drop", |s| {
        s.contains(&req)
            && s.contains(&rep)
            && s.lines()
                .any(|l| l.contains(&udp_row) && l.contains("DROPPED NO_SOCKET"))
    });
    assert!(
        screen.contains("tracepoint"),
        "status line shows the backend:\n{screen}"
    );
    assert!(
        screen.contains("lost 0"),
        "status line shows lost events:\n{screen}"
    );

    // Narrow the list with the display filter, then select the echo request's row and open its path.
    env.keys(&["/"]);
    env.keys(&["-l", "icmp"]);
    env.keys(&["Enter"]);
    let screen = env.wait_screen("the filtered list", |s| {
        s.contains("filter: icmp") && s.contains(&req)
    });
    let rows: Vec<&str> = screen
        .lines()
        .skip(2)
        .take_while(|l| !l.starts_with('└'))
        .collect();
    let idx = rows.iter().position(|l| l.contains(&req)).unwrap();
    env.keys(&["g"]);
    for _ in 0..idx {
        env.keys(&["j"]);
    }
    env.keys(&["Enter"]);
    let screen = env.wait_screen("the request's path with netif_receive_skb", |s| {
        s.contains("Path of skb")
            && s.contains(&req)
            && s.lines()
                .any(|l| l.contains("│") && l.contains("netif_receive_skb"))
    });
    let path_title = screen.lines().find(|l| l.contains("Path of skb")).unwrap();
    assert!(
        path_title.contains(&req),
        "the path is the request's: {path_title}"
    );

    // w: write the selected packet as pwru text lines.
    env.keys(&["w"]);
    let screen = env.wait_screen("the write message", |s| {
        s.contains("wrote ") && s.contains(" lines to ")
    });
    let msg = screen.lines().find(|l| l.contains("wrote ")).unwrap();
    let file = msg.split(" lines to ").nth(1).unwrap().trim();
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
    check_text_format(&text, &net);

    // q: quit; everything pwru held must be gone and the terminal restored.
    let progs = bpf_ids_of("prog_id", pwru_pid);
    let maps = bpf_ids_of("map_id", pwru_pid);
    let links = bpf_ids_of("link_id", pwru_pid);
    assert!(
        !progs.is_empty() && !maps.is_empty(),
        "pwru {pwru_pid} holds programs and maps: {progs:?} {maps:?}"
    );
    // The check below would pass vacuously if bpftool listed nothing: it must list what pwru holds now.
    assert!(
        progs.iter().all(|i| bpf_ids("prog").contains(i)),
        "bpftool lists pwru's programs"
    );
    env.keys(&["q"]);
    let code = env.wait_file("exit", 30);
    assert_eq!(
        code.trim(),
        "0",
        "pwru exit code; stderr:\n{}",
        env.stderr()
    );
    let (now_p, now_m, now_l) = (bpf_ids("prog"), bpf_ids("map"), bpf_ids("link"));
    assert!(
        progs.iter().all(|i| !now_p.contains(i)),
        "programs left behind: {progs:?} in {now_p:?}"
    );
    assert!(
        maps.iter().all(|i| !now_m.contains(i)),
        "maps left behind: {maps:?} in {now_m:?}"
    );
    assert!(
        links.iter().all(|i| !now_l.contains(i)),
        "links left behind: {links:?} in {now_l:?}"
    );
    let pins_after = bpffs_entries();
    assert!(
        pins_after.iter().all(|p| pins_before.contains(p)),
        "new pins: {pins_after:?} vs {pins_before:?}"
    );
    let stty = std::fs::read_to_string(env.dir.join("stty")).unwrap();
    assert!(
        stty.contains(" icanon") && stty.contains(" echo "),
        "terminal left in raw mode:\n{stty}"
    );
    assert!(
        env.stderr().contains("events produced"),
        "pwru's summary after the TUI:\n{}",
        env.stderr()
    );
}

/// The written file has exactly the text output's layout: the formatter's header, then event lines whose columns
/// parse as SKB CPU PROCESS NETNS MARK IFACE PROTO MTU LEN TUPLE FUNC.
fn check_text_format(text: &str, net: &str) {
    let mut lines = text.lines();
    let header = event::TextFormatter::new(event::OutputOptions {
        stack: true,
        ..Default::default()
    })
    .header();
    assert_eq!(lines.next(), Some(header.as_str()), "header");
    let re = regex::Regex::new(
        r"^0x[0-9a-f]+ +\d+ +\S+ +\d+ +[0-9a-f]+ +\S+ +0x[0-9a-f]{4} +\d+ +\d+ +(\S+) +(\S+)$",
    )
    .unwrap();
    let want_tuple = format!("{net}.1:0->{net}.2:0(icmp)");
    let mut funcs = Vec::new();
    for l in lines.filter(|l| !l.starts_with("    ")) {
        let c = re
            .captures(l)
            .unwrap_or_else(|| panic!("not a pwru text line: {l:?}\nfile:\n{text}"));
        assert_eq!(&c[1], want_tuple, "{l}");
        funcs.push(c[2].to_string());
    }
    assert!(
        funcs.iter().any(|f| f == "netif_receive_skb"),
        "written path has netif_receive_skb: {funcs:?}"
    );
}

#[test]
fn tui_without_a_terminal_fails_with_one_line() {
    let bin = pwru_bin();
    let o = Command::new(&bin)
        .args(["--tui", "--backend", "tracepoint"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err:?}");
    assert!(err.contains("terminal"), "{err}");
    assert!(
        o.stdout.is_empty(),
        "nothing on stdout: {:?}",
        String::from_utf8_lossy(&o.stdout)
    );
}

/// A panic inside the UI loop (the demo example's `--panic-after-ms`) leaves a usable terminal: cooked mode,
/// the alternate screen left, the panic message readable.
#[test]
fn tui_panic_restores_the_terminal() {
    require_tools();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = Command::new(&cargo)
        .args(["build", "-q", "-p", "tui", "--example", "demo"])
        .current_dir(workspace())
        .status()
        .unwrap();
    assert!(st.success(), "cargo build --example demo failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let demo = target.join("debug/examples/demo");
    let id = std::process::id();
    let dir = std::env::temp_dir().join(format!("tui-panic-{id}"));
    std::fs::create_dir_all(&dir).unwrap();
    let session = format!("tuipanic{id}");
    struct Kill(String, PathBuf);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = run("tmux", &["kill-session", "-t", &self.0]);
            let _ = std::fs::remove_dir_all(&self.1);
        }
    }
    let _k = Kill(session.clone(), dir.clone());
    let d = dir.display();
    let script = format!(
        "RUST_BACKTRACE=0 {} --panic-after-ms 1500; stty -a > {d}/stty.tmp; mv {d}/stty.tmp {d}/stty; sleep 60",
        demo.display()
    );
    ok(
        "tmux",
        &[
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            "150",
            "-y",
            "40",
            "sh",
            "-c",
            &script,
        ],
    );
    let start = Instant::now();
    let mut saw_tui = false;
    while !dir.join("stty").exists() {
        let s =
            String::from_utf8_lossy(&run("tmux", &["capture-pane", "-p", "-t", &session]).stdout)
                .into_owned();
        saw_tui |= s.contains("┌ Packets");
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the demo did not end; screen:\n{s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(saw_tui, "the TUI was on screen before the panic");
    let stty = std::fs::read_to_string(dir.join("stty")).unwrap();
    assert!(
        stty.contains(" icanon") && stty.contains(" echo "),
        "terminal left in raw mode:\n{stty}"
    );
    let screen =
        String::from_utf8_lossy(&run("tmux", &["capture-pane", "-p", "-t", &session]).stdout)
            .into_owned();
    assert!(
        screen.contains("panic inside the UI loop"),
        "panic message visible:\n{screen}"
    );
    assert!(
        !screen.contains("┌ Packets"),
        "the alternate screen was left:\n{screen}"
    );
}

/// SIGTERM while the TUI is up: pwru detaches, restores the terminal, prints its summary and exits 0.
#[test]
fn tui_sigterm_detaches_and_restores_the_terminal() {
    require_tools();
    let bin = pwru_bin();
    let env = Env::new(1);
    let d = env.dir.display().to_string();
    let script = format!(
        "cd {d} && {bin} --backend tracepoint --tui --ready-file {d}/ready --filter-netns /var/run/netns/{ns} \
         2>{d}/stderr; echo $? > {d}/exit.tmp; stty -a > {d}/stty; mv {d}/exit.tmp {d}/exit; sleep 60",
        bin = bin.display(),
        ns = env.ns
    );
    ok(
        "tmux",
        &[
            "new-session",
            "-d",
            "-s",
            &env.session,
            "-x",
            "160",
            "-y",
            "40",
            "sh",
            "-c",
            &script,
        ],
    );
    env.wait_file("ready", 90);
    env.wait_screen("the TUI", |s| {
        s.contains("┌ Packets") && s.contains("tracepoint")
    });
    let sh_pid: u32 = ok(
        "tmux",
        &["display-message", "-p", "-t", &env.session, "#{pane_pid}"],
    )
    .trim()
    .parse()
    .unwrap();
    let pwru_pid = child_pid(sh_pid, "pwru");
    let progs = bpf_ids_of("prog_id", pwru_pid);
    assert!(!progs.is_empty(), "pwru holds programs while tracing");
    ok("kill", &["-TERM", &pwru_pid.to_string()]);
    let code = env.wait_file("exit", 30);
    assert_eq!(code.trim(), "0", "exit code; stderr:\n{}", env.stderr());
    let now = bpf_ids("prog");
    assert!(
        progs.iter().all(|i| !now.contains(i)),
        "programs left behind: {progs:?}"
    );
    let stty = std::fs::read_to_string(env.dir.join("stty")).unwrap();
    assert!(
        stty.contains(" icanon") && stty.contains(" echo "),
        "terminal left in raw mode:\n{stty}"
    );
    let screen = env.capture();
    assert!(
        !screen.contains("┌ Packets"),
        "the alternate screen was left:\n{screen}"
    );
    assert!(
        env.stderr().contains("events produced"),
        "summary:\n{}",
        env.stderr()
    );
}
