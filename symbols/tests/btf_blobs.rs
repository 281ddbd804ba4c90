//! The tricky cases on small hand-built BTF blobs: typedef chains, two skb params, positions past 5, split BTF
//! ids and strings, enum64, tracepoint typedefs, drop reasons, ELF wrapping and malformed input.

use symbols::{
    Btf, DropReasons, FuncFilter, SkbFunc, SymbolsError, skb_functions_in_btf, skb_tracepoints_with,
};
use testkit::btf::write::*;

fn funcs(btf: &Btf) -> Vec<SkbFunc> {
    skb_functions_in_btf(btf, None)
}

fn find<'a>(fs: &'a [SkbFunc], name: &str) -> Option<&'a SkbFunc> {
    fs.iter().find(|f| f.name == name)
}

#[test]
fn skb_through_typedefs_and_qualifiers() {
    let Base {
        mut b, skb, int, ..
    } = base();
    // const struct sk_buff *
    let c = b.modifier(CONST, skb);
    let p1 = b.ptr(c);
    b.func_with("via_const", &[p1]);
    // typedef struct sk_buff *skb_p; volatile skb_p
    let raw_ptr = b.ptr(skb);
    let td = b.typedef("skb_p", raw_ptr);
    let vol = b.modifier(VOLATILE, td);
    b.func_with("via_typedef_ptr", &[int, vol]);
    // typedef struct sk_buff sk_t; restrict const sk_t * with a type tag on the pointee
    let td2 = b.typedef("sk_t", skb);
    let tag = b.type_tag("user", td2);
    let c2 = b.modifier(CONST, tag);
    let p2 = b.ptr(c2);
    let r = b.modifier(RESTRICT, p2);
    b.func_with("via_chain", &[int, int, r]);
    let btf = Btf::from_bytes(b.build()).unwrap();
    let fs = funcs(&btf);
    assert_eq!(find(&fs, "via_const").unwrap().skb_arg, 0);
    assert_eq!(find(&fs, "via_typedef_ptr").unwrap().skb_arg, 1);
    assert_eq!(find(&fs, "via_chain").unwrap().skb_arg, 2);
}

#[test]
fn not_an_skb_pointer() {
    let Base {
        mut b,
        skb,
        skb_ptr,
        int,
        ..
    } = base();
    b.func_with("by_value", &[skb]);
    let pp = b.ptr(skb_ptr);
    b.func_with("ptr_to_ptr", &[pp]);
    let u = b.union("sk_buff_u", 8, &[("a", int)]);
    let up = b.ptr(u);
    b.func_with("union_ptr", &[up]);
    let uf = b.fwd("sk_buff", true);
    let ufp = b.ptr(uf);
    b.func_with("fwd_union", &[ufp]);
    // a forward-declared struct sk_buff (as module BTF may have) counts
    let sf = b.fwd("sk_buff", false);
    let sfp = b.ptr(sf);
    b.func_with("fwd_struct", &[int, sfp]);
    let other = b.structure("sk_buff_head", 24, &[("x", int)]);
    let op = b.ptr(other);
    b.func_with("other_struct", &[op]);
    b.func_with("no_params", &[]);
    let btf = Btf::from_bytes(b.build()).unwrap();
    let names: Vec<String> = funcs(&btf).into_iter().map(|f| f.name).collect();
    assert_eq!(names, vec!["fwd_struct".to_string()]);
}

#[test]
fn first_skb_wins_and_reason_is_found_by_type() {
    let Base {
        mut b,
        skb_ptr,
        sock_ptr,
        reason,
        int,
        ..
    } = base();
    // (sock, skb, skb, reason): a second skb must not shift the reason position or the skb position
    b.func_with("two_skbs", &[sock_ptr, skb_ptr, skb_ptr, reason]);
    // reason through a typedef and const
    let td = b.typedef("reason_t", reason);
    let c = b.modifier(CONST, td);
    b.func_with("sk_skb_reason_drop_like", &[sock_ptr, skb_ptr, c]);
    b.func_with("kfree_skb_reason_like", &[skb_ptr, reason]);
    // an int is not a reason; an enum with another name is not either
    let other = b.enumeration("skb_drop_reason_subsys", false, &[("X", 0)]);
    b.func_with("no_reason", &[skb_ptr, int, other]);
    let btf = Btf::from_bytes(b.build()).unwrap();
    let fs = funcs(&btf);
    let two = find(&fs, "two_skbs").unwrap();
    assert_eq!((two.skb_arg, two.reason_arg), (1, Some(3)));
    let f = find(&fs, "sk_skb_reason_drop_like").unwrap();
    assert_eq!((f.skb_arg, f.reason_arg), (1, Some(2)));
    let f = find(&fs, "kfree_skb_reason_like").unwrap();
    assert_eq!((f.skb_arg, f.reason_arg), (0, Some(1)));
    assert_eq!(find(&fs, "no_reason").unwrap().reason_arg, None);
}

