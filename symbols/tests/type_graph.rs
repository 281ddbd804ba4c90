//! The public type graph (`Btf::type_of`, `resolve`, members, enums, sizes) on hand-built blobs: both bitfield
//! encodings, typedef/qualifier chains and loops, anonymous members, enum signedness and ENUM64, forward
//! declarations, and module types that refer to vmlinux ones.

use symbols::{Btf, Member, Qualifier, Type, TypeId};
use testkit::btf::{BtfBuilder, CONST, STRUCT, UNION, VOLATILE};

fn composite(btf: &Btf, id: TypeId) -> symbols::Composite<'_> {
    match btf.type_of(id) {
        Some(Type::Composite(c)) => c,
        other => panic!("not a composite: {other:?}"),
    }
}

#[test]
fn members_bitfields_and_chains() {
    let mut b = BtfBuilder::new();
    let u32_ = b.int_encoded("unsigned int", 4, 0, 0, 32);
    let s8 = b.int_encoded("signed char", 1, 1, 0, 8);
    let c = b.modifier(CONST, u32_);
    let v = b.modifier(VOLATILE, c);
    let td = b.typedef("cvu32", v);
    let arr = b.array(s8, u32_, 6);
    let anon = b.composite(UNION, "", 4, &[("x", u32_, 0, 0), ("y", s8, 0, 0)]);
    let s = b.composite(
        STRUCT,
        "s",
        24,
        &[
            ("a", td, 0, 0),
            ("bf", u32_, 35, 3),
            ("arr", arr, 64, 0),
            ("", anon, 128, 0),
        ],
    );
    // Old-style: no kind flag, width and offset in the INT.
    let o = b.int_encoded("unsigned int", 4, 0, 2, 5);
    let old = b.composite(STRUCT, "old", 4, &[("o", o, 8, 0)]);
    let btf = Btf::from_bytes(b.build()).unwrap();
    let id = |raw: u32| btf.types_named(if raw == s { "s" } else { "old" })[0];

    let st = composite(&btf, id(s));
    assert_eq!((st.name, st.size, st.is_union), ("s", 24, false));
    let names: Vec<&str> = st.members.iter().map(|m| m.name).collect();
    assert_eq!(names, ["a", "bf", "arr", ""]);
    assert_eq!(
        (st.members[1].bit_offset, st.members[1].bitfield_size),
        (35, 3)
    );
    assert_eq!(st.members[0].bitfield_size, 0);
    // const volatile typedef chain resolves to the int; the declared type keeps the typedef.
    let a = st.members[0].ty;
    assert!(matches!(
        btf.type_of(a),
        Some(Type::Typedef { name: "cvu32", .. })
    ));
    assert!(
        matches!(btf.type_of(btf.resolve(a)), Some(Type::Int(i)) if i.name == "unsigned int" && !i.signed)
    );
    let Some(Type::Typedef { target, .. }) = btf.type_of(a) else {
        unreachable!()
    };
    assert!(matches!(
        btf.type_of(target),
        Some(Type::Qualified {
            qualifier: Qualifier::Volatile,
            ..
        })
    ));
    assert_eq!(btf.size_of(st.members[2].ty), Some(6));
    assert!(matches!(
        btf.type_of(st.members[2].ty),
        Some(Type::Array { len: 6, .. })
    ));
    assert_eq!(btf.size_of(a), Some(4));
    assert_eq!(btf.size_of(id(s)), Some(24));
    let anon_c = composite(&btf, st.members[3].ty);
    assert!(anon_c.is_union && anon_c.name.is_empty());

    let o = composite(&btf, id(old));
    assert_eq!(
        o.members[0],
        Member {
            name: "o",
            ty: o.members[0].ty,
            bit_offset: 10,
            bitfield_size: 5
        },
        "old-style bitfields are normalised"
    );
    assert!(
        matches!(btf.type_of(o.members[0].ty), Some(Type::Int(i)) if i.bits == 5 && i.bit_offset == 2)
    );
    assert_eq!(btf.composite_named("s", false), Some(id(s)));
    assert_eq!(btf.composite_named("s", true), None);
}

