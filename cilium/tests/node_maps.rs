//! Root tests: real maps with Cilium's exact kernel types and sizes, pinned in a private bpffs, read back through
//! the public commands, lookups and correlator. Golden outputs live in tests/golden/<release>/ (regenerate with
//! UPDATE_GOLDEN=1 and review the diff).

mod common;

use common::cluster::{self, Layout};
use common::*;
use std::path::Path;

fn golden(layout: Layout, name: &str, got: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(layout.name())
        .join(format!("{name}.txt"));
    testkit::assert_golden(&path, got);
}

const COMMANDS: &[(&str, &[&str])] = &[
    ("ct", &["ct"]),
    ("nat", &["nat"]),
    ("lb", &["lb"]),
    ("lb-backends", &["lb", "--backends"]),
    ("lb-revnat", &["lb", "--revnat"]),
    ("ipcache", &["ipcache"]),
    ("endpoints", &["endpoints"]),
    ("metrics", &["metrics"]),
    ("policy-2001", &["policy", "2001"]),
    ("policy-all", &["policy", "--all"]),
    ("maps", &["maps"]),
    (
        "ct-tuple-dns",
        &["ct", "--tuple", "10.244.1.5:43210->10.96.0.10:53/udp"],
    ),
    (
        "ct-tuple-backend",
        &["ct", "--tuple", "10.244.1.5:43210->10.244.2.7:53/udp"],
    ),
    (
        "nat-tuple",
        &["nat", "--tuple", "10.244.1.5:40000->1.1.1.1:443/tcp"],
    ),
    (
        "ct-tuple-anyport",
        &["ct", "--tuple", "10.244.1.5->10.96.0.10:53/udp"],
    ),
    ("ipcache-pod", &["ipcache", "10.244.1.5"]),
    ("ipcache-subnet", &["ipcache", "10.244.2.99"]),
    ("ipcache-world", &["ipcache", "8.8.8.8"]),
    ("lb-dns", &["lb", "10.96.0.10:53/udp"]),
    ("lb-dns6", &["lb", "[fd00:96::10]:53/udp"]),
    ("lb-source-ranges", &["lb", "--source-ranges"]),
    ("lb-affinity", &["lb", "--affinity"]),
    ("nodeid", &["nodeid"]),
    ("tunnel", &["tunnel"]),
    ("auth", &["auth"]),
    (
        "ct-tuple6",
        &[
            "ct",
            "--tuple",
            "[fd00:10:244:2::7]:80->[fd00:10:244:1::5]:50000/tcp",
        ],
    ),
    ("ipcache-pod6", &["ipcache", "fd00:10:244:2::99"]),
    (
        "nat-tuple6",
        &[
            "nat",
            "--tuple",
            "[fd00:10:244:1::5]:40001->[2001:db8::1]:443/tcp",
        ],
    ),
];

fn check_layout(layout: Layout) {
    let fs = Bpffs::new(&format!("golden-{}", layout.name()));
    cluster::build(&fs, layout);
    for (name, args) in COMMANDS {
        // A command that fails (1.18 has no tunnel map) has its one-line error as golden output.
        let out = run(&fs, args).unwrap_or_else(|e| format!("error: {e:#}\n"));
        golden(layout, name, &out);
    }
    verdicts(&fs, layout);
    json_outputs(&fs, layout);
    correlate(&fs, layout);
}

#[test]
#[ignore = "needs root: BPF maps in a private bpffs (tests/run.sh runs it)"]
fn cilium_1_16_0() {
    check_layout(Layout::V1_16_0);
}
#[test]
#[ignore = "needs root: BPF maps in a private bpffs (tests/run.sh runs it)"]
fn cilium_1_16() {
    check_layout(Layout::V1_16);
}
#[test]
#[ignore = "needs root: BPF maps in a private bpffs (tests/run.sh runs it)"]
fn cilium_1_17() {
    check_layout(Layout::V1_17);
}
#[test]
#[ignore = "needs root: BPF maps in a private bpffs (tests/run.sh runs it)"]
fn cilium_1_18() {
    check_layout(Layout::V1_18);
}

