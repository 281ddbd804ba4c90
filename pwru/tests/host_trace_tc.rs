//! `--filter-trace-tc` on the host, whose kernel refuses fentry programs on BPF programs (EPERM, also as root):
//! one line says so and the rest of the trace runs as without the flag. A tc program of ours drops UDP to port
//! 7001 on the veth; its drop still shows as the kernel's (`kfree_skb(TC_INGRESS)`), the program keeps running and
//! pwru leaves nothing of its own behind. Tracing the programs themselves is tested in the VMs (tests/vm, scen-tc).

use testkit::pwru::*;
use testkit::{Mount, NetnsPair, need_tool, serial, sh, workspace_root};

#[test]
#[ignore = "needs root: runs pwru, netns, tc (tests/run.sh runs it)"]
fn refused_fentry_is_one_line_and_the_trace_goes_on() {
    let _g = serial();
    need_tool("bpftool");
    need_tool("tc");
    let t = NetnsPair::builder("ttc", 23).resolve_neighbours().build();
    let fs = Mount::new("bpf", "pwru-tc");
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "x86"
    };
    let obj = workspace_root().join(format!("testkit/bpf/obj/progs-{arch}.o"));
    let pins = fs.join("progs");
    sh(&format!(
        "bpftool prog loadall {} {} && ip netns exec {b} tc qdisc add dev {vb} clsact && \
         ip netns exec {b} tc filter add dev {vb} ingress bpf da pinned {}/pwru_test_drop_udp_ingress",
        obj.display(),
        pins.display(),
        pins.display(),
        b = t.b,
        vb = t.veth_b
    ));
    let p = Pwru::start(&["--filter-trace-tc", "--filter-trace-xdp", "udp"]);
    t.exec(
        &t.a,
        &format!(
            "bash -c 'echo x > /dev/udp/{}/7001; echo y > /dev/udp/{}/7009'",
            t.ip_b, t.ip_b
        ),
    );
    settle();
    let held = held_programs(p.pid());
    assert!(!held.is_empty(), "pwru holds its programs while it runs");
    let f = p.stop(SIGINT);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let refusal: Vec<&str> = f
        .stderr
        .lines()
        .filter(|l| l.contains("--filter-trace-tc"))
        .collect();
    assert_eq!(
        refusal,
        [
            "pwru: --filter-trace-tc/--filter-trace-xdp: this kernel does not let BPF programs be traced (loading an fentry program on a BPF program: permission denied, as root); tracing kernel functions only"
        ],
        "{}",
        f.stderr
    );
    let evs: Vec<TextLine> = f.lines().iter().filter_map(|l| parse_text(l)).collect();
    let dropped = format!("{}:", t.ip_b);
    let drop_line = evs.iter().find(|e| {
        e.tuple.contains(&format!("->{dropped}7001(udp)")) && e.func.starts_with("kfree_skb(")
    });
    assert!(
        drop_line.is_some_and(|e| e.func == "kfree_skb(TC_INGRESS)"),
        "the tc drop, as the kernel reports it:\n{}",
        f.lines().join("\n")
    );
    assert!(
        evs.iter()
            .any(|e| e.tuple.contains("7009(udp)") && e.netns == t.inode_b),
        "the other datagram reaches b:\n{}",
        f.lines().join("\n")
    );
    // The cb words are shown by default with --filter-trace-tc, as in pwru, but only when tc programs are traced:
    // neither the header nor the lines have the column here.
    assert!(
        !f.lines()[0].contains("__sk_buff->cb[]"),
        "{}",
        f.lines()[0]
    );
    assert!(
        !f.lines().iter().any(|l| l.contains("[0x")),
        "no cb words:\n{}",
        f.lines().join("\n")
    );
    // Asked for by name, the column stays.
    let asked = Pwru::start(&["--filter-trace-tc", "--output-skb-cb", "udp"]).stop(SIGINT);
    assert_eq!(asked.code, Some(0), "{}", asked.stderr);
    assert!(
        asked.lines()[0].contains("__sk_buff->cb[]"),
        "{}",
        asked.lines()[0]
    );
    // Nothing of pwru's is left (other tests may load programs meanwhile: pwru's own are checked by id); the
    // program still runs and still drops.
    let t0 = std::time::Instant::now();
    let left = loop {
        let left: Vec<u32> = held.iter().copied().filter(|&id| prog_exists(id)).collect();
        if left.is_empty() || t0.elapsed() > std::time::Duration::from_secs(5) {
            break left;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(left.is_empty(), "pwru's programs {left:?} left after exit");
    let prog = pins.join("pwru_test_drop_udp_ingress");
    let runs = || -> u64 {
        let s = sh(&format!("bpftool prog show pinned {}", prog.display()));
        s.split_whitespace()
            .skip_while(|w| *w != "run_cnt")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    sh("sysctl -qw kernel.bpf_stats_enabled=1");
    let before = runs();
    t.exec(
        &t.a,
        &format!("bash -c 'echo z > /dev/udp/{}/7001'", t.ip_b),
    );
    let after = runs();
    sh("sysctl -qw kernel.bpf_stats_enabled=0");
    assert!(
        after > before,
        "the tc program ran again after pwru: run_cnt {before} -> {after}"
    );
}

/// Ids of the BPF programs process `pid` holds an fd of (`prog_id:` in its fdinfo).
fn held_programs(pid: u32) -> Vec<u32> {
    let mut ids = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fdinfo")).expect("pwru's fdinfo") {
        let Ok(info) = std::fs::read_to_string(e.expect("an fdinfo entry").path()) else {
            continue;
        };
        ids.extend(
            info.lines()
                .filter_map(|l| l.strip_prefix("prog_id:"))
                .filter_map(|n| n.trim().parse::<u32>().ok()),
        );
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn prog_exists(id: u32) -> bool {
    std::process::Command::new("bpftool")
        .args(["prog", "show", "id", &id.to_string()])
        .output()
        .expect("run bpftool")
        .status
        .success()
}
