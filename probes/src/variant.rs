//! Which program variant serves which target: the one table of argument positions the BPF programs read.
//!
//! `bpf/kprobe.c` and `bpf/tracepoint.c` define one program per entry (`kprobe_skb_0`, `kprobe_multi_skb_0`,
//! `kprobe_skb_1_reason_2`, `tp_btf_skb_0`, `raw_tp_skb_0_reason_2`, ...: positions counted from 0, as
//! [`ArgIndex`]); a unit test checks that the object has a program for every entry.
use crate::config::{ArgIndex, Target, TracepointTarget};
use crate::contract::cookie;
use crate::error::{ConfigError, ProbeError};

/// A program variant: where it reads the skb and, if anywhere, the drop reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Variant {
    pub skb: u8,
    pub reason: Option<u8>,
}

const fn v(skb: u8, reason: Option<u8>) -> Variant {
    Variant { skb, reason }
}

/// kprobe programs read arguments from registers: the first five parameters. Reasons: `kfree_skb_reason(skb,
/// reason)` and, on 6.11+, `sk_skb_reason_drop(sk, skb, reason)`.
const KPROBE: [Variant; 7] = [
    v(0, None),
    v(1, None),
    v(2, None),
    v(3, None),
    v(4, None),
    v(0, Some(1)),
    v(1, Some(2)),
];

/// Tracepoint programs read the first five arguments. Reason: `skb:kfree_skb(skb, location, reason, ...)`.
const TRACEPOINT: [Variant; 6] = [
    v(0, None),
    v(1, None),
    v(2, None),
    v(3, None),
    v(4, None),
    v(0, Some(2)),
];

impl Variant {
    /// The program name's suffix: `skb_1`, `skb_0_reason_1`.
    pub(crate) fn suffix(self) -> String {
        match self.reason {
            None => format!("skb_{}", self.skb),
            Some(r) => format!("skb_{}_reason_{r}", self.skb),
        }
    }
}

impl Variant {
    /// The BPF cookie that makes the one-program-per-backend programs (`kprobe_cookie`, `kprobe_multi_cookie`,
    /// `raw_tp_cookie`; `enum pwru_cookie`) behave as this variant for target `id`.
    pub(crate) fn cookie(self, id: u32) -> u64 {
        let plus1 = |p: Option<u8>| p.map_or(0, |p| u64::from(p) + 1);
        (u64::from(id) << cookie::ID_SHIFT)
            | (u64::from(self.skb) << cookie::SKB_SHIFT)
            | (plus1(self.reason) << cookie::REASON_SHIFT)
    }

    /// [`Variant::cookie`] for a tracepoint: `skb:kfree_skb(skb, location, reason)`, the only tracepoint read
    /// with a reason, reports `location` as the caller (as `tp_btf_skb_0_reason_2` does), and `untrack` asks to
    /// forget the skb after the event.
    pub(crate) fn tracepoint_cookie(self, id: u32, untrack: bool) -> u64 {
        let caller = if self.reason.is_some() { 1u64 + 1 } else { 0 };
        self.cookie(id)
            | (caller << cookie::CALLER_SHIFT)
            | if untrack { cookie::UNTRACK } else { 0 }
    }
}

/// The variant reading both positions when there is one, else the one reading only the skb (a reason nobody
/// reads is left out), else none.
fn pick(table: &[Variant], skb: ArgIndex, reason: Option<ArgIndex>) -> Option<Variant> {
    let exact = v(skb.0, reason.map(|r| r.0));
    let plain = v(skb.0, None);
    [exact, plain].into_iter().find(|w| table.contains(w))
}

/// The kprobe (and kprobe-multi) variant for a function.
pub(crate) fn kprobe(skb: ArgIndex, reason: Option<ArgIndex>) -> Option<Variant> {
    pick(&KPROBE, skb, reason)
}

/// The tracepoint (tp_btf and raw_tp) variant for a tracepoint.
pub(crate) fn tracepoint(skb: ArgIndex, reason: Option<ArgIndex>) -> Option<Variant> {
    pick(&TRACEPOINT, skb, reason)
}

/// [`kprobe`] for a target, or the configuration error.
pub(crate) fn kprobe_variant(t: &Target) -> Result<Variant, ProbeError> {
    kprobe(t.skb_arg, t.reason_arg).ok_or_else(|| no_program("function", &t.name, t.skb_arg))
}

/// [`tracepoint`] for a target, or the configuration error.
pub(crate) fn tracepoint_variant(t: &TracepointTarget) -> Result<Variant, ProbeError> {
    tracepoint(t.skb_arg, t.reason_arg).ok_or_else(|| no_program("tracepoint", &t.name, t.skb_arg))
}

fn no_program(kind: &'static str, name: &str, skb: ArgIndex) -> ProbeError {
    ConfigError::NoProgram {
        kind,
        name: name.to_string(),
        skb,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_read_only_where_a_program_reads_them() {
        let a = |n| Some(ArgIndex(n));
        assert_eq!(kprobe(ArgIndex(0), a(1)), Some(v(0, Some(1))));
        assert_eq!(kprobe(ArgIndex(1), a(2)), Some(v(1, Some(2))));
        assert_eq!(kprobe(ArgIndex(1), a(3)), Some(v(1, None)));
        assert_eq!(kprobe(ArgIndex(4), None), Some(v(4, None)));
        assert_eq!(kprobe(ArgIndex(5), None), None);
        assert_eq!(tracepoint(ArgIndex(0), a(2)), Some(v(0, Some(2))));
        assert_eq!(tracepoint(ArgIndex(0), a(1)), Some(v(0, None)));
        assert_eq!(tracepoint(ArgIndex(5), None), None);
        assert_eq!(v(1, Some(2)).suffix(), "skb_1_reason_2");
    }

    #[test]
    fn cookies_carry_the_positions_and_the_target() {
        assert_eq!(v(1, None).cookie(7), 7 << 32 | 1);
        assert_eq!(v(1, Some(2)).cookie(0), 3 << 8 | 1);
        assert_eq!(v(0, None).tracepoint_cookie(3, true), 3 << 32 | 1 << 24);
        // skb:kfree_skb: reason at 2, location (1) as the caller
        assert_eq!(
            v(0, Some(2)).tracepoint_cookie(1, false),
            1 << 32 | 2 << 16 | 3 << 8
        );
    }

    #[test]
    fn every_variant_has_its_programs() {
        let obj = aya_obj::Object::parse(crate::objects::object()).expect("parse the object");
        let mut want = Vec::new();
        for k in KPROBE {
            want.push(format!("kprobe_{}", k.suffix()));
            want.push(format!("kprobe_multi_{}", k.suffix()));
        }
        for t in TRACEPOINT {
            want.push(format!("tp_btf_{}", t.suffix()));
            want.push(format!("raw_tp_{}", t.suffix()));
        }
        for name in &want {
            assert!(obj.programs.contains_key(name), "no program {name}");
        }
        // ...and every skb program of the object is in the table.
        for name in obj.programs.keys() {
            if name.contains("_skb_") {
                assert!(want.contains(name), "program {name} is in no variant table");
            }
        }
    }
}
