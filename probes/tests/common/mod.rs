//! What probes' tests attach to, read from BTF with testkit's reader: the skb tracepoints and functions of a
//! kernel as probes targets.
#![allow(dead_code)]
use probes::{Target, TracepointTarget};
use testkit::btf::Btf;

/// Every skb tracepoint, with a drop reason where it sits as in kfree_skb (skb first, reason third).
pub fn skb_tracepoints(btf: &Btf) -> Vec<TracepointTarget> {
    btf.skb_tracepoints()
        .into_iter()
        .map(|s| TracepointTarget {
            reason_arg: (s.skb == 0 && s.drop_reasons.first() == Some(&2)).then_some(2),
            skb_arg: s.skb as u8,
            nargs: s.nargs as u8,
            name: s.name,
        })
        .collect()
}

/// Every function with an skb among its first five parameters, with the reason argument of
/// kfree_skb_reason-style and sk_skb_reason_drop-style signatures (the reason right after the skb).
pub fn skb_functions(btf: &Btf) -> Vec<Target> {
    btf.skb_functions()
        .into_iter()
        .map(|s| Target {
            reason_arg: match (s.skb, s.drop_reasons.contains(&(s.skb + 1))) {
                (0, true) => Some(2),
                (1, true) => Some(3),
                _ => None,
            },
            skb_arg: s.skb as u8 + 1,
            module: None,
            name: s.name,
        })
        .collect()
}
