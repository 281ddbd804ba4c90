//! The running kernel's real BTF, tracefs and /proc/kallsyms. Needs root (kallsyms addresses, mounting tracefs):
//! as another user these tests fail on purpose.

use std::collections::HashSet;
use std::path::Path;

use symbols::{
    Btf, BtfOptions, DropReasons, FuncFilter, Kallsyms, ModuleSel, SkbTracepoint, SymbolsError,
    TraceSource, skb_functions, skb_functions_in_btf, skb_tracepoints, skb_tracepoints_with,
};

fn require_root() {
    testkit::need_root("kallsyms addresses, mounting tracefs");
}

/// (major, minor) of the running kernel.
fn kernel_version() -> (u32, u32) {
    let rel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut it = rel
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse().unwrap_or(0));
    (it.next().unwrap(), it.next().unwrap())
}

fn vmlinux() -> Btf {
    Btf::load(None, &ModuleSel::None).expect("the host kernel has BTF")
}

#[test]
#[ignore = "needs root and the running kernel: BTF, kallsyms, tracefs (tests/run.sh runs it)"]
fn host_skb_functions() {
    require_root();
    let btf = vmlinux();
    let d = skb_functions(&btf, None).unwrap();
    assert!(d.funcs.len() > 1000, "only {} skb functions", d.funcs.len());
    assert_eq!(d.total_btf, d.funcs.len() + d.not_traceable);
    let get = |name: &str| {
        d.funcs
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("{name} not found"))
    };
    assert_eq!(get("ip_rcv").skb_arg, 0);
    assert_eq!(
        get("ip_rcv_finish").skb_arg,
        2,
        "ip_rcv_finish(net, sk, skb)"
    );
    assert_eq!(get("ip_finish_output2").skb_arg, 2);
    assert_eq!(get("__netif_receive_skb").skb_arg, 0);
    assert_eq!(get("__netif_receive_skb_one_core").skb_arg, 0);
    assert_eq!(get("netif_receive_skb").skb_arg, 0);
    assert_eq!(get("kfree_skbmem").skb_arg, 0);
    if kernel_version() >= (6, 11) {
        let f = get("sk_skb_reason_drop");
        assert_eq!(
            (f.skb_arg, f.reason_arg),
            (1, Some(2)),
            "sk_skb_reason_drop(sk, skb, reason)"
        );
    } else {
        let f = get("kfree_skb_reason");
        assert_eq!((f.skb_arg, f.reason_arg), (0, Some(1)));
    }
    assert!(get("ip_rcv").reason_arg.is_none());
    assert!(
        d.funcs
            .iter()
            .all(|f| f.module.is_none() && (f.skb_arg as usize) < symbols::MAX_ARG)
    );
    let names: HashSet<&str> = d.funcs.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names.len(), d.funcs.len(), "names are deduplicated");
    // Several functions carry a reason (tcp/udp drop paths pass one around).
    assert!(d.funcs.iter().filter(|f| f.reason_arg.is_some()).count() >= 3);

    // The source is whatever this machine allows, and the user is told when it is the fallback.
    let aff_readable = symbols::AVAILABLE_FILTER_FUNCTIONS
        .iter()
        .any(|p| std::fs::read(p).is_ok());
    match &d.source {
        TraceSource::AvailableFilterFunctions(_) => assert!(aff_readable),
        TraceSource::Kallsyms(p) => {
            assert!(!aff_readable);
            assert_eq!(p, Path::new("/proc/kallsyms"));
            assert!(
                d.warnings[0].contains("available_filter_functions is unreadable"),
                "{:?}",
                d.warnings
            );
        }
    }
}