#[test]
fn enums_and_forward_declarations() {
    let mut b = BtfBuilder::new();
    b.enum_sized("neg", 4, true, &[("NEG_A", -5), ("SHARED", 1)]);
    b.enum_sized("uns", 4, false, &[("UNS_A", 0xffff_fffe), ("SHARED", 1)]);
    b.enum_sized("tiny", 1, false, &[("TINY", 200)]);
    b.enum_sized("big", 8, true, &[("BIG_NEG", -2), ("BIG", 1 << 40)]);
    b.fwd("only_declared", false);
    let int = b.int_encoded("int", 4, 1, 0, 32);
    b.composite(STRUCT, "later", 4, &[("x", int, 0, 0)]);
    b.fwd("later", false);
    let btf = Btf::from_bytes(b.build()).unwrap();

    let neg = btf.enumerators_named("NEG_A");
    assert_eq!(neg.len(), 1);
    assert_eq!(neg[0].1 as i64, -5);
    assert!(
        matches!(btf.type_of(neg[0].0), Some(Type::Enum(e)) if e.signed && e.size == 4 && e.name == "neg")
    );
    assert_eq!(btf.enumerators_named("UNS_A")[0].1, 0xffff_fffe);
    assert_eq!(btf.enumerators_named("SHARED").len(), 2);
    assert!(btf.enumerators_named("MISSING").is_empty());
    let tiny = btf.enumerators_named("TINY")[0].0;
    assert_eq!(btf.size_of(tiny), Some(1));
    let big = btf.enumerators_named("BIG_NEG");
    assert_eq!(big[0].1 as i64, -2);
    assert_eq!(btf.enumerators_named("BIG")[0].1, 1 << 40);

    let fwd = btf.types_named("only_declared")[0];
    assert!(matches!(
        btf.type_of(fwd),
        Some(Type::Fwd {
            is_union: false,
            ..
        })
    ));
    assert_eq!(btf.size_of(fwd), None);
    assert_eq!(btf.composite_named("only_declared", false), None);
    // The complete struct wins over a later forward declaration of the same name.
    let later = btf.composite_named("later", false).unwrap();
    assert!(matches!(btf.type_of(later), Some(Type::Composite(_))));
    assert_eq!(btf.types_named("later").len(), 2);
}

#[test]
fn broken_chains_resolve_to_void() {
    let mut b = BtfBuilder::new();
    // typedef loop: 1 -> 2 -> 1
    b.typedef("a", 2);
    b.typedef("b", 1);
    b.typedef("dangling", 999);
    let btf = Btf::from_bytes(b.build()).unwrap();
    let a = btf.types_named("a")[0];
    assert_eq!(btf.resolve(a), TypeId::VOID);
    assert_eq!(btf.size_of(a), None);
    let d = btf.types_named("dangling")[0];
    assert_eq!(btf.resolve(d), TypeId::VOID);
    assert_eq!(btf.type_of(TypeId::VOID), Some(Type::Void));
}

#[test]
fn module_types_refer_to_vmlinux_ones() {
    let mut base = BtfBuilder::new();
    let int = base.int_encoded("int", 4, 1, 0, 32);
    let shared = base.composite(STRUCT, "shared", 4, &[("v", int, 0, 0)]);
    let mut m = BtfBuilder::split(&base);
    let p = m.ptr(shared);
    m.composite(STRUCT, "mod_only", 8, &[("s", p, 0, 0)]);
    let mut btf = Btf::from_bytes(base.build()).unwrap();
    btf.add_module("m", m.build()).unwrap();

    let mo = btf.composite_named("mod_only", false).unwrap();
    assert!(!mo.in_vmlinux());
    let c = composite(&btf, mo);
    let Some(Type::Ptr { target }) = btf.type_of(c.members[0].ty) else {
        panic!("pointer member")
    };
    assert!(
        target.in_vmlinux(),
        "a module's reference to a base id is the vmlinux type"
    );
    assert_eq!(target.raw(), shared);
    assert_eq!(btf.composite_named("shared", false), Some(target));
}