#[test]
fn positions_past_five_are_not_probeable() {
    let Base {
        mut b,
        skb_ptr,
        reason,
        int,
        ..
    } = base();
    b.func_with("at5", &[int, int, int, int, skb_ptr, reason]);
    b.func_with("at6", &[int, int, int, int, int, skb_ptr]);
    let btf = Btf::from_bytes(b.build()).unwrap();
    let fs = funcs(&btf);
    let at5 = find(&fs, "at5").unwrap();
    assert_eq!((at5.skb_arg, at5.reason_arg), (4, None));
    assert!(find(&fs, "at6").is_none());
}

#[test]
fn duplicate_names_are_listed_once() {
    let Base {
        mut b,
        skb_ptr,
        sock_ptr,
        ..
    } = base();
    b.func_with("dup", &[skb_ptr]);
    b.func_with("dup", &[sock_ptr, skb_ptr]);
    let btf = Btf::from_bytes(b.build()).unwrap();
    let fs = funcs(&btf);
    assert_eq!(fs.iter().filter(|f| f.name == "dup").count(), 1);
    assert_eq!(find(&fs, "dup").unwrap().skb_arg, 0);
}

#[test]
fn split_btf_ids_and_strings_continue_after_base() {
    let Base {
        mut b,
        skb_ptr,
        reason,
        ..
    } = base();
    b.func_with("base_fn", &[skb_ptr]);
    // Two modules built on the same base: their ids overlap each other, not the base.
    let mut m1 = BtfBuilder::split(&b);
    let dev = m1.structure("veth_priv", 16, &[]);
    let dev_ptr = m1.ptr(dev);
    m1.func_with("veth_xmit", &[skb_ptr, dev_ptr]);
    m1.func_with("veth_drop", &[dev_ptr, skb_ptr, reason]);
    let own_skb = m1.fwd("sk_buff", false);
    let own_skb_ptr = m1.ptr(own_skb);
    m1.func_with("veth_fwd", &[dev_ptr, dev_ptr, own_skb_ptr]);
    let mut m2 = BtfBuilder::split(&b);
    let t = m2.int("u8", 1);
    m2.func_with("other_rcv", &[t, skb_ptr]);
    // base_fn is also defined in m2 (a static copy): it stays listed per module.
    m2.func_with("base_fn", &[skb_ptr]);

    let mut btf = Btf::from_bytes(b.build()).unwrap();
    btf.add_module("veth", m1.build()).unwrap();
    btf.add_module("other", m2.build()).unwrap();
    assert_eq!(btf.modules(), vec!["veth", "other"]);
    let fs = funcs(&btf);
    let get = |name: &str, m: Option<&str>| {
        fs.iter()
            .find(|f| f.name == name && f.module.as_deref() == m)
            .unwrap_or_else(|| panic!("{name} {m:?}"))
    };
    assert_eq!(get("veth_xmit", Some("veth")).skb_arg, 0);
    assert_eq!(get("veth_drop", Some("veth")).reason_arg, Some(2));
    assert_eq!(get("veth_fwd", Some("veth")).skb_arg, 2);
    assert_eq!(get("other_rcv", Some("other")).skb_arg, 1);
    assert_eq!(get("base_fn", None).skb_arg, 0);
    assert_eq!(get("base_fn", Some("other")).skb_arg, 0);
    assert_eq!(fs.len(), 6);
    assert_eq!(
        get("veth_xmit", Some("veth")).display_name(),
        "veth_xmit [veth]"
    );
}

