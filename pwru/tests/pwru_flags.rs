//! Flag parity with pwru v1.0.12 (`internal/pwru/types.go`, plus `--output-bpfmap`, `--output-netns-names` and
//! `--netns-names-max-length`): every pwru flag is parsed and accepted (never clap's "unexpected argument", never a
//! refusal), and `--help` lists it.

use std::process::Command;
use testkit::pwru::one_line_error;
use testkit::pwru_bin;

/// Every pwru flag, with a valid value where it takes one.
const PWRU_FLAGS: &[&[&str]] = &[
    &["--kernel-btf", "/sys/kernel/btf/vmlinux"],
    &["--kmods", "veth"],
    &["--all-kmods"],
    &["--filter-func", "ip_.*"],
    &["--filter-non-skb-funcs", "kfree_skbmem,consume_skb"],
    &["--filter-netns", "inode:4026531840"],
    &["--filter-mark", "0xa00/0xf00"],
    &["--filter-track-skb"],
    &["--filter-track-skb-by-stackid"],
    &["--filter-trace-tc"],
    &["--filter-tunnel-pcap-l2", "ether host 02:00:00:00:00:01"],
    &["--filter-tunnel-pcap-l3", "icmp and host 10.0.0.2"],
    &["--filter-trace-xdp"],
    &["--filter-track-bpf-helpers"],
    &["--filter-ifname", "lo"],
    &["--filter-kprobe-batch", "10"],
    &["--filter-skb-expr", "skb->protocol == 0x0800"],
    &["--filter-xdp-expr", "xdp->rxq->dev->ifindex == 9"],
    &["--timestamp", "relative"],
    &["--output-meta"],
    &["--output-tuple"],
    &["--output-skb"],
    &["--output-skb-shared-info"],
    &["--output-tunnel"],
    &["--output-stack"],
    &["--output-caller"],
    &["--output-limit-lines", "5"],
    &["--output-skb-cb"],
    &["--output-tcp-flags"],
    &["--output-skb-metadata", "skb->mark,skb->hash"],
    &["--output-xdp-metadata", "xdp->rxq->queue_index"],
    &["--output-file", "/dev/null"],
    &["--output-json"],
    &["--output-bpfmap"],
    &["--output-netns-names"],
    &["--netns-names-max-length", "12"],
    &["--ready-file", "/nonexistent-dir/ready"],
    &["--backend", "kprobe"],
    &["--set-percpu-buf", "4096"],
];

/// A bad --ringbuf-size stops the run at one of the first value checks, before any BPF work or privilege: a flag
/// that gets this error was parsed and accepted.
const STOP: [&str; 2] = ["--ringbuf-size", "3"];
const STOPPED: &str = "must be a power of two from";

#[test]
fn every_pwru_flag_parses_and_is_accepted() {
    for args in PWRU_FLAGS {
        let err = one_line_error(&[&STOP[..], args, &["icmp"]].concat());
        assert!(err.contains(STOPPED), "{args:?}: {err}");
    }
}

#[test]
fn help_lists_every_pwru_flag() {
    let out = Command::new(pwru_bin()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    // Option lines: "  -V, --version", "      --kmods <MODS>", "      --output-meta[=<BOOL>]".
    let listed = |flag: &str| {
        help.lines().any(|l| {
            let l = l.trim_start();
            let l = l.split_once(", ").map_or(l, |(_, long)| long);
            l.strip_prefix(flag)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '[']))
        })
    };
    // --ready-file is hidden, as in pwru.
    for args in PWRU_FLAGS.iter().filter(|a| a[0] != "--ready-file") {
        assert!(listed(args[0]), "{} is not in --help", args[0]);
    }
    for flag in ["--help", "--version"] {
        assert!(listed(flag), "{flag} is not in --help");
    }
}