/// `pwru cilium policy EP --identity N --port P` against what each release's datapath decides.
fn verdicts(fs: &Bpffs, layout: Layout) {
    let v = |id: &str, port: &str, extra: &[&str]| {
        let mut a = vec!["policy", "2001", "--identity", id, "--port", port];
        a.extend(extra);
        run(fs, &a).unwrap()
    };
    let expect = |id: &str, port: &str, extra: &[&str], want: &str| {
        let got = v(id, port, extra);
        assert!(
            got.contains(want),
            "{} id {id} {port} {extra:?}: got {got:?}, want {want:?}",
            layout.name()
        );
    };
    expect(
        "12345",
        "8080/tcp",
        &[],
        "ALLOWED: matched L3-dependent entry",
    );
    expect(
        "999",
        "443/tcp",
        &[],
        "DENIED: POLICY_DENIED (133, Policy denied): no matching entry",
    );
    expect(
        "34567",
        "9090/tcp",
        &[],
        "DENIED: AUTH_REQUIRED (189, Authentication required)",
    );
    expect(
        "12345",
        "80/tcp",
        &[],
        "ALLOWED (redirect to proxy port 15001)",
    );
    expect(
        "2",
        "8080/tcp",
        &[],
        "DENIED: POLICY_DENY (181, Policy denied by denylist)",
    );
    expect("999", "5000/udp", &["--egress"], "ALLOWED: matched L4-only");
    // World has an L3 deny (P=0) and everyone has an L4 UDP/53 allow (P=24): 1.17+ honours the deny first;
    // 1.16 lets the longer (1.16.4+) / more specific (1.16.0–3) L4 entry win.
    match layout {
        Layout::V1_17 | Layout::V1_18 => expect("2", "53/udp", &[], "DENIED: POLICY_DENY (181"),
        _ => expect("2", "53/udp", &[], "ALLOWED: matched L4-only"),
    }
    if layout != Layout::V1_16_0 {
        expect(
            "999",
            "8015/tcp",
            &[],
            "ALLOWED: matched L4-only (any identity) entry (allow, prefix 20)",
        );
        expect("999", "8016/tcp", &[], "POLICY_DENIED (133");
    }
}

fn json_outputs(fs: &Bpffs, layout: Layout) {
    let j = |args: &[&str]| -> serde_json::Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        serde_json::from_str(&run(fs, &a).unwrap()).unwrap()
    };
    let maps = j(&["maps"]);
    let want = if layout == Layout::V1_16_0 {
        "1.16"
    } else {
        layout.name()
    };
    assert_eq!(maps["version"], want);
    let ipc = maps["maps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"].as_str().unwrap().starts_with("cilium_ipcache"))
        .unwrap();
    assert_eq!(ipc["entries"], 11);
    assert_eq!(ipc["type"], "lpm_trie");
    let ev = maps["maps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "cilium_events")
        .unwrap();
    assert_eq!(ev["skipped"], "event ring");
    let ip = j(&["ipcache", "10.244.2.99"]);
    assert_eq!(ip["prefix"], "10.244.2.0/24");
    assert_eq!(ip["value"]["identity"]["id"], 6);
    assert_eq!(ip["value"]["identity"]["reserved"], "remote-node");
    let verdict = j(&["policy", "2001", "--identity", "999", "--port", "443/tcp"]);
    assert_eq!(verdict["drop_code"], 133);
    assert_eq!(verdict["drop_reason"], "POLICY_DENIED");
    let met = j(&["metrics"]);
    let pd = met
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["reason"] == 133)
        .unwrap();
    assert_eq!(
        (pd["packets"].as_u64(), pd["reason_name"].as_str()),
        (Some(6), Some("POLICY_DENIED"))
    );
    let lb = j(&["lb", "10.96.0.20:80/tcp"]);
    assert_eq!(lb["hit"]["backends"][0]["backend"]["port"], 8080);
    let ct = j(&["ct"]);
    assert_eq!(ct.as_array().unwrap().len(), 5);
}

