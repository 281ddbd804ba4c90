//! Corrupted BTF must give an error or a result, never a panic or a hang.

use proptest::prelude::*;
use symbols::{Btf, DropReasons, skb_functions_in_btf, skb_tracepoints_with};
use testkit::btf::write::*;

fn sample() -> (Vec<u8>, Vec<u8>) {
    let Base {
        mut b,
        skb_ptr,
        sock_ptr,
        reason,
        void_ptr,
        int,
        ..
    } = base();
    let td = b.typedef("skb_p", skb_ptr);
    b.func_with("f1", &[sock_ptr, td, reason]);
    b.func_with("f2", &[int, skb_ptr]);
    let proto = b.proto(0, &[void_ptr, skb_ptr, reason]);
    let p = b.ptr(proto);
    b.typedef("btf_trace_t1", p);
    b.enum64(
        "skb_drop_reason_subsys",
        &[
            ("SKB_DROP_REASON_SUBSYS_CORE", 0),
            ("SKB_DROP_REASON_SUBSYS_X", 1),
        ],
    );
    let mut m = BtfBuilder::split(&b);
    let s = m.structure("priv", 8, &[("a", int)]);
    let sp = m.ptr(s);
    m.func_with("m1", &[sp, skb_ptr]);
    m.enumeration("x_drop_reason", false, &[("X_DROP_A", 0x10001)]);
    (b.build(), m.build())
}

fn exercise(base: Vec<u8>, module: Option<Vec<u8>>) {
    let Ok(mut btf) = Btf::from_bytes(base) else {
        return;
    };
    if let Some(m) = module {
        let _ = btf.add_module("m", m);
    }
    let _ = skb_functions_in_btf(&btf, None);
    let _ = skb_tracepoints_with(&btf, None);
    let r = DropReasons::from_btf(&btf);
    let _ = r.describe(0x10001);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: testkit::proptest_cases(2000), ..ProptestConfig::default() })]

    #[test]
    fn corrupted_base(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let (mut base, module) = sample();
        for (i, v) in flips {
            let at = i.index(base.len());
            base[at] = v;
        }
        exercise(base, Some(module));
    }

    #[test]
    fn corrupted_module(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let (base, mut module) = sample();
        for (i, v) in flips {
            let at = i.index(module.len());
            module[at] = v;
        }
        exercise(base, Some(module));
    }

    #[test]
    fn truncated(cut in 0usize..2000) {
        let (base, module) = sample();
        let n = cut.min(base.len());
        exercise(base[..n].to_vec(), None);
        let m = cut.min(module.len());
        exercise(sample().0, Some(module[..m].to_vec()));
    }
}

#[test]
fn sample_is_valid() {
    let (base, module) = sample();
    let mut btf = Btf::from_bytes(base).unwrap();
    btf.add_module("m", module).unwrap();
    let names: Vec<String> = skb_functions_in_btf(&btf, None)
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, vec!["f1", "f2", "m1"]);
    assert_eq!(skb_tracepoints_with(&btf, None).len(), 1);
    assert_eq!(DropReasons::from_btf(&btf).describe(0x10001), "X_DROP_A");
}
