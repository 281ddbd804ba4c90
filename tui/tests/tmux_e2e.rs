//! End-to-end: `pwru --tui` on the host, driven through tmux (`send-keys`, `capture-pane`), with the tracepoint
//! backend and real traffic through a veth pair between two network namespaces. Needs root, tmux, iproute2, ping, bpftool and the
//! pwru binary (testkit's `pwru_bin()`). Fails (never skips) when any is missing.
//!
//! Run: `sudo cargo test -p tui --test tmux_e2e -- --include-ignored`

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::bpf::{held_by, loaded_ids};
use testkit::{NetnsPair, TempDir, cargo_build, need_root, need_tool, output, pwru_bin, run};

fn require_tools() {
    need_root("BPF, netns");
    for t in ["tmux", "ip", "ping", "bash", "bpftool"] {
        need_tool(t);
    }
}

/// Removes the netns pair, tmux session and scratch dir even when the test fails.
struct Env {
    /// pwru traces namespace `b`; the traffic comes from `a`.
    pair: NetnsPair,
    session: String,
    dir: TempDir,
    /// The first three octets of both addresses.
    net: String,
}

impl Env {
    /// `tag` (0-9) keeps the names of tests running at the same time apart.
    fn new(tag: u8) -> Self {
        let pair = NetnsPair::new(&format!("tui{tag}"), 231 + tag);
        Env {
            net: format!("10.{}.0", 231 + tag),
            session: format!("tuie2e{}{tag}", std::process::id()),
            dir: TempDir::new("tui-e2e"),
            pair,
        }
    }

    /// Starts `pwru --tui` tracing namespace `b` in a detached tmux session of `width` x `height`, waits until it
    /// has attached, and returns its pid. The wrapper records pwru's exit code and the tty modes after it, then
    /// keeps the pane for inspection.
    fn start_pwru(&self, bin: &std::path::Path, width: u16, height: u16) -> u32 {
        self.start_pwru_with(bin, width, height, "")
    }

    /// [`Env::start_pwru`] with more flags (`extra`, words for the shell).
    fn start_pwru_with(&self, bin: &std::path::Path, width: u16, height: u16, extra: &str) -> u32 {
        let d = self.dir.path().display();
        let script = format!(
            "cd {d} && {bin} --backend tracepoint --tui --ready-file {d}/ready --filter-netns {ns} {extra} 2>{d}/stderr; \
             echo $? > {d}/exit.tmp; stty -a > {d}/stty; mv {d}/exit.tmp {d}/exit; sleep 60",
            bin = bin.display(),
            ns = self.pair.path_b()
        );
        tmux_session(&self.session, &script, width, height);
        self.wait_file("ready", 90);
        let sh_pid: u32 = run(
            "tmux",
            &["display-message", "-p", "-t", &self.session, "#{pane_pid}"],
        )
        .trim()
        .parse()
        .unwrap();
        child_pid(sh_pid, "pwru")
    }

    fn capture(&self) -> String {
        String::from_utf8_lossy(
            &output("tmux", &["capture-pane", "-p", "-t", &self.session]).stdout,
        )
        .into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut a = vec!["send-keys", "-t", &self.session];
        a.extend_from_slice(keys);
        run("tmux", &a);
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
        let _ = output("tmux", &["kill-session", "-t", &self.session]);
    }
}