#[test]
#[ignore = "needs root and the running kernel: BTF, kallsyms, tracefs (tests/run.sh runs it)"]
fn host_skb_functions_are_kallsyms_text_symbols() {
    require_root();
    let btf = vmlinux();
    let d = skb_functions(&btf, None).unwrap();
    let k = Kallsyms::load().unwrap();
    assert!(!k.addresses_hidden(), "root sees real addresses");
    // Reusing the loaded table gives the same answer as reading /proc/kallsyms again.
    let again = symbols::skb_functions_kallsyms(&btf, None, &k).unwrap();
    assert_eq!(again.funcs, d.funcs);
    assert_eq!(again.source, d.source);
    for f in &d.funcs {
        let addr = k
            .address(&f.name)
            .unwrap_or_else(|| panic!("{} has no kallsyms address", f.name));
        let s = k.resolve(addr).unwrap();
        assert_eq!(s.offset, 0, "{} resolves to {s}", f.name);
    }
    // Those left out are really not in kallsyms (inlined, or only as a .isra/.constprop clone), or are the
    // tracing plumbing every tracepoint generates, or init text (freed after boot).
    let all = skb_functions_in_btf(&btf, None);
    let missing: Vec<&str> = all
        .iter()
        .filter(|f| !d.funcs.contains(f))
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(missing.len(), d.not_traceable);
    if matches!(d.source, TraceSource::Kallsyms(_)) {
        let plumbing = [
            "__bpf_trace_",
            "__traceiter_",
            "__probestub_",
            "perf_trace_",
            "trace_event_raw_event_",
        ];
        let mut plumbing_seen = 0;
        for name in missing {
            if plumbing.iter().any(|p| name.starts_with(p)) {
                plumbing_seen += 1;
            } else if let Some(a) = k.address(name) {
                let refused = [
                    ("_sinittext", "_einittext"),
                    ("__entry_text_start", "__entry_text_end"),
                    ("__noinstr_text_start", "__noinstr_text_end"),
                    ("__kprobes_text_start", "__kprobes_text_end"),
                    ("__irqentry_text_start", "__irqentry_text_end"),
                    ("__softirqentry_text_start", "__softirqentry_text_end"),
                ];
                let inside = refused
                    .iter()
                    .any(|(s, e)| match (k.address(s), k.address(e)) {
                        (Some(s), Some(e)) => (s..e).contains(&a),
                        _ => false,
                    });
                assert!(
                    inside,
                    "{name} is in kallsyms outside init/refused text but was dropped"
                );
            }
        }
        assert!(
            plumbing_seen >= 5,
            "kfree_skb alone has __bpf_trace_/__traceiter_/... helpers"
        );
    }
}

#[test]
#[ignore = "needs root and the running kernel: BTF, kallsyms, tracefs (tests/run.sh runs it)"]
fn host_filter_func_is_a_whole_name_match() {
    require_root();
    let btf = vmlinux();
    let only = skb_functions(&btf, Some(&FuncFilter::new("ip_rcv").unwrap())).unwrap();
    let names: Vec<&str> = only.funcs.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, vec!["ip_rcv"]);
    let prefix = skb_functions(&btf, Some(&FuncFilter::new("ip_rcv.*").unwrap())).unwrap();
    let names: Vec<&str> = prefix.funcs.iter().map(|f| f.name.as_str()).collect();
    assert!(
        names.contains(&"ip_rcv") && names.contains(&"ip_rcv_finish"),
        "{names:?}"
    );
    assert!(names.iter().all(|n| n.starts_with("ip_rcv")), "{names:?}");
    let none = skb_functions(&btf, Some(&FuncFilter::new("rcv").unwrap())).unwrap();
    assert!(none.funcs.is_empty(), "'rcv' must not match inside names");
    assert_eq!(
        FuncFilter::new("(")
            .unwrap_err()
            .to_string()
            .lines()
            .count(),
        1
    );
}

#[test]
#[ignore = "needs root and the running kernel: BTF, kallsyms, tracefs (tests/run.sh runs it)"]
fn host_skb_tracepoints() {
    require_root();
    let btf = vmlinux();
    // A private tracefs mount (the system one may be absent).
    let mnt = testkit::Mount::new("tracefs", "symbols-tracefs");
    let tps = skb_tracepoints_with(&btf, Some(mnt.path()));
    let get = |name: &str| -> &SkbTracepoint {
        tps.iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no tracepoint {name}"))
    };
    let k = get("kfree_skb");
    assert_eq!(
        (k.skb_arg, k.reason_arg, k.system.as_deref()),
        (0, Some(2), Some("skb"))
    );
    assert!(
        k.nargs == 3 || k.nargs == 4,
        "kfree_skb(skb, location, reason[, rx_sk]): {}",
        k.nargs
    );
    assert_eq!(k.display_name(), "skb:kfree_skb");
    for (name, sys, nargs) in [
        ("consume_skb", "skb", None),
        ("netif_receive_skb", "net", Some(1)),
        ("net_dev_queue", "net", Some(1)),
        ("net_dev_start_xmit", "net", Some(2)),
        ("net_dev_xmit", "net", Some(4)),
        ("netif_rx", "net", Some(1)),
        ("napi_gro_receive_entry", "net", Some(1)),
        ("skb_copy_datagram_iovec", "skb", Some(2)),
    ] {
        let t = get(name);
        assert_eq!(
            (t.skb_arg, t.reason_arg, t.system.as_deref()),
            (0, None, Some(sys)),
            "{name}"
        );
        if let Some(n) = nargs {
            assert_eq!(t.nargs, n, "{name}");
        }
    }
    assert!(tps.len() >= 15, "{} skb tracepoints", tps.len());
    assert!(tps.iter().all(|t| t.skb_arg < t.nargs));
    // Every one of them is a real tracepoint with an events directory.
    for t in &tps {
        let sys = t
            .system
            .as_deref()
            .unwrap_or_else(|| panic!("{} has no tracefs system", t.name));
        assert!(mnt.join("events").join(sys).join(&t.name).is_dir());
    }
    // The default lookup (system tracefs, maybe absent) finds the same tracepoints.
    let plain: Vec<String> = skb_tracepoints(&btf).into_iter().map(|t| t.name).collect();
    assert_eq!(
        plain,
        tps.iter().map(|t| t.name.clone()).collect::<Vec<_>>()
    );
}