fn correlate(fs: &Bpffs, layout: Layout) {
    let mut c = cilium::Correlator::open(Some(&fs.root), None).unwrap();
    c.set_clock(None);
    let dns = cilium::flow::parse_tuple("10.244.1.5:43210->10.96.0.10:53/udp").unwrap();
    let a = c.annotate(&dns, 0).expect("annotation for the DNS flow");
    let text = a.lines.join("\n");
    let proto = if layout == Layout::V1_16 || layout == Layout::V1_16_0 {
        ""
    } else {
        "/UDP"
    };
    for want in [
        "cilium src 10.244.1.5 identity 12345 endpoint 1234 -> dst 10.96.0.10 identity 2 (reserved:world)".to_string(),
        format!("cilium service 10.96.0.10:53{proto} (0) [ClusterIP] revnat 5 -> backend 3 10.244.2.7:53 (slot 1, active); 2 backends"),
        "cilium ct UDP SVC 10.244.1.5:43210 -> 10.96.0.10:53 expires=5000".to_string(),
    ] {
        assert!(text.contains(&want), "{}: annotation lacks {want:?}:\n{text}", layout.name());
    }
    assert_eq!(a.json["service"]["selected_backend"], 3);
    // Same flow again: served from the cache, identical.
    assert_eq!(c.annotate(&dns, 0).as_ref(), Some(&a));
    // The client's egress policy allows everything; the backend 10.244.2.7 is remote, so no ingress check here.
    assert!(
        text.contains(
            "cilium policy egress endpoint 1234 to identity 34567 53/UDP: ALLOWED: matched L4-only"
        ),
        "{text}"
    );
    // Remote pod → local server 8080: the server's ingress policy has no rule for 34567 on 8080.
    let to_server = cilium::flow::parse_tuple("10.244.2.7:51000->10.244.1.6:8080/tcp").unwrap();
    let a = c.annotate(&to_server, 0).unwrap();
    let text = a.lines.join("\n");
    assert!(
        text.contains("cilium policy ingress endpoint 2001 from identity 34567 8080/TCP: DENIED: POLICY_DENIED (133, Policy denied): no matching entry"),
        "{}: {text}", layout.name()
    );
    assert_eq!(a.json["policy"][0]["drop_reason"], "POLICY_DENIED");
    assert!(
        text.contains("cilium ct TCP IN 10.244.2.7:51000 -> 10.244.1.6:8080"),
        "{text}"
    );
    // The web service resolves to the local server: its ingress policy is judged on the backend port 8080.
    let web = cilium::flow::parse_tuple("10.244.1.5:41000->10.96.0.20:80/tcp").unwrap();
    let a = c.annotate(&web, 0).unwrap();
    let text = a.lines.join("\n");
    assert!(text.contains("no backend selected yet"), "{text}");
    assert!(
        text.contains("cilium policy egress endpoint 1234 to identity 2 (reserved:world) 80/TCP"),
        "{text}"
    );
    assert_eq!(a.json["src"]["identity"]["id"], 12345);

    // Reply of the DNS query from the backend: the OUT entry and the revnat back to the VIP.
    let reply = cilium::flow::parse_tuple("10.244.2.7:53->10.244.1.5:43210/udp").unwrap();
    let a = c.annotate(&reply, 0).unwrap();
    let text = a.lines.join("\n");
    assert!(
        text.contains("cilium ct UDP OUT 10.244.1.5:43210 -> 10.244.2.7:53"),
        "{text}"
    );
    assert!(
        text.contains("cilium ct revnat 5 -> 10.96.0.10:53"),
        "{text}"
    );
    assert!(text.contains("10.244.2.7 identity 34567"), "{text}");

    // SNATed flow, and an identity carried in skb->mark (0x0F00 magic, identity 12345 = 0x3039).
    let web = cilium::flow::parse_tuple("10.244.1.5:40000->1.1.1.1:443/tcp").unwrap();
    let a = c.annotate(&web, 0x3039_0F00).unwrap();
    let text = a.lines.join("\n");
    assert!(
        text.contains("10.244.1.5 identity 12345 [from skb mark]"),
        "{text}"
    );
    assert!(
        text.contains(
            "cilium nat TCP OUT 10.244.1.5:40000 -> 1.1.1.1:443 XLATE_SRC 192.168.1.10:40000"
        ),
        "{text}"
    );
    assert!(
        text.contains("Flags=0x0013 [ RxClosing TxClosing SeenNonSyn ]"),
        "{text}"
    );

    // A socket-LB'd connection goes straight to the backend: the correlator names the service it belongs to.
    let direct = cilium::flow::parse_tuple("10.244.1.5:42000->10.244.1.6:8080/tcp").unwrap();
    let a = c.annotate(&direct, 0).unwrap();
    let text = a.lines.join("\n");
    let svc = if matches!(layout, Layout::V1_16 | Layout::V1_16_0) {
        "10.96.0.20:80"
    } else {
        "10.96.0.20:80/TCP"
    };
    assert!(
        text.contains(&format!(
            "cilium backend 10.244.1.6:8080 of service {svc} (backend 5)"
        )),
        "{text}"
    );

    // Metrics deltas name the drop.
    let before = c.metrics_snapshot().unwrap();
    let mut after = before.clone();
    let k = cilium::metrics::MetricsKey {
        reason: 133,
        dir: 1,
        line: 1520,
        file: 2,
    };
    after.counts.get_mut(&k).unwrap().packets += 1;
    let d = cilium::drop_reason_from_metrics(&before, &after);
    assert_eq!(d.len(), 1);
    assert_eq!(
        d[0].text(),
        "cilium drop: POLICY_DENIED (133, Policy denied) INGRESS at bpf_lxc.c:1520 (+1 packets)"
    );
    assert!(cilium::drop_reason_from_metrics(&before, &before).is_empty());
}

