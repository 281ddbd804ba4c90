//! The BTF blobs the tests run on: committed kernel subsets and a hand-built one with every edge case.

use symbols::Btf;
use testkit::btf::{BtfBuilder, CONST, STRUCT, UNION, VOLATILE};

pub fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("tests/data/{name}: {e}"))
}

/// A BTF the tests run on: (label, btf, [(root name, struct)]).
pub type Corpus = (&'static str, Btf, Vec<(&'static str, &'static str)>);

/// The BTFs the tests run on, with the roots they use.
pub fn corpora() -> Vec<Corpus> {
    let kernel = |f: &str| Btf::from_bytes(data(f)).unwrap();
    vec![
        (
            "6.18",
            kernel("kernel-6.18.btf"),
            vec![("skb", "sk_buff"), ("xdp", "xdp_buff")],
        ),
        (
            "6.1",
            kernel("debian-6.1.btf"),
            vec![("skb", "sk_buff"), ("xdp", "xdp_buff")],
        ),
        (
            "edge",
            Btf::from_bytes(edge_btf()).unwrap(),
            vec![("e", "edge")],
        ),
    ]
}

/// A hand-built BTF with what real kernels have little or none of: signed bitfields, bitfields spanning 3-8
/// bytes, old-style (INT-encoded) bitfields, enum64, signed and 1-byte enums, `__be` typedefs, qualifier
/// chains, nested anonymous members, pointers to scalars, flexible arrays, forward declarations, a float.
pub fn edge_btf() -> Vec<u8> {
    let mut b = BtfBuilder::new();
    let u8_ = b.int_encoded("unsigned char", 1, 0, 0, 8);
    let s8 = b.int_encoded("signed char", 1, 1, 0, 8);
    let char_ = b.int_encoded("char", 1, 2, 0, 8);
    let u16_ = b.int_encoded("short unsigned int", 2, 0, 0, 16);
    let s16 = b.int_encoded("short int", 2, 1, 0, 16);
    let u32_ = b.int_encoded("unsigned int", 4, 0, 0, 32);
    let s32 = b.int_encoded("int", 4, 1, 0, 32);
    let u64_ = b.int_encoded("long long unsigned int", 8, 0, 0, 64);
    let s64 = b.int_encoded("long long int", 8, 1, 0, 64);
    let bool_ = b.int_encoded("_Bool", 1, 4, 0, 8);
    let float = b.float("float", 4);
    let td_u16 = b.typedef("__u16", u16_);
    let be16 = b.typedef("__be16", td_u16);
    let td_u32 = b.typedef("__u32", u32_);
    let be32 = b.typedef("__be32", td_u32);
    let be64 = b.typedef("__be64", u64_);
    let c = b.modifier(CONST, u32_);
    let cv = b.modifier(VOLATILE, c);
    let cvu32 = b.typedef("cvu32", cv);
    let e64 = b.enum_sized(
        "big",
        8,
        false,
        &[("BIG_A", 1), ("BIG_B", 0x1_0000_0000), ("BIG_C", -1)],
    );
    let es = b.enum_sized("neg", 4, true, &[("NEG_A", -5), ("NEG_B", 0), ("NEG_C", 7)]);
    let e1 = b.enum_sized("tiny", 1, false, &[("TINY_A", 0), ("TINY_B", 200)]);
    // Old-style bitfields: no kind flag, the width sits in the INT.
    let o4 = b.int_encoded("unsigned int", 4, 0, 0, 4);
    let o7 = b.int_encoded("int", 4, 1, 0, 7);
    let old = b.composite(STRUCT, "old", 4, &[("o1", o4, 0, 0), ("o2", o7, 4, 0)]);
    let pair = b.composite(STRUCT, "", 4, &[("ax", u16_, 0, 0), ("ay", u16_, 16, 0)]);
    let anon = b.composite(UNION, "", 4, &[("au", u32_, 0, 0), ("", pair, 0, 0)]);
    let inner = b.composite(STRUCT, "inner", 8, &[("x", u32_, 0, 0), ("y", s8, 32, 0)]);
    let arr_u16 = b.array(u16_, u32_, 3);
    let arr_inner = b.array(inner, u32_, 2);
    let name8 = b.array(char_, u32_, 8);
    let flex = b.array(u8_, u32_, 0);
    let charp = b.ptr(char_);
    let u32p = b.ptr(u32_);
    let opaque = b.fwd("opaque", false);
    let opaquep = b.ptr(opaque);
    let voidp = b.ptr(0);
    let innerp = b.ptr(inner);
    let edge_id = b.next_id() + 1;
    let edgep = b.ptr(edge_id);
    let edge = b.composite(
        STRUCT,
        "edge",
        180,
        &[
            ("a", u8_, 0, 0),
            ("b", s8, 8, 0),
            ("c", u16_, 16, 0),
            ("d", s16, 32, 0),
            ("f", s32, 64, 0),
            ("g", u64_, 128, 0),
            ("h", s64, 192, 0),
            ("bf1", u32_, 256, 3),
            ("bf2", s32, 259, 5),
            ("bf3", u64_, 264, 33),
            ("bf4", s64, 300, 60),
            ("ee", es, 360, 4),
            ("bb", bool_, 368, 0),
            ("ol", old, 384, 0),
            ("be16", be16, 448, 0),
            ("be32", be32, 480, 0),
            ("be64", be64, 512, 0),
            ("e64", e64, 576, 0),
            ("en", es, 640, 0),
            ("e1", e1, 672, 0),
            ("", anon, 704, 0),
            ("cv", cvu32, 736, 0),
            ("name", name8, 768, 0),
            ("str", charp, 832, 0),
            ("next", edgep, 896, 0),
            ("op", opaquep, 960, 0),
            ("arr", arr_u16, 1024, 0),
            ("inn", arr_inner, 1088, 0),
            ("vp", voidp, 1216, 0),
            ("pi", u32p, 1280, 0),
            ("ip", innerp, 1344, 0),
            ("fl", float, 1408, 0),
            ("flex", flex, 1440, 0),
        ],
    );
    assert_eq!(edge, edge_id);
    b.build()
}