#[test]
#[ignore = "needs root and the running kernel: BTF, kallsyms, tracefs (tests/run.sh runs it)"]
fn host_drop_reasons() {
    let btf = vmlinux();
    let r = DropReasons::from_btf(&btf);
    assert!(r.len() > 50);
    assert_eq!(r.name(0), Some("SKB_NOT_DROPPED_YET"));
    if kernel_version() >= (6, 4) {
        // SKB_CONSUMED (1) came in 6.3, moving NO_SOCKET from 2 to 3.
        assert_eq!(r.name(1), Some("SKB_CONSUMED"));
        assert_eq!(r.name(2), Some("NOT_SPECIFIED"));
        assert_eq!(r.name(3), Some("NO_SOCKET"));
        assert_eq!(r.subsys_mask(), 0xffff_0000);
        // Subsystem ids moved between releases (6.12 has MAC80211_MONITOR before OPENVSWITCH; 6.18 not).
        let ovs = (1..16)
            .find(|&i| r.subsystem(i) == Some("OPENVSWITCH"))
            .expect("an OPENVSWITCH subsystem");
        assert_eq!(r.describe(ovs << 16 | 0x42), "OPENVSWITCH:0x42");
    } else {
        assert_eq!(r.name(2), Some("NO_SOCKET"));
    }
    assert_eq!(r.describe(0xfff0), "65520");
    assert!(
        r.iter()
            .all(|(_, n)| !n.starts_with("SKB_DROP_REASON_") && n != "MAX")
    );
}

#[test]
#[ignore = "needs root and the running kernel: BTF, kallsyms, tracefs (tests/run.sh runs it)"]
fn host_kallsyms() {
    require_root();
    let k = Kallsyms::load().unwrap();
    assert!(k.len() > 50_000);
    assert!(!k.addresses_hidden());
    // The address straight from the file, independently of our parser.
    let text = std::fs::read_to_string("/proc/kallsyms").unwrap();
    let line = text
        .lines()
        .find(|l| l.ends_with(" T ip_rcv") || l.ends_with(" t ip_rcv"))
        .unwrap();
    let want = u64::from_str_radix(line.split(' ').next().unwrap(), 16).unwrap();
    let ip = k.address("ip_rcv").unwrap();
    assert_eq!(ip, want);
    assert_eq!(k.resolve(ip).unwrap().to_string(), "ip_rcv+0x0");
    assert_eq!(k.resolve(ip + 5).unwrap().to_string(), "ip_rcv+0x5");
    let s = k.resolve(ip + 0x1c).unwrap();
    assert_eq!((s.name, s.offset, s.module), ("ip_rcv", 0x1c, None));
    // Every text line round-trips (up to aliases sharing an address).
    let mut checked = 0;
    for l in text.lines().step_by(97) {
        let mut it = l.split_whitespace();
        let (a, t, name) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
        if !matches!(t, "t" | "T" | "w" | "W") {
            continue;
        }
        let a = u64::from_str_radix(a, 16).unwrap();
        let s = k.resolve(a).unwrap();
        assert_eq!(s.offset, 0, "{name}");
        assert!(k.addresses(name).iter().any(|(x, _)| *x == a), "{name}");
        checked += 1;
    }
    assert!(checked > 500);
}

