//! The XDP root (`--filter-xdp-expr`, `--output-xdp-metadata`): the issue's `xdp->rxq->dev->ifindex` and the
//! device name through `struct xdp_buff` -> `struct xdp_rxq_info` -> `struct net_device`, on the committed 6.18 and
//! Debian 6.1 BTF subsets, run by the interpreter on an image laid out by the BTF's own member offsets (the
//! property test covers paths in general; this one pins the path the VM scenario checks in the kernel).

mod common;

use btf_expr::{Compiler, Memory, Value};
use common::*;

const XDP: u64 = 0xffff_8880_0001_0000;
const RXQ: u64 = 0xffff_8880_0002_0000;
const DEV: u64 = 0xffff_8880_0003_0000;

/// An xdp_buff whose rxq points at an xdp_rxq_info whose dev is a net_device with `ifindex` and name "veth1";
/// `rxq: false` leaves xdp->rxq NULL.
fn image(btf: &symbols::Btf, ifindex: u32, rxq: bool) -> Memory {
    let size = |s: &str| btf.size_of(btf.composite_named(s, false).unwrap()).unwrap() as usize;
    let at = |s: &str, m: &str| member_offset(btf, s, m) as usize;
    let mut xdp = vec![0u8; size("xdp_buff")];
    let mut q = vec![0u8; size("xdp_rxq_info")];
    let mut dev = vec![0u8; size("net_device")];
    if rxq {
        let o = at("xdp_buff", "rxq");
        xdp[o..o + 8].copy_from_slice(&RXQ.to_le_bytes());
    }
    let o = at("xdp_rxq_info", "dev");
    q[o..o + 8].copy_from_slice(&DEV.to_le_bytes());
    let o = at("net_device", "ifindex");
    dev[o..o + 4].copy_from_slice(&ifindex.to_le_bytes());
    let o = at("net_device", "name");
    dev[o..o + 5].copy_from_slice(b"veth1");
    let mut m = Memory::new();
    m.insert(XDP, xdp);
    m.insert(RXQ, q);
    m.insert(DEV, dev);
    m
}

#[test]
fn the_ifindex_filter_and_values_through_rxq_and_dev() {
    for (label, btf, _) in corpora().iter().filter(|c| c.0 != "edge") {
        let c = Compiler::new(btf, "xdp", "xdp_buff").unwrap();
        let f = c.filter("xdp->rxq->dev->ifindex == 9").unwrap();
        let fetch = c
            .fetch(&["xdp->rxq->dev->ifindex", "xdp->rxq->dev->name"])
            .unwrap();
        for (ifindex, rxq, want) in [(9, true, true), (8, true, false), (9, false, false)] {
            let mem = image(btf, ifindex, rxq);
            assert_eq!(
                f.interpret(XDP, &mem).unwrap(),
                want,
                "{label}: ifindex {ifindex}, rxq {rxq}"
            );
            let got = fetch.interpret(XDP, &mem).unwrap();
            let shown: Vec<String> = got.iter().map(Value::to_string).collect();
            match rxq {
                true => assert_eq!(
                    shown,
                    // ifindex is an int: signed values print in decimal.
                    [ifindex.to_string(), "\"veth1\"".to_string()],
                    "{label}"
                ),
                false => assert_eq!(shown, ["<null>", "<null>"], "{label}"),
            }
        }
        // A NULL xdp_buff (never passed by the kernel, but the code must not fault on it).
        assert!(!f.interpret(0, &Memory::new()).unwrap(), "{label}");
    }
}

#[test]
fn xdp_member_errors_name_the_xdp_structs() {
    let (_, btf, _) = &corpora()[0];
    let c = Compiler::new(btf, "xdp", "xdp_buff").unwrap();
    let e = c.filter("xdp->rxq->devv->ifindex == 1").unwrap_err();
    assert_eq!(
        e.kind.to_string(),
        "xdp->rxq->devv: struct xdp_rxq_info has no member 'devv' (did you mean 'dev'?)"
    );
    assert_eq!(e.column, 11);
    // The skb root's name is not the XDP root's.
    assert!(c.filter("skb->len > 1").is_err());
}