fn tmux_session(session: &str, script: &str, width: u16, height: u16) {
    let (w, h) = (width.to_string(), height.to_string());
    run(
        "tmux",
        &[
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            &w,
            "-y",
            &h,
            "sh",
            "-c",
            script,
        ],
    );
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
    let out = run("ps", &["-o", "pid=,comm=", "--ppid", &parent.to_string()]);
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
#[ignore = "needs root: runs pwru --tui in tmux, netns (tests/run.sh runs it)"]
fn tui_shows_ping_drop_path_writes_file_and_cleans_up() {
    require_tools();
    let bin = pwru_bin();
    let env = Env::new(0);
    let pins_before = bpffs_entries();
    let net = env.net.clone();
    let pwru_pid = env.start_pwru(&bin, 200, 50);

    // Real traffic from namespace a: one ping, one UDP datagram to a closed port in the traced namespace b.
    let (pair, b) = (&env.pair, &env.pair.ip_b);
    pair.exec(&pair.a, &format!("ping -c1 -W2 {b}"));
    pair.exec(
        &pair.a,
        &format!("bash -c 'echo hello > /dev/udp/{b}/9999'"),
    );

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
    let held = held_by(pwru_pid);
    let (progs, maps, links) = (held.progs, held.maps, held.links);
    assert!(
        !progs.is_empty() && !maps.is_empty(),
        "pwru {pwru_pid} holds programs and maps: {progs:?} {maps:?}"
    );
    // The check below would pass vacuously if bpftool listed nothing: it must list what pwru holds now.
    assert!(
        progs.iter().all(|i| loaded_ids("prog").contains(i)),
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
    let (now_p, now_m, now_l) = (loaded_ids("prog"), loaded_ids("map"), loaded_ids("link"));
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
#[ignore = "needs root: runs pwru --tui in tmux, netns (tests/run.sh runs it)"]
fn tui_panic_restores_the_terminal() {
    require_tools();
    let demo = cargo_build(&["-p", "tui", "--example", "demo"]);
    let dir = TempDir::new("tui-panic");
    let session = format!("tuipanic{}", std::process::id());
    struct Kill(String);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = output("tmux", &["kill-session", "-t", &self.0]);
        }
    }
    let _k = Kill(session.clone());
    let d = dir.path().display();
    let script = format!(
        "RUST_BACKTRACE=0 {} --panic-after-ms 1500; stty -a > {d}/stty.tmp; mv {d}/stty.tmp {d}/stty; sleep 60",
        demo.display()
    );
    tmux_session(&session, &script, 150, 40);
    let start = Instant::now();
    let mut saw_tui = false;
    while !dir.join("stty").exists() {
        let s = String::from_utf8_lossy(
            &output("tmux", &["capture-pane", "-p", "-t", &session]).stdout,
        )
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
        String::from_utf8_lossy(&output("tmux", &["capture-pane", "-p", "-t", &session]).stdout)
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
#[ignore = "needs root: runs pwru --tui in tmux, netns (tests/run.sh runs it)"]
fn tui_sigterm_detaches_and_restores_the_terminal() {
    require_tools();
    let bin = pwru_bin();
    let env = Env::new(1);
    let pwru_pid = env.start_pwru(&bin, 160, 40);
    env.wait_screen("the TUI", |s| {
        s.contains("┌ Packets") && s.contains("tracepoint")
    });
    let progs = held_by(pwru_pid).progs;
    assert!(!progs.is_empty(), "pwru holds programs while tracing");
    run("kill", &["-TERM", &pwru_pid.to_string()]);
    let code = env.wait_file("exit", 30);
    assert_eq!(code.trim(), "0", "exit code; stderr:\n{}", env.stderr());
    let now = loaded_ids("prog");
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

/// `pwru replay --tui` of a trace saved by a real run (pcapng and JSON lines): the saved packets show, with their
/// drop, the status line says it is a replay, and `q` ends it with the replay's summary.
#[test]
#[ignore = "needs root: runs pwru in tmux, netns (tests/run.sh runs it)"]
fn tui_replays_a_saved_trace() {
    require_tools();
    let bin = pwru_bin();
    let env = Env::new(2);
    let (pair, b, net) = (&env.pair, &env.pair.ip_b, &env.net);
    let pcap = env.dir.join("trace.pcapng");
    let netns = pair.path_b();
    let live = testkit::pwru::Pwru::start_bin(
        &bin,
        &[
            "--output-json",
            "--output-pcap",
            pcap.to_str().unwrap(),
            "--filter-netns",
            &netns,
        ],
    );
    pair.exec(&pair.a, &format!("ping -c1 -W2 {b}"));
    pair.exec(
        &pair.a,
        &format!("bash -c 'echo hello > /dev/udp/{b}/9999'"),
    );
    testkit::pwru::settle();
    let live = live.stop(testkit::pwru::SIGINT);
    assert_eq!(live.code, Some(0), "{}", live.stderr);
    let json = env.dir.join("trace.json");
    std::fs::write(&json, &live.output).unwrap();
    let n = live.output.lines().count();

    let req = format!("{net}.1->{net}.2 icmp");
    let rep = format!("{net}.2->{net}.1 icmp");
    let udp_row = format!("{net}.1:");
    for (i, file) in [pcap, json].iter().enumerate() {
        let d = env.dir.path().display();
        let _ = std::fs::remove_file(env.dir.join("exit"));
        let script = format!(
            "cd {d} && {bin} replay --tui {f} 2>{d}/stderr; echo $? > {d}/exit.tmp; mv {d}/exit.tmp {d}/exit; sleep 60",
            bin = bin.display(),
            f = file.display()
        );
        let session = format!("{}r{i}", env.session);
        tmux_session(&session, &script, 200, 50);
        let capture = || {
            String::from_utf8_lossy(&output("tmux", &["capture-pane", "-p", "-t", &session]).stdout)
                .into_owned()
        };
        let t0 = Instant::now();
        let screen = loop {
            let s = capture();
            if s.contains(&req)
                && s.contains(&rep)
                && s.lines()
                    .any(|l| l.contains(&udp_row) && l.contains("DROPPED NO_SOCKET"))
            {
                break s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "{}: the saved packets do not show:\n{s}\n{}",
                file.display(),
                env.stderr()
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        assert!(
            screen.contains(&format!("replay {}", file.display())) && !screen.contains(" attached"),
            "the status line names the replay:\n{screen}"
        );
        assert!(screen.contains("the event source stopped"), "{screen}");
        run("tmux", &["send-keys", "-t", &session, "q"]);
        let code = env.wait_file("exit", 30);
        let _ = output("tmux", &["kill-session", "-t", &session]);
        assert_eq!(code.trim(), "0", "{}", env.stderr());
        assert!(
            env.stderr()
                .contains(&format!("{n} events read, {n} selected")),
            "{}",
            env.stderr()
        );
    }
}

#[test]
#[ignore = "needs root: runs pwru --tui in tmux, netns (tests/run.sh runs it)"]
fn tui_drops_only_shows_only_the_dropped_packets_then_the_summary() {
    require_tools();
    need_tool("socat");
    let bin = pwru_bin();
    let env = Env::new(2);
    env.start_pwru_with(&bin, 200, 50, "--drops-only --summary");
    let (p, net) = (&env.pair, &env.net);
    p.exec(&p.a, &format!("ping -c2 -i0.2 {}", p.ip_b));
    for _ in 0..2 {
        p.exec(
            &p.a,
            &format!("echo x | socat -u - UDP:{}:9,sourceport=4409", p.ip_b),
        );
    }
    let screen = env.wait_screen("the two dropped datagrams", |s| {
        s.matches("DROPPED NO_SOCKET").count() >= 2
    });
    assert!(screen.contains("drops only, evicted 0"), "{screen}");
    assert!(
        !screen.contains(&format!("{net}.1:0->{net}.2:0(icmp)")),
        "a passing ping is shown:\n{screen}"
    );
    env.keys(&["q"]);
    let code = env.wait_file("exit", 30);
    assert_eq!(code.trim(), "0", "stderr:\n{}", env.stderr());
    // After the TUI left the screen, the summary is printed on the terminal.
    let after = env.wait_screen("the summary", |s| s.contains("pwru summary after"));
    assert!(
        after.contains(&format!("2  {net}.1:4409->{net}.2:9(udp)")),
        "{after}"
    );
    assert!(env.stderr().contains("(2 drop paths)"), "{}", env.stderr());
}
