//! The spliced stubs on the host's real kernel (tracepoint backend): a pcap filter and a BTF-expression filter in
//! the same programs each run their own code, whichever of the two rejects the packet. aya-obj links a callee by
//! its offset in its section, and both stubs sit at offset 0 of theirs; a mix-up would run one body twice. Needs
//! root.
mod common;

use probes::{Config, FilterCode, Tracer};
use std::time::Duration;
use testkit::btf::Btf;
use testkit::{NetnsPair, need_root, serial};

/// `*(u64 *)(r10 - 120) = 0; r0 = verdict; exit`: the verdict, after a write to the deepest stack slot a btf-expr
/// function may use (its MAX_STACK), so the tracepoint programs' frames are checked with the stub's too.
fn verdict(v: u8) -> Vec<u8> {
    vec![
        0x7a, 0x0a, 0x88, 0xff, 0, 0, 0, 0, 0xb7, 0, 0, 0, v, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0,
    ]
}

/// Events from namespace `b` of `pair` while `a` pings it, with the two filters given.
fn events(pair: &NetnsPair, pcap: u8, expr: u8) -> u64 {
    let tps = common::skb_tracepoints(&Btf::vmlinux())
        .into_iter()
        .filter(|t| ["netif_receive_skb", "net_dev_queue"].contains(&t.name.as_str()))
        .collect();
    let cfg = Config {
        tracepoints: tps,
        netns: Some(pair.inode_b),
        filter: Some(FilterCode {
            insns: verdict(pcap),
            snaplen: 2048,
        }),
        skb_expr: Some(verdict(expr)),
        ..Config::default()
    };
    let mut t = Tracer::load(cfg).unwrap_or_else(|e| panic!("load: {e}"));
    t.attach(|_, _, _| {})
        .unwrap_or_else(|e| panic!("attach: {e}"));
    pair.exec(&pair.a, &format!("ping -c 3 -i 0.2 -W 2 {}", pair.ip_b));
    // The last packet's events are counted when its softirq has run.
    std::thread::sleep(Duration::from_millis(200));
    t.detach().produced
}

#[test]
#[ignore = "needs root: BPF tracepoints, netns (tests/run.sh runs it)"]
fn pcap_and_btf_expr_stubs_each_run_their_own_code() {
    need_root("BPF tracepoints, netns");
    let _s = serial();
    let pair = NetnsPair::new("e61", 61);
    let both = events(&pair, 1, 1);
    assert!(
        both >= 6,
        "both filters accept: ping's packets show ({both})"
    );
    assert_eq!(events(&pair, 1, 0), 0, "the BTF expression rejects");
    assert_eq!(events(&pair, 0, 1), 0, "the pcap filter rejects");
}
