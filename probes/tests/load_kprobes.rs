//! The kprobe and kprobe-multi programs pass the verifier of the running kernel, with every option that
//! changes their code turned on; attaching them needs a kernel with kprobes (tests/vm), so on a kernel without
//! them attach must fail with the backend's reason.
use probes::{
    ArgIndex, Backend, Config, FilterCode, KernelSummary, KprobePlacement, MapFuncTarget,
    MapOpKind, ProbeError, ProgTracing, StackConfig, StackFunc, Target, Tracer, TunnelConfig,
};
use std::collections::BTreeSet;
use testkit::bpf::{bpftool_show, held_by, serial};

fn targets() -> Vec<Target> {
    let t = |name: &str, skb_arg, reason_arg: Option<u8>| Target {
        name: name.into(),
        module: None,
        skb_arg: ArgIndex(skb_arg),
        reason_arg: reason_arg.map(ArgIndex),
        address: None,
    };
    vec![
        t("ip_rcv", 0, None),
        t("ip_output", 2, None),
        t("f2", 1, None),
        t("f4", 3, None),
        t("f5", 4, None),
        t("kfree_skb_reason", 0, Some(1)),
        t("sk_skb_reason_drop", 1, Some(2)),
    ]
}

/// `r0 = 1; exit`: accepts everything, but makes the probes call the spliced stub.
fn accept_all() -> FilterCode {
    FilterCode {
        insns: vec![0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0],
        snaplen: 128,
    }
}

/// Writes the deepest stack slot a btf-expr function may use (btf_expr::MAX_STACK, 120 bytes), then accepts: the
/// probe's frame and the stub's must fit in the kernel's 512 bytes together.
fn expr_accept_all() -> Vec<u8> {
    let mut code = vec![0x7a, 0x0a, 0x88, 0xff, 0, 0, 0, 0]; // *(u64 *)(r10 - 120) = 0
    code.extend_from_slice(&accept_all().insns);
    code
}

fn load(backend: Backend, full: bool) -> Tracer {
    load_cfg(config(backend, full))
}

fn config(backend: Backend, full: bool) -> Config {
    Config {
        backend,
        kprobes: targets(),
        filter: full.then(accept_all),
        skb_expr: full.then(expr_accept_all),
        netns: full.then_some(4026531840),
        mark: full.then_some((1, 0xff)),
        ifindex: full.then_some(1),
        track_skb: full,
        caller: full,
        stack: full,
        // Every section at once (the largest records), and the helper and map operation kprobes of traced
        // programs (--filter-track-bpf-helpers, --output-bpfmap).
        skb_cb: full,
        snaplen: if full { 256 } else { 0 },
        tunnel: TunnelConfig {
            output: full,
            ..TunnelConfig::default()
        },
        progs: ProgTracing {
            tc: full,
            xdp: full,
            helpers: full,
            map_funcs: vec![MapFuncTarget {
                name: "__htab_map_lookup_elem".into(),
                op: MapOpKind::Lookup,
                returns_elem: true,
            }],
            htab_elem_key: Some(48),
            poll: None,
        },
        // Stack tracking and its non-skb program.
        stack_track: StackConfig {
            track: full,
            non_skb: if full {
                vec![StackFunc {
                    name: "fib_table_lookup".into(),
                    module: None,
                }]
            } else {
                Vec::new()
            },
        },
        ..Config::default()
    }
}

fn load_cfg(cfg: Config) -> Tracer {
    let what = format!("{:?} (filter: {})", cfg.backend, cfg.filter.is_some());
    match Tracer::load(cfg) {
        Ok(t) => t,
        Err(e) => panic!("{what} failed to load: {e}"),
    }
}

/// The names of the programs this process holds, as the kernel has them (15 characters at most).
fn held_programs() -> BTreeSet<String> {
    let ids = held_by(std::process::id()).progs;
    bpftool_show("prog")
        .into_iter()
        .filter(|p| p["id"].as_u64().is_some_and(|id| ids.contains(&id)))
        .filter_map(|p| p["name"].as_str().map(String::from))
        .collect()
}