/// A map whose sizes do not match the release is refused with its name and sizes, not misread.
#[test]
#[ignore = "needs root: BPF maps in a private bpffs (tests/run.sh runs it)"]
fn unknown_layout_is_a_clear_error() {
    let fs = Bpffs::new("badlayout");
    fs.create(
        "cilium_policy_v2_00001",
        LPM_TRIE,
        12,
        24,
        16384,
        BPF_F_NO_PREALLOC,
    );
    // 1.17 names, but an ipcache value of 16 bytes (no release has that).
    let m = fs.create("cilium_ipcache", LPM_TRIE, 24, 16, 1024, BPF_F_NO_PREALLOC);
    m.put(&ipcache_key("10.0.0.1", 32), &[0u8; 16]);
    let err = run(&fs, &["ipcache"]).unwrap_err().to_string();
    assert_eq!(
        err,
        "cilium_ipcache: unknown layout for Cilium 1.17: lpm_trie, key 24 bytes, value 16 bytes (expected lpm_trie, key 24 bytes, value 12 bytes)"
    );
    let maps = run(&fs, &["maps"]).unwrap();
    assert!(maps.contains("unexpected (want lpm_trie 24/12)"), "{maps}");
    // A 1.18-sized policy map under 1.17 names.
    let err = run(&fs, &["policy", "1"]).unwrap();
    assert!(err.contains("Policy stats empty"), "{err}");
    let fs2 = Bpffs::new("badpolicy");
    fs2.create(
        "cilium_policy_v2_00001",
        LPM_TRIE,
        12,
        8,
        16384,
        BPF_F_NO_PREALLOC,
    );
    let err = run(&fs2, &["policy", "1"]).unwrap_err().to_string();
    assert!(
        err.contains("cilium_policy_v2_00001: unknown layout for Cilium 1.17")
            && err.contains("value 8 bytes"),
        "{err}"
    );
}