#[test]
fn enum64_and_signed_enums() {
    let Base { mut b, skb_ptr, .. } = base();
    let _ = skb_ptr;
    let mut b2 = BtfBuilder::new();
    let int = b2.int("int", 4);
    let skb = b2.structure("sk_buff", 8, &[("x", int)]);
    let sp = b2.ptr(skb);
    let r64 = b2.enum64(
        "skb_drop_reason",
        &[
            ("SKB_DROP_REASON_NOT_SPECIFIED", 1),
            ("SKB_DROP_REASON_NO_SOCKET", 2),
            ("SKB_DROP_REASON_HUGE", 1 << 40),
        ],
    );
    b2.func_with("drop64", &[sp, int, r64]);
    let btf = Btf::from_bytes(b2.build()).unwrap();
    let f = funcs(&btf);
    assert_eq!(f[0].reason_arg, Some(2));
    let r = DropReasons::from_btf(&btf);
    assert_eq!(r.name(2), Some("NO_SOCKET"));
    assert_eq!(r.name(1), Some("NOT_SPECIFIED"));
    assert_eq!(r.len(), 2, "a value past u32 is no drop-reason code");

    // Negative values in a signed ENUM do not wrap into plausible codes.
    let neg = b.enumeration(
        "skb_drop_reason_subsys",
        true,
        &[("SKB_DROP_REASON_SUBSYS_NEG", -1)],
    );
    let _ = neg;
    let btf = Btf::from_bytes(b.build()).unwrap();
    let r = DropReasons::from_btf(&btf);
    assert_eq!(r.subsystem(u32::MAX), Some("NEG"));
}

#[test]
fn drop_reason_names_and_subsystems() {
    let Base { mut b, .. } = base();
    b.enumeration(
        "skb_drop_reason_subsys",
        false,
        &[
            ("SKB_DROP_REASON_SUBSYS_CORE", 0),
            ("SKB_DROP_REASON_SUBSYS_MAC80211_UNUSABLE", 1),
            ("SKB_DROP_REASON_SUBSYS_OPENVSWITCH", 2),
            ("SKB_DROP_REASON_SUBSYS_NUM", 3),
        ],
    );
    let mut m = BtfBuilder::split(&b);
    m.enumeration(
        "ovs_drop_reason",
        false,
        &[
            ("__OVS_DROP_REASON", 2 << 16),
            ("OVS_DROP_LAST_ACTION", (2 << 16) + 1),
            ("OVS_DROP_ACTION_ERROR", (2 << 16) + 2),
        ],
    );
    // An unrelated enum with big values is not taken for drop reasons.
    m.enumeration("foo_flags", false, &[("FOO_BIG", 0x30001)]);
    let mut btf = Btf::from_bytes(b.build()).unwrap();
    btf.add_module("openvswitch", m.build()).unwrap();
    let r = DropReasons::from_btf(&btf);
    assert_eq!(r.name(0), Some("SKB_NOT_DROPPED_YET"));
    assert_eq!(r.name(1), Some("SKB_CONSUMED"));
    assert_eq!(r.name(3), Some("NO_SOCKET"));
    assert_eq!(r.name(4), None, "MAX is a sentinel");
    assert_eq!(r.name(0xffff0000), None, "SUBSYS_MASK is not a reason");
    assert_eq!(r.subsys_mask(), 0xffff0000);
    assert_eq!(r.len(), 4);
    assert_eq!(r.describe(3), "NO_SOCKET");
    assert_eq!(r.describe(77), "77");
    assert_eq!(r.describe((2 << 16) + 1), "OVS_DROP_LAST_ACTION");
    assert_eq!(r.describe((1 << 16) | 5), "MAC80211_UNUSABLE:0x5");
    assert_eq!(r.describe(0x30001), "196609");
    assert_eq!(r.subsystem(2), Some("OPENVSWITCH"));
    assert_eq!(
        r.iter().map(|(c, _)| c).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
}

#[test]
fn tracepoints_from_btf_trace_typedefs() {
    let Base {
        mut b,
        skb_ptr,
        void_ptr,
        reason,
        int,
        sock_ptr,
        ..
    } = base();
    let proto = b.proto(0, &[void_ptr, skb_ptr, void_ptr, reason, sock_ptr]);
    let p = b.ptr(proto);
    b.typedef("btf_trace_kfree_skb", p);
    let dev = b.structure("net_device", 8, &[("x", int)]);
    let devp = b.ptr(dev);
    let proto = b.proto(0, &[void_ptr, skb_ptr, int, devp, int]);
    let p = b.ptr(proto);
    b.typedef("btf_trace_net_dev_xmit", p);
    let proto = b.proto(0, &[void_ptr, devp, skb_ptr]);
    let p = b.ptr(proto);
    b.typedef("btf_trace_late_skb", p);
    let proto = b.proto(0, &[void_ptr, devp]);
    let p = b.ptr(proto);
    b.typedef("btf_trace_no_skb", p);
    // Not a tracepoint typedef (no btf_trace_ prefix), and a btf_trace_ typedef that is no pointer.
    let proto = b.proto(0, &[void_ptr, skb_ptr]);
    let p = b.ptr(proto);
    b.typedef("some_cb_t", p);
    b.typedef("btf_trace_weird", int);
    let btf = Btf::from_bytes(b.build()).unwrap();
    let tps = skb_tracepoints_with(&btf, None);
    let names: Vec<&str> = tps.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, vec!["kfree_skb", "late_skb", "net_dev_xmit"]);
    let k = &tps[0];
    assert_eq!(
        (k.skb_arg, k.reason_arg, k.nargs, k.system.as_deref()),
        (0, Some(2), 4, None)
    );
    assert_eq!((tps[1].skb_arg, tps[1].nargs), (1, 2));
    assert_eq!(
        (tps[2].skb_arg, tps[2].reason_arg, tps[2].nargs),
        (0, None, 4)
    );
}

