//! The loader's errors say what is wrong: a filter the verifier refuses comes back as a verifier error with the
//! verifier's reason, and an unprivileged user is told to run as root.
use probes::filter_check::FilterTester;
use probes::{
    ArgIndex, Backend, Config, ConfigError, FilterCode, ProbeError, Target, TracepointTarget,
    Tracer,
};

/// `r0 = *(u8 *)(r1 + 4000); exit`: reads past the 2048-byte filter buffer.
fn out_of_bounds() -> FilterCode {
    let mut insns = vec![0x71, 0x10, 0xa0, 0x0f, 0, 0, 0, 0];
    insns.extend_from_slice(&[0x95, 0, 0, 0, 0, 0, 0, 0]);
    FilterCode { insns, snaplen: 64 }
}

fn assert_verifier(e: ProbeError, what: &str) {
    match &e {
        ProbeError::Verifier { log, .. } => {
            assert!(
                log.contains("invalid access to map value"),
                "{what}: verifier log tail:\n{log}"
            )
        }
        other => panic!("{what}: expected a verifier error, got {other}"),
    }
}

#[test]
#[ignore = "needs root: loads BPF programs (tests/run.sh runs it)"]
fn verifier_rejection_carries_the_log() {
    let e = FilterTester::new(&out_of_bounds(), false)
        .err()
        .expect("the verifier must refuse the filter");
    assert_verifier(e, "filter_test");

    let kprobes = vec![Target {
        name: "ip_rcv".into(),
        module: None,
        skb_arg: ArgIndex(0),
        reason_arg: None,
        address: None,
    }];
    let cfg = Config {
        backend: Backend::Kprobe,
        kprobes,
        filter: Some(out_of_bounds()),
        ..Config::default()
    };
    assert_verifier(
        Tracer::load(cfg).err().expect("kprobe load must fail"),
        "kprobe",
    );

    let tracepoints = vec![TracepointTarget {
        name: "netif_receive_skb".into(),
        skb_arg: ArgIndex(0),
        reason_arg: None,
        nargs: 1,
    }];
    let cfg = Config {
        tracepoints,
        filter: Some(out_of_bounds()),
        ..Config::default()
    };
    assert_verifier(
        Tracer::load(cfg).err().expect("tracepoint load must fail"),
        "tracepoint",
    );
}

#[test]
fn bad_skb_positions_are_config_errors() {
    let kprobes = vec![Target {
        name: "f".into(),
        module: None,
        skb_arg: ArgIndex(5),
        reason_arg: None,
        address: None,
    }];
    assert!(!kprobes[0].supported());
    assert_no_program(Config {
        backend: Backend::Kprobe,
        kprobes,
        ..Config::default()
    });
    let tracepoints = vec![TracepointTarget {
        name: "x".into(),
        skb_arg: ArgIndex(5),
        reason_arg: Some(ArgIndex(3)),
        nargs: 6,
    }];
    assert!(!tracepoints[0].supported());
    assert_no_program(Config {
        tracepoints,
        ..Config::default()
    });
}

/// Loading `cfg` fails as a configuration error: no program variant serves its targets.
fn assert_no_program(cfg: Config) {
    let e = Tracer::load(cfg).err().unwrap();
    assert!(
        matches!(e, ProbeError::Config(ConfigError::NoProgram { .. })),
        "{e}"
    );
}

#[test]
fn tracer_is_send() {
    fn send<T: Send>() {}
    send::<Tracer>();
    send::<probes::RingReader>();
}

/// Runs this test binary again as user `nobody` without capabilities; the child expects a permission error.
#[test]
#[ignore = "needs root: drops to user nobody with setpriv (tests/run.sh runs it)"]
fn unprivileged_user_is_told_to_run_as_root() {
    if std::env::var_os("PROBES_UNPRIVILEGED_CHILD").is_some() {
        let cfg = Config {
            tracepoints: vec![TracepointTarget {
                name: "netif_receive_skb".into(),
                skb_arg: ArgIndex(0),
                reason_arg: None,
                nargs: 1,
            }],
            ..Config::default()
        };
        let e = Tracer::load(cfg)
            .err()
            .expect("an unprivileged load must fail");
        assert!(
            matches!(e, ProbeError::Permission { .. }),
            "expected a permission error, got: {e}"
        );
        assert!(e.to_string().contains("run as root"), "{e}");
        return;
    }
    testkit::need_root("setpriv to user nobody");
    let out = testkit::as_nobody(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "unprivileged_user_is_told_to_run_as_root",
            "--include-ignored",
            "--nocapture",
        ])
        .env("PROBES_UNPRIVILEGED_CHILD", "1")
        .output()
        .expect("run setpriv (util-linux)");
    assert!(
        out.status.success(),
        "child as nobody failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "the child ran the check"
    );
}