#[test]
#[ignore = "needs root and the running kernel: BTF, kallsyms, tracefs (tests/run.sh runs it)"]
fn host_kernel_btf_file_and_errors() {
    require_root();
    // --kernel-btf with a raw blob copied from sysfs gives the same answers.
    let tmp = std::env::temp_dir().join(format!("symbols-vmlinux-{}", std::process::id()));
    std::fs::copy("/sys/kernel/btf/vmlinux", &tmp).unwrap();
    let from_file = Btf::load(Some(&tmp), &ModuleSel::None).unwrap();
    std::fs::remove_file(&tmp).unwrap();
    assert_eq!(
        skb_functions_in_btf(&from_file, None),
        skb_functions_in_btf(&vmlinux(), None)
    );

    // Module BTF from sysfs on another kernel's BTF would be garbage: refused.
    let debian = std::env::temp_dir().join(format!("symbols-other-btf-{}", std::process::id()));
    let mut other = std::fs::read("/sys/kernel/btf/vmlinux").unwrap();
    other.push(0); // a different blob (one more byte past the string section is still valid BTF)
    std::fs::write(&debian, &other).unwrap();
    let mismatch = Btf::load(Some(&debian), &ModuleSel::All);
    let none = Btf::load(Some(&debian), &ModuleSel::None);
    std::fs::remove_file(&debian).unwrap();
    assert!(none.is_ok());
    let sysfs_modules = std::fs::read_dir("/sys/kernel/btf").unwrap().count() > 1;
    if sysfs_modules {
        assert!(
            matches!(mismatch, Err(SymbolsError::ModuleBaseMismatch(_))),
            "{mismatch:?}"
        );
    } else {
        assert!(mismatch.is_ok(), "no module BTF to mix up");
    }

    let err = Btf::load(Some(Path::new("/nonexistent/vmlinux")), &ModuleSel::None).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot read /nonexistent/vmlinux: "),
        "{err}"
    );
    let err = Btf::load_with(&BtfOptions {
        module_dir: "/nonexistent".into(),
        ..BtfOptions::default()
    });
    assert!(
        err.is_ok(),
        "no modules requested: the module dir is not read"
    );

    let err = Btf::load(None, &ModuleSel::Some(vec!["no_such_module".into()])).unwrap_err();
    assert!(matches!(err, SymbolsError::UnknownModule { .. }));
    assert_eq!(
        err.to_string(),
        "unknown kernel module 'no_such_module' (no /sys/kernel/btf/no_such_module)"
    );
    let err = Btf::load(None, &ModuleSel::Some(vec!["../vmlinux2".into()])).unwrap_err();
    assert!(matches!(err, SymbolsError::UnknownModule { .. }));

    // --all-kmods loads exactly the modules sysfs has.
    let all = Btf::load(None, &ModuleSel::All).unwrap();
    let mut want: Vec<String> = std::fs::read_dir("/sys/kernel/btf")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "vmlinux")
        .collect();
    want.sort();
    assert_eq!(
        all.modules(),
        want.iter().map(String::as_str).collect::<Vec<_>>()
    );
    for m in &want {
        let one = Btf::load(None, &ModuleSel::Some(vec![m.clone()])).unwrap();
        assert_eq!(one.modules(), vec![m.as_str()]);
    }
}

#[test]
#[ignore = "needs root and the running kernel: BTF, kallsyms, tracefs (tests/run.sh runs it)"]
fn host_kallsyms_as_non_root_has_names_but_no_addresses() {
    require_root();
    // kallsyms_show_value(): without CAP_SYSLOG addresses show only if kptr_restrict is 0 and perf is allowed.
    let sysctl = |n: &str| -> i64 {
        std::fs::read_to_string(format!("/proc/sys/kernel/{n}"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let expect_hidden = sysctl("kptr_restrict") >= 1 || sysctl("perf_event_paranoid") > 1;
    // What an unprivileged user really reads.
    let out = testkit::as_nobody("cat")
        .arg("/proc/kallsyms")
        .output()
        .expect("setpriv (util-linux)");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let k = Kallsyms::parse(&text).unwrap();
    assert_eq!(k.addresses_hidden(), expect_hidden);
    let t = symbols::Traceable::from_kallsyms(&text, Path::new("/proc/kallsyms"));
    assert!(t.contains("ip_rcv", None), "names are always there");
    if expect_hidden {
        assert_eq!(k.address("ip_rcv"), None);
        assert!(k.resolve(0xffffffff81000000).is_none());
        assert!(
            t.warnings.iter().any(|w| w.contains("zero addresses")),
            "{:?}",
            t.warnings
        );
    } else {
        assert_eq!(
            k.address("ip_rcv"),
            Kallsyms::load().unwrap().address("ip_rcv")
        );
        assert!(t.warnings.is_empty());
    }
}

#[test]
#[ignore = "needs root and the running kernel: BTF, kallsyms, tracefs (tests/run.sh runs it)"]
fn host_map_functions() {
    require_root();
    let btf = vmlinux();
    let traceable = symbols::Traceable::detect().unwrap();
    let fs = symbols::map_functions(&btf, Some(&traceable));
    for name in [
        "__htab_map_lookup_elem",
        "htab_map_update_elem",
        "htab_map_delete_elem",
        "trie_lookup_elem",
    ] {
        assert!(fs.iter().any(|f| f.name == name), "{name} not in {fs:?}");
    }
    assert!(fs.iter().all(|f| traceable.contains(&f.name, None)));
    assert!(symbols::htab_elem_key_offset(&btf).is_some_and(|o| o % 8 == 0));
}