#[test]
fn big_endian_blobs_parse() {
    let mut b = BtfBuilder::new().big_endian();
    let int = b.int("int", 4);
    let skb = b.structure("sk_buff", 8, &[("x", int)]);
    let sp = b.ptr(skb);
    b.func_with("be_fn", &[int, sp]);
    let btf = Btf::from_bytes(b.build()).unwrap();
    assert_eq!(funcs(&btf)[0].skb_arg, 1);
}

#[test]
fn elf_with_btf_section() {
    use object::write::{Object, StandardSegment};
    use object::{Architecture, BinaryFormat, Endianness, SectionKind};
    let Base { mut b, skb_ptr, .. } = base();
    b.func_with("in_elf", &[skb_ptr]);
    let blob = b.build();
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
    let id = obj.add_section(
        obj.segment_name(StandardSegment::Data).to_vec(),
        b".BTF".to_vec(),
        SectionKind::ReadOnlyData,
    );
    obj.append_section_data(id, &blob, 4);
    let elf = obj.write().unwrap();
    // From a file, only the section is read.
    let path = std::env::temp_dir().join(format!("btf-elf-{}", std::process::id()));
    std::fs::write(&path, &elf).unwrap();
    let from_file = Btf::load(Some(&path), &symbols::ModuleSel::None);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(from_file.unwrap().base_bytes(), &blob[..]);
    let btf = Btf::from_bytes(elf).unwrap();
    assert_eq!(funcs(&btf)[0].name, "in_elf");
    assert_eq!(btf.base_bytes(), &blob[..]);

    let mut obj = Object::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
    let id = obj.add_section(Vec::new(), b".text".to_vec(), SectionKind::Text);
    obj.append_section_data(id, &[0xc3], 1);
    let err = Btf::from_bytes(obj.write().unwrap()).unwrap_err();
    assert!(matches!(err, SymbolsError::NoBtfSection(_)), "{err}");
}