#[test]
#[ignore = "needs root: loads BPF programs (tests/run.sh runs it)"]
fn kprobe_programs_load() {
    let _g = serial();
    let t = load(Backend::Kprobe, false);
    eprintln!("kprobe programs loaded in {:?}", t.load_time());
    let t = load(Backend::Kprobe, true);
    eprintln!(
        "kprobe programs with all options loaded in {:?}",
        t.load_time()
    );
}

#[test]
#[ignore = "needs root: loads BPF programs (tests/run.sh runs it)"]
fn kprobe_multi_programs_load() {
    let _g = serial();
    let t = load(Backend::KprobeMulti, false);
    eprintln!("kprobe-multi programs loaded in {:?}", t.load_time());
    load(Backend::KprobeMulti, true);
}

#[test]
#[ignore = "needs root: loads BPF programs (tests/run.sh runs it)"]
fn attach_reports_why_a_backend_is_unsupported() {
    let _g = serial();
    let support = probes::support();
    eprintln!("{support:?}");
    assert!(
        support.tracepoint.is_ok(),
        "tracepoints must work on any test kernel: {:?}",
        support.tracepoint
    );
    for backend in [Backend::Kprobe, Backend::KprobeMulti] {
        let mut t = load(backend, false);
        let r = t.attach(|_, _, _| {});
        match support.get(backend) {
            Ok(()) => {
                let st = r.expect("attach on a kernel that supports the backend");
                assert!(st.attached > 0);
            }
            Err(reason) => {
                let e = r.expect_err("attach must fail when the backend is unsupported");
                assert!(matches!(e, ProbeError::Unsupported { .. }), "{e}");
                assert!(
                    reason.contains("CONFIG_"),
                    "reason names the missing config: {reason}"
                );
            }
        }
    }
}

/// Plain kprobes run the per-variant programs (PERF_EVENT_IOC_SET_BPF: their removal is cheaper than a perf link's)
/// unless a probe needs its BPF cookie: the kernel summary's target index, or the function of a probe placed past
/// the ftrace site. kprobe-multi always takes the one cookie program.
#[test]
#[ignore = "needs root: loads BPF programs (tests/run.sh runs it)"]
fn plain_kprobes_take_a_cookie_only_where_a_probe_needs_one() {
    let _g = serial();
    let before = held_programs();
    let variants: BTreeSet<String> = [
        "kprobe_skb_0",
        "kprobe_skb_1",
        "kprobe_skb_2",
        "kprobe_skb_3",
        "kprobe_skb_4",
        "kprobe_skb_0_re",
        "kprobe_skb_1_re",
    ]
    .map(String::from)
    .into();
    let summary = KernelSummary {
        roles: vec![0; targets().len()],
        consumed_reasons: vec![2],
    };
    let cases = [
        ("plain", Backend::Kprobe, None, KprobePlacement::Symbol),
        (
            "summary",
            Backend::Kprobe,
            Some(summary.clone()),
            KprobePlacement::Symbol,
        ),
        (
            "past-ftrace",
            Backend::Kprobe,
            None,
            KprobePlacement::PastFtrace,
        ),
        ("multi", Backend::KprobeMulti, None, KprobePlacement::Symbol),
    ];
    for (what, backend, summary, placement) in cases {
        let t = load_cfg(Config {
            summary,
            kprobe_placement: placement,
            ..config(backend, false)
        });
        let got: BTreeSet<String> = held_programs().difference(&before).cloned().collect();
        let want: BTreeSet<String> = match what {
            "plain" => variants.clone(),
            "multi" => ["kprobe_multi_co".to_string()].into(),
            _ => ["kprobe_cookie".to_string()].into(),
        };
        assert_eq!(got, want, "{what}: programs loaded");
        if what == "summary" {
            assert!(t.summarizing(), "the summary counts in the kernel");
        }
        drop(t);
    }
}
