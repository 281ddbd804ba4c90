//! Host end-to-end for `--output-pcap` and `pwru replay` (issue 13): the real pwru binary, tracepoint backend,
//! ping and UDP between two network namespaces, one datagram dropped by nftables. The pcapng is read by tshark
//! (no warning), by tcpdump and by `pwru filter --read` (the same matches), and replayed into the live run's lines.
//! Run as root: `cargo test -p pwru --test host_pcap -- --include-ignored`.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::mount::Mount;
use testkit::pwru::*;
use testkit::{
    NetnsPair, TempDir, need_tool, output, pwru_bin, serial, tshark, tshark_fields, tshark_frames,
};

/// The pattern ping repeats in its payload after its 16-byte timestamp.
const PATTERN: &str = "70777275";

/// Pings b from a twice (payload: a timestamp, then [`PATTERN`]), and sends one UDP datagram that b's nftables
/// drops (port 7777) and one nobody listens for (port 9).
fn traffic(t: &NetnsPair) {
    t.exec(
        &t.a,
        &format!("ping -c2 -i0.2 -s 48 -p {PATTERN} {}", t.ip_b),
    );
    t.exec(
        &t.a,
        &format!(
            "echo pcap-udp | socat - UDP4-SENDTO:{b}:7777; echo closed | socat - UDP4-SENDTO:{b}:9",
            b = t.ip_b
        ),
    );
}

fn pair(tag: &str, net: u8) -> NetnsPair {
    need_tool("nft");
    need_tool("socat");
    let t = NetnsPair::builder(tag, net).resolve_neighbours().build();
    t.exec(
        &t.b,
        "nft add table inet pwrut && nft add chain inet pwrut in \"{ type filter hook input priority 0; }\" && nft add rule inet pwrut in udp dport 7777 drop",
    );
    t
}

/// pwru with `args` while [`traffic`] runs, stopped with SIGINT; it must exit 0.
fn traced(t: &NetnsPair, args: &[&str]) -> Finished {
    let p = Pwru::start(args);
    traffic(t);
    settle();
    let f = p.stop(SIGINT);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    f
}

fn replay(args: &[&str]) -> (String, String, Option<i32>) {
    let o = Command::new(pwru_bin())
        .arg("replay")
        .args(args)
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        o.status.code(),
    )
}

#[test]
#[ignore = "needs root: runs pwru, netns, tshark, tcpdump (tests/run.sh runs it)"]
fn pcapng_holds_every_event_as_the_kernel_saw_it() {
    let _g = serial();
    let t = pair("pc1", 41);
    let d = TempDir::new("pwru-pcap");
    let file = d.join("trace.pcapng");
    let expr = format!("host {}", t.ip_b);
    let f = traced(
        &t,
        &[
            "--output-json",
            "--output-pcap",
            file.to_str().unwrap(),
            &expr,
        ],
    );
    let evs = f.json();

    let rows = tshark_frames(&file, &["icmp.type", "data.data", "udp.dstport"]);
    assert_eq!(rows.len(), evs.len(), "one packet per event");
    assert!(evs.len() > 10, "{}", f.output);
    let mut requests = 0;
    for (row, ev) in rows.iter().zip(&evs) {
        let func = ev["func"].as_str().unwrap();
        assert!(
            row[2].starts_with(&format!("{func}(")) || row[2].starts_with(&format!("{func} ")),
            "the comment names the function: {row:?} for {ev}"
        );
        assert!(
            row[2].contains(&format!(
                "skb={} netns={}",
                ev["skb"].as_str().unwrap(),
                ev["netns"]
            )),
            "{row:?}"
        );
        if let Some(name) = ev["ifname"].as_str() {
            assert_eq!(row[0], name, "interface name");
        }
        assert_eq!(
            row[1].split(' ').nth(1),
            Some(ev["netns"].to_string().as_str()),
            "{row:?}"
        );
        // ip_b's packets are all short: every byte is there (cap == len), and the length is the skb's.
        assert_eq!(row[3], row[4], "{row:?}");
        if row[5] == "8" {
            requests += 1;
            assert!(
                row[6].ends_with(&PATTERN.repeat(8)),
                "the echo request's payload as sent: {row:?}"
            );
        }
    }
    assert!(requests >= 2, "{rows:?}");
    let drop = rows
        .iter()
        .zip(&evs)
        .find(|(_, e)| e["drop_reason"]["name"] == "NETFILTER_DROP")
        .unwrap_or_else(|| panic!("no NETFILTER_DROP event:\n{}", f.output));
    assert!(drop.0[2].contains("(NETFILTER_DROP)"), "{:?}", drop.0);
    assert_eq!(drop.0[7], "7777");
    let dropped = tshark(&[
        "-r",
        file.to_str().unwrap(),
        "-Y",
        "frame.comment contains \"NETFILTER_DROP\"",
    ]);
    assert!(!dropped.trim().is_empty());

    // The file is also filtered as tcpdump filters it.
    need_tool("tcpdump");
    for expr in [
        "icmp",
        "udp port 7777",
        "icmp[icmptype] == icmp-echoreply",
        "ip dst 10.41.0.2 and not icmp",
        "ether proto 0x0800 and len > 80",
    ] {
        let ours = output(
            pwru_bin().to_str().unwrap(),
            &["filter", "--read", file.to_str().unwrap(), expr],
        );
        assert!(
            ours.status.success(),
            "{}",
            String::from_utf8_lossy(&ours.stderr)
        );
        let td = output("tcpdump", &["-nn", "-r", file.to_str().unwrap(), expr]);
        assert!(
            td.status.success(),
            "{}",
            String::from_utf8_lossy(&td.stderr)
        );
        let ours = String::from_utf8_lossy(&ours.stdout).lines().count();
        let theirs = String::from_utf8_lossy(&td.stdout).lines().count();
        assert_eq!(ours, theirs, "{expr}");
        assert!(
            ours > 0 || expr.contains("len > 80"),
            "{expr} matched nothing"
        );
    }
}