#[test]
fn malformed_blobs_are_errors_not_panics() {
    let Base { mut b, skb_ptr, .. } = base();
    b.func_with("f", &[skb_ptr]);
    let good = b.build();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![], "too short"),
        (vec![0u8; 24], "bad magic"),
        (good[..good.len() - 10].to_vec(), "runs past the end"),
        (
            {
                let mut v = good.clone();
                v[6] = 1; // header length 64 KiB: past the blob
                v
            },
            "header length",
        ),
        (
            {
                let mut c = BtfBuilder::new();
                c.raw("x", 25, 0, 0);
                c.build()
            },
            "unsupported BTF kind 25",
        ),
        (
            {
                let mut c = BtfBuilder::new();
                c.raw("s", STRUCT, 1000, 4); // claims 1000 members, has none
                c.build()
            },
            "runs past the type section",
        ),
    ];
    for (bytes, want) in cases {
        let err = Btf::from_bytes(bytes).unwrap_err().to_string();
        assert!(err.contains(want), "{err:?} should mention {want:?}");
        assert!(!err.contains('\n'));
    }
}

#[test]
fn dangling_ids_and_cycles_are_harmless() {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4);
    // typedef loop: a -> b -> a
    let a_id = b.next_id();
    b.typedef("loop_a", a_id + 1);
    b.typedef("loop_b", a_id);
    let lp = b.ptr(a_id);
    b.func_with("loops", &[lp, int]);
    b.func_with("dangling", &[9999, int]);
    b.raw("bad_func", FUNC, 0, 424242);
    let proto = b.proto(0, &[9999]);
    let p = b.ptr(proto);
    b.typedef("btf_trace_dangling", p);
    b.enumeration("skb_drop_reason", false, &[("SKB_DROP_REASON_X", 1)]);
    let btf = Btf::from_bytes(b.build()).unwrap();
    assert!(funcs(&btf).is_empty());
    assert!(skb_tracepoints_with(&btf, None).is_empty());
    assert_eq!(DropReasons::from_btf(&btf).name(1), Some("X"));
}

#[test]
fn filter_is_a_whole_name_match() {
    let Base { mut b, skb_ptr, .. } = base().with_ip_rcv();
    b.func_with("ipv6_rcv", &[skb_ptr]);
    let btf = Btf::from_bytes(b.build()).unwrap();
    let names = |expr: &str| -> Vec<String> {
        let f = FuncFilter::new(expr).unwrap();
        skb_functions_in_btf(&btf, Some(&f))
            .into_iter()
            .map(|f| f.name)
            .collect()
    };
    assert_eq!(names("ip_rcv"), vec!["ip_rcv"]);
    assert_eq!(names("rcv"), Vec::<String>::new());
    assert_eq!(names("ip_rcv|ipv6_rcv"), vec!["ip_rcv", "ipv6_rcv"]);
    assert_eq!(names("ip.*"), vec!["ip_rcv", "ip_rcv_finish", "ipv6_rcv"]);
    assert_eq!(names(".*_finish"), vec!["ip_rcv_finish"]);
    assert_eq!(
        names(""),
        vec!["ip_rcv", "ip_rcv_finish", "ipv6_rcv"],
        "empty = no filter"
    );
    let err = FuncFilter::new("ip_(rcv").unwrap_err().to_string();
    assert_eq!(err, "bad --filter-func regex 'ip_(rcv': unclosed group");
    let err = FuncFilter::new("a{99999999}").unwrap_err().to_string();
    assert!(
        err.starts_with("bad --filter-func regex 'a{99999999}': "),
        "{err}"
    );
    assert!(!err.contains('\n'), "{err}");
}

#[test]
fn btf_embedded_in_an_image() {
    let Base { mut b, skb_ptr, .. } = base();
    b.func_with("embedded_fn", &[skb_ptr]);
    let blob = b.build();
    // Junk, a decoy header whose sections run past the end, the real blob, more junk.
    let mut img = vec![0x11u8; 4096];
    img.extend_from_slice(&[0x9f, 0xeb, 1, 0, 24, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0]);
    img.extend_from_slice(&[0x22u8; 100]);
    img.extend_from_slice(&blob);
    img.extend_from_slice(&[0x33u8; 999]);
    let btf = Btf::from_bytes(img).unwrap();
    assert_eq!(btf.base_bytes(), &blob[..]);
    assert_eq!(funcs(&btf)[0].name, "embedded_fn");
    // Nothing embedded: the plain "bad magic" error.
    let err = Btf::from_bytes(vec![0x44u8; 5000]).unwrap_err().to_string();
    assert!(err.contains("bad magic"), "{err}");
}