#[test]
#[ignore = "needs root: BPF maps in a private bpffs (tests/run.sh runs it)"]
fn undetectable_version_needs_override() {
    let fs = Bpffs::new("nover");
    fs.create("cilium_ipcache", LPM_TRIE, 24, 12, 1024, BPF_F_NO_PREALLOC);
    let err = run(&fs, &["ipcache"]).unwrap_err().to_string();
    assert!(
        err.contains("cannot tell the Cilium version") && err.contains("--cilium-version"),
        "{err}"
    );
    let maps = run(&fs, &["maps"]).unwrap();
    assert!(maps.starts_with("Cilium version: unknown"), "{maps}");
    assert!(
        maps.contains("cilium_ipcache   lpm_trie   24    12      1024          0x1     0"),
        "{maps}"
    );
    let out = run(&fs, &["ipcache", "--cilium-version", "1.17"]).unwrap();
    assert_eq!(out, "No entries found.\n");
    let cli =
        <Cli as clap::Parser>::try_parse_from(["x", "maps", "--bpffs", "/nonexistent"]).unwrap();
    let err = cilium::run(&cli.cmd, &mut Vec::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("/nonexistent/tc/globals does not exist"),
        "{err}"
    );
}

/// The kernel's LPM lookup (used by the tool) and the userspace one (used to name the matched prefix) agree.
#[test]
#[ignore = "needs root: BPF maps in a private bpffs (tests/run.sh runs it)"]
fn kernel_and_userspace_lpm_agree() {
    let fs = Bpffs::new("lpm");
    cluster::build(&fs, Layout::V1_17);
    let node = cilium::node::Node::open(Some(&fs.root), None).unwrap();
    let maps = cilium::lookup::Maps::open(&node).unwrap();
    let all = node.ipcache().unwrap();
    let raw: Vec<(Vec<u8>, u32)> = all
        .iter()
        .map(|(k, v)| {
            (
                ipcache_key(&k.addr.to_string(), k.prefix as u32),
                v.identity,
            )
        })
        .collect();
    for a in [
        "10.244.1.5",
        "10.244.1.7",
        "10.244.2.7",
        "10.244.2.200",
        "172.20.2.3",
        "10.1.2.3",
        "192.168.1.10",
        "192.168.1.12",
        "8.8.8.8",
    ] {
        let ip: std::net::IpAddr = a.parse().unwrap();
        let kernel = maps.ipcache(&ip).unwrap().map(|v| v.identity);
        let user =
            cilium::lookup::lpm_lookup(&raw, &cilium::ipcache::IpcacheKey::lookup_bytes(&ip, 0))
                .copied();
        assert_eq!(kernel, user, "{a}");
        assert!(kernel.is_some(), "{a} falls back to world 0.0.0.0/0");
    }
}

/// The tool's map descriptors are read-only: the kernel refuses writes through them.
#[test]
#[ignore = "needs root: BPF maps in a private bpffs (tests/run.sh runs it)"]
fn maps_are_opened_read_only() {
    use std::os::fd::AsRawFd;
    let fs = Bpffs::new("rdonly");
    cluster::build(&fs, Layout::V1_17);
    let m = cilium::bpf::Map::open(&fs.globals().join("cilium_ipcache")).unwrap();
    let key = ipcache_key("10.9.9.9", 32);
    let err = try_update(m.as_raw_fd(), &key, &ipcache_val(false, 7, None)).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    // And a read-write descriptor on the same pin can write (the refusal is the flag, not the test setup).
    let rw = obj_get(&fs.globals().join("cilium_ipcache"));
    try_update(rw.as_raw_fd(), &key, &ipcache_val(false, 7, None)).unwrap();
    // A bpffs directory is not a map either.
    assert!(cilium::bpf::Map::open(&fs.root).is_err());
}