#[test]
#[ignore = "needs root: runs pwru, netns (tests/run.sh runs it)"]
fn replay_prints_the_live_lines() {
    let _g = serial();
    let t = pair("pc2", 42);
    let d = TempDir::new("pwru-replay");
    let pcap = d.join("trace.pcapng");
    // IP only: a neighbour probe (ARP) may come at any time, also before the second tracer is attached.
    let expr = format!("ip host {}", t.ip_b);
    // Two tracers on the same traffic: text (with its pcapng), and JSON lines.
    let text = Pwru::start(&["--output-pcap", pcap.to_str().unwrap(), &expr]);
    let json = Pwru::start(&["--output-json", &expr]);
    traffic(&t);
    settle();
    let (text, json) = (text.stop(SIGINT), json.stop(SIGINT));
    assert_eq!(
        (text.code, json.code),
        (Some(0), Some(0)),
        "{}{}",
        text.stderr,
        json.stderr
    );
    let jfile = d.join("trace.json");
    std::fs::write(&jfile, &json.output).unwrap();

    // The pcapng replays into exactly the live lines, in order.
    let (out, err, code) = replay(&[pcap.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, text.output);
    let n = text.lines().len() - 1;
    assert!(
        err.contains(&format!("{n} events read, {n} selected, {n} printed")),
        "{err}"
    );

    // The JSON lines of the other tracer print the same lines (the tracers' rings may interleave CPUs apart).
    let multiset = |s: &str| {
        let mut m = BTreeMap::new();
        for l in s.lines() {
            *m.entry(l.to_string()).or_insert(0) += 1;
        }
        m
    };
    let (out, err, code) = replay(&[jfile.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(multiset(&out), multiset(&text.output));

    // Filters on saved events select what they would have selected live.
    let live_of = |pred: &dyn Fn(&TextLine) -> bool| -> Vec<String> {
        text.lines()
            .into_iter()
            .filter(|l| parse_text(l).is_some_and(|e| pred(&e)))
            .map(String::from)
            .collect()
    };
    let lines_of = |out: &str| out.lines().skip(1).map(String::from).collect::<Vec<_>>();
    let (out, err, _) = replay(&["--filter-func", "netif_.*", pcap.to_str().unwrap()]);
    assert_eq!(
        lines_of(&out),
        live_of(&|e| e.func.starts_with("netif_")),
        "{err}"
    );
    let (out, err, _) = replay(&[pcap.to_str().unwrap(), "icmp"]);
    assert_eq!(
        lines_of(&out),
        live_of(&|e| e.tuple.ends_with("(icmp)")),
        "{err}"
    );
    let ns = format!("inode:{}", t.inode_b);
    let (out, _, _) = replay(&[
        "--filter-netns",
        &ns,
        "--filter-ifname",
        &t.veth_b,
        jfile.to_str().unwrap(),
    ]);
    let iface_b = format!("{}:{}", t.veth_b, t.ifindex_b);
    let mut want = live_of(&|e| e.netns == t.inode_b && e.iface == iface_b);
    let mut got = lines_of(&out);
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert!(!got.is_empty());
    // JSON lines of the pcapng's events: the same objects the JSON tracer printed, bar the packet bytes.
    let (out, _, _) = replay(&["--output-json", pcap.to_str().unwrap()]);
    assert_eq!(out.lines().count(), n);
    // A pcap filter on JSON lines without bytes matches nothing, and says why.
    let (out, err, code) = replay(&[jfile.to_str().unwrap(), "icmp"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(err.contains("no event carries packet bytes"), "{err}");
}

#[test]
#[ignore = "needs root: runs pwru, netns, tshark (tests/run.sh runs it)"]
fn pcap_on_stdout_pipes_into_tshark() {
    let _g = serial();
    need_tool("bash");
    let t = NetnsPair::builder("pc3", 43).resolve_neighbours().build();
    let d = TempDir::new("pwru-pcap-stdout");
    let (ready, err, out, pid) = (
        d.join("ready"),
        d.join("stderr"),
        d.join("tshark"),
        d.join("pid"),
    );
    // The subshell's stdout is the pipe: pwru writes into it, and says its pid.
    let script = format!(
        "({bin} --backend tracepoint --ready-file {r} --output-pcap - icmp 2>{e} & echo $! > {p}; wait) | tshark -r - -T fields -e icmp.type -e frame.comment > {o} 2>/dev/null",
        bin = pwru_bin().display(),
        r = ready.display(),
        e = err.display(),
        p = pid.display(),
        o = out.display()
    );
    let mut sh = Command::new("bash")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !ready.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "{}",
            std::fs::read_to_string(&err).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    t.exec(&t.a, &format!("ping -c1 {}", t.ip_b));
    settle();
    let pid: i32 = std::fs::read_to_string(&pid)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: kill has no memory preconditions; the pid is pwru's, still running.
    unsafe { libc::kill(pid, libc::SIGINT) };
    assert!(sh.wait().unwrap().success());
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert!(stderr.contains(" events produced, 0 lost"), "{stderr}");
    let rows = std::fs::read_to_string(&out).unwrap();
    assert!(
        rows.lines().any(|l| l.starts_with("8\t")),
        "echo request: {rows}"
    );
    assert!(
        rows.lines().any(|l| l.starts_with("0\t")),
        "echo reply: {rows}"
    );
    assert!(rows.lines().all(|l| l.contains(" skb=0x")), "{rows}");
}

#[test]
#[ignore = "needs root: runs pwru, netns, tshark (tests/run.sh runs it)"]
fn full_disk_stops_with_a_readable_pcapng() {
    let _g = serial();
    let t = NetnsPair::builder("pc4", 44).resolve_neighbours().build();
    let d = TempDir::new("pwru-pcap-disk");
    let mnt = Mount::with_options("tmpfs", "pwru-pcap-full", "size=256k");
    let file = mnt.join("trace.pcapng");
    let ready = d.join("ready");
    let mut child = Command::new(pwru_bin())
        .args([
            "--backend",
            "tracepoint",
            "--output-file",
            "/dev/null",
            "--ready-file",
        ])
        .arg(&ready)
        .arg("--output-pcap")
        .arg(&file)
        .arg(format!("host {}", t.ip_b))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !ready.exists() {
        assert!(t0.elapsed() < Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(50));
    }
    t.exec(
        &t.a,
        &format!("ping -f -c 3000 -q {} >/dev/null || true", t.ip_b),
    );
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "pwru did not stop at the full disk"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "pwru: cannot write to --output-pcap {}: No space left on device",
            file.display()
        )),
        "{err}"
    );
    assert!(err.contains(" events produced, "), "{err}");
    // What was written is whole: tshark reads it without a warning.
    let n = tshark(&[
        "-r",
        file.to_str().unwrap(),
        "-T",
        "fields",
        "-e",
        "frame.number",
    ])
    .lines()
    .count();
    assert!(n > 100, "{n} packets");
}

#[test]
#[ignore = "needs root: runs pwru (tests/run.sh runs it)"]
fn unwritable_pcap_is_refused_before_attaching() {
    let _g = serial();
    let o = output(
        pwru_bin().to_str().unwrap(),
        &[
            "--backend",
            "tracepoint",
            "--output-pcap",
            "/proc/no/such/dir/x.pcapng",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("pwru: cannot create --output-pcap /proc/no/such/dir/x.pcapng: "),
        "{err}"
    );
    assert!(!err.contains("attaching"), "{err}");
}

#[test]
#[ignore = "needs root: runs pwru, netns, tshark (tests/run.sh runs it)"]
fn once_mode_writes_each_packet_once() {
    let _g = serial();
    let t = NetnsPair::builder("pc5", 45).resolve_neighbours().build();
    let d = TempDir::new("pwru-pcap-once");
    let file = d.join("once.pcapng");
    // Namespace a only: the request leaves it, the reply arrives in it.
    let ns = t.path_a();
    let p = Pwru::start(&[
        "--output-pcap",
        file.to_str().unwrap(),
        "--output-pcap-once",
        "--filter-netns",
        &ns,
        "icmp",
    ]);
    t.exec(&t.a, &format!("ping -c2 -i0.2 {}", t.ip_b));
    settle();
    let f = p.stop(SIGINT);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let events = f.lines().len() - 1;
    let types: Vec<String> = tshark(&[
        "-r",
        file.to_str().unwrap(),
        "-T",
        "fields",
        "-e",
        "icmp.type",
    ])
    .lines()
    .map(String::from)
    .collect();
    // Two requests and two replies, each once, however many functions each passed.
    assert_eq!(
        types,
        ["8", "0", "8", "0"],
        "{events} events:\n{}",
        f.output
    );
    assert!(events >= 4 * 3, "{}", f.output);
    // Every event is accounted for: the ones left out count as handled.
    assert!(
        f.stderr.contains(&format!("{events} printed")),
        "{}",
        f.stderr
    );
}

/// Beside the drop views: with `--drops-only` the pcapng holds the dropped packets' paths, exactly the events
/// printed; with `--summary` alone (no event lines) it holds every event; `--summary` cannot share stdout with it.
#[test]
#[ignore = "needs root: runs pwru, netns, tshark (tests/run.sh runs it)"]
fn pcapng_beside_the_drop_views() {
    let _g = serial();
    let t = pair("pc7", 47);
    let d = TempDir::new("pwru-pcap-drops");
    let file = d.join("drops.pcapng");
    let expr = format!("ip host {}", t.ip_b);
    let evs = traced(
        &t,
        &[
            "--drops-only",
            "--output-json",
            "--output-pcap",
            file.to_str().unwrap(),
            &expr,
        ],
    )
    .json();
    let rows = tshark_fields(&file, &["frame.comment"]);
    assert_eq!(rows.len(), evs.len(), "a packet per printed event");
    for (i, (row, ev)) in rows.iter().zip(&evs).enumerate() {
        let func = ev["func"].as_str().unwrap();
        assert!(row[0].starts_with(func), "{row:?} for {ev}");
        // Each packet in the file is on a dropped path: its skb is dropped at this event or a later one.
        assert!(
            evs[i..]
                .iter()
                .any(|e| e["skb"] == ev["skb"] && e["drop_reason"].is_object()),
            "not on a dropped path: {ev}"
        );
    }
    assert!(rows.iter().any(|r| r[0].contains("(NETFILTER_DROP)")));
    assert!(rows.iter().any(|r| r[0].contains("(NO_SOCKET)")));

    let all = d.join("all.pcapng");
    let f = traced(
        &t,
        &["--summary", "--output-pcap", all.to_str().unwrap(), &expr],
    );
    assert!(f.output.contains("NETFILTER_DROP"), "{}", f.output);
    let rows = tshark_fields(&all, &["icmp.type"]);
    assert!(
        rows.iter().filter(|r| r[0] == "8").count() >= 2,
        "every event, the pings too: {rows:?}"
    );
    let printed: usize = f
        .stderr
        .split(" printed")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no printed count: {}", f.stderr));
    assert_eq!(printed, rows.len(), "{}", f.stderr);

    let o = output(
        pwru_bin().to_str().unwrap(),
        &["--summary", "--output-pcap", "-", "icmp"],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--output-file"), "{err}");
}
