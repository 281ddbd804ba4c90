//! The BTF parser and what pwru reads from it: skb functions, skb tracepoints, drop-reason names.
//! Input: base BTF (raw or in an ELF), or, when the first byte is odd, a 2-byte little-endian length L, L bytes of
//! base BTF, then a module's split BTF on top of it.

use symbols::{Btf, DropReasons, skb_functions_in_btf, skb_tracepoints_with};

fn run(btf: &Btf) {
    let funcs = skb_functions_in_btf(btf, None);
    for f in &funcs {
        let _ = f.display_name();
    }
    for t in skb_tracepoints_with(btf, None) {
        let _ = t.display_name();
    }
    let reasons = DropReasons::from_btf(btf);
    for (code, _) in reasons.iter() {
        let _ = reasons.describe(code);
    }
    let _ = reasons.describe(u32::MAX);
    let _ = reasons.subsystem(reasons.subsys_mask());
}

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Some((&first, rest)) = data.split_first() else {
            return;
        };
        if first & 1 == 0 {
            if let Ok(btf) = Btf::from_bytes(rest.to_vec()) {
                run(&btf);
            }
            return;
        }
        if rest.len() < 2 {
            return;
        }
        let l = (u16::from_le_bytes([rest[0], rest[1]]) as usize).min(rest.len() - 2);
        let (base, module) = rest[2..].split_at(l);
        if let Ok(mut btf) = Btf::from_bytes(base.to_vec()) {
            if btf.add_module("fuzz_mod", module.to_vec()).is_ok() {
                assert_eq!(btf.modules(), ["fuzz_mod"]);
            }
            run(&btf);
        }
    });
}
