//! What probes' tests attach to, read from BTF with testkit's reader: the skb tracepoints and functions of a
//! kernel as probes targets. Drop-reason positions are passed as found: probes decides which it reads.
#![allow(dead_code)]
use probes::{ArgIndex, Target, TracepointTarget};
use testkit::btf::Btf;

fn arg(pos: usize) -> ArgIndex {
    ArgIndex(pos as u8)
}

/// Every skb tracepoint.
pub fn skb_tracepoints(btf: &Btf) -> Vec<TracepointTarget> {
    btf.skb_tracepoints()
        .into_iter()
        .map(|s| TracepointTarget {
            reason_arg: s.drop_reasons.first().copied().map(arg),
            skb_arg: arg(s.skb),
            nargs: s.nargs as u8,
            name: s.name,
        })
        .collect()
}

/// Every function with an skb among its first five parameters.
pub fn skb_functions(btf: &Btf) -> Vec<Target> {
    btf.skb_functions()
        .into_iter()
        .map(|s| Target {
            reason_arg: s.drop_reasons.first().copied().map(arg),
            skb_arg: arg(s.skb),
            module: None,
            address: None,
            name: s.name,
        })
        .collect()
}
