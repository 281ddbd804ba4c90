//! kallsyms and available_filter_functions parsing on small texts in the kernel's formats.

use std::path::Path;

use symbols::{Btf, Kallsyms, SymbolsError, TraceSource, Traceable, skb_functions_with};

const KALLSYMS: &str = "\
ffffffff81000000 T _text
ffffffff81ff6270 t __pfx_ip_rcv
ffffffff81ff6280 T ip_rcv
ffffffff81ff6280 t ip_rcv_alias
ffffffff81ff6400 t ip_rcv_finish
ffffffff82000000 D some_data
ffffffff81ff7000 W weak_fn
ffffffffc0a01000 t veth_xmit\t[veth]
ffffffffc0a01200 t veth_poll\t[veth]
ffffffffc0b00000 t dup_name\t[mod_b]
ffffffffc0a02000 t dup_name\t[veth]
ffffffff81ff8000 t dup_name
ffffffffc0c00000 t bpf_prog_6deef7357e7b4530_handle\t[bpf]
";

#[test]
fn kallsyms_resolve_and_address() {
    let k = Kallsyms::parse(KALLSYMS).unwrap();
    assert!(!k.addresses_hidden());
    assert_eq!(k.len(), 12, "the D symbol is not text");
    let ip = k.address("ip_rcv").unwrap();
    assert_eq!(ip, 0xffffffff81ff6280);
    // An alias at the same address: the global one names it.
    assert_eq!(k.resolve(ip).unwrap().to_string(), "ip_rcv+0x0");
    assert_eq!(k.resolve(ip + 5).unwrap().to_string(), "ip_rcv+0x5");
    assert_eq!(k.resolve(ip - 1).unwrap().to_string(), "__pfx_ip_rcv+0xf");
    assert_eq!(
        k.resolve(0xffffffff81ff6410).unwrap().to_string(),
        "ip_rcv_finish+0x10"
    );
    let v = k.resolve(0xffffffffc0a01010).unwrap();
    assert_eq!(
        (v.name, v.offset, v.module),
        ("veth_xmit", 0x10, Some("veth"))
    );
    assert_eq!(format!("{v:#}"), "veth_xmit+0x10 [veth]");
    assert_eq!(format!("{v}"), "veth_xmit+0x10");
    assert_eq!(k.resolve(0xffffffffc0c00042).unwrap().module, Some("bpf"));
    assert!(k.resolve(0x1000).is_none(), "below every symbol");
    assert!(
        k.resolve(0xffffffff81ff8000 + (2 << 20)).is_none(),
        "far past the last symbol of a region"
    );
    assert_eq!(k.address("weak_fn"), Some(0xffffffff81ff7000));
    assert_eq!(k.address("some_data"), None);
    assert_eq!(k.address("nope"), None);
    // vmlinux's copy first, then modules by name order of first appearance, each by address.
    assert_eq!(k.address("dup_name"), Some(0xffffffff81ff8000));
    assert_eq!(
        k.address_in("dup_name", Some("veth")),
        Some(0xffffffffc0a02000)
    );
    assert_eq!(
        k.address_in("dup_name", Some("mod_b")),
        Some(0xffffffffc0b00000)
    );
    assert_eq!(k.address_in("veth_xmit", None), None);
    assert_eq!(k.addresses("dup_name").len(), 3);
}

#[test]
fn kallsyms_retain_keeps_only_the_named_functions() {
    let k = Kallsyms::parse(KALLSYMS).unwrap();
    let small = k.retain(|name, module| {
        matches!(
            (name, module),
            ("ip_rcv", None) | ("veth_xmit", Some("veth"))
        )
    });
    assert_eq!(small.len(), 2);
    assert_eq!(small.resolve(0xffffffff81ff6280).unwrap().name, "ip_rcv");
    let v = small.resolve(0xffffffffc0a01000).unwrap();
    assert_eq!((v.name, v.module), ("veth_xmit", Some("veth")));
    assert_eq!(
        small.address_in("veth_xmit", Some("veth")),
        Some(0xffffffffc0a01000)
    );
    assert_eq!(small.address("ip_rcv_finish"), None);
}

#[test]
fn kallsyms_hidden_addresses() {
    let text = "0000000000000000 T ip_rcv\n0000000000000000 t veth_xmit\t[veth]\n";
    let k = Kallsyms::parse(text).unwrap();
    assert!(k.addresses_hidden());
    assert_eq!(k.address("ip_rcv"), None);
    assert!(k.resolve(0).is_none());
    let t = Traceable::from_kallsyms(text, Path::new("/proc/kallsyms"));
    assert!(t.contains("ip_rcv", None));
    assert!(t.contains("veth_xmit", Some("veth")));
    assert!(
        t.warnings.iter().any(|w| w.contains("zero addresses")),
        "{:?}",
        t.warnings
    );
}

#[test]
fn kallsyms_fallback_leaves_out_tracing_plumbing_and_blacklist() {
    let text = "\
ffffffff81000000 t __bpf_trace_kfree_skb
ffffffff81000100 T __traceiter_kfree_skb
ffffffff81000200 t perf_trace_kfree_skb
ffffffff81000300 t trace_event_raw_event_kfree_skb
ffffffff81000400 T kfree_skb_list_reason
ffffffff81000500 T do_int3
ffffffff821ecb80 T __noinstr_text_start
ffffffff821ecb90 t noinstr_fn
ffffffff821f4c05 T __noinstr_text_end
ffffffff83783000 T _sinittext
ffffffff83783010 t ip_init_only
ffffffff837f8910 T _einittext
ffffffffc0000000 t veth_blocked\t[veth]
ffffffffc0000100 t veth_xmit\t[veth]
";
    let mut t = Traceable::from_kallsyms(text, Path::new("/proc/kallsyms"));
    assert_eq!(t.len(), 6, "4 functions, __noinstr_text_end and _einittext");
    assert!(t.contains("kfree_skb_list_reason", None));
    assert!(
        !t.contains("ip_init_only", None),
        "init text is freed after boot"
    );
    assert!(!t.contains("__bpf_trace_kfree_skb", None));
    assert!(!t.contains("perf_trace_kfree_skb", None));
    let blacklist = "0xffffffff81000500-0xffffffff81000600\tdo_int3\n0xffffffffc0000000-0xffffffffc0000010\tveth_blocked [veth]\n";
    // The same rules apply when the list comes from a parsed kallsyms table.
    let table = Traceable::from_kallsyms_table(
        &Kallsyms::parse(text).unwrap(),
        Path::new("/proc/kallsyms"),
    );
    assert_eq!(table.len(), t.len());
    for name in ["kfree_skb_list_reason", "do_int3", "_einittext"] {
        assert!(table.contains(name, None), "{name}");
    }
    assert!(
        !table.contains("ip_init_only", None) && !table.contains("__traceiter_kfree_skb", None)
    );
    assert!(table.contains("veth_xmit", Some("veth")));
    assert_eq!(t.remove_kprobe_blacklist(blacklist), 2);
    assert!(!t.contains("do_int3", None));
    assert!(!t.contains("veth_blocked", Some("veth")));
    assert!(t.contains("veth_xmit", Some("veth")));
}

#[test]
fn kallsyms_bad_lines() {
    for (text, want) in [
        ("zzzz T f\n", "line 1: address is not hex"),
        ("ffff T\n", "line 1"),
        ("1 T f\n2 t g junk\n", "line 2: bad module"),
    ] {
        let err = Kallsyms::parse(text).unwrap_err();
        assert!(matches!(err, SymbolsError::BadKallsyms { .. }));
        assert!(err.to_string().contains(want), "{err} vs {want}");
    }
}

#[test]
fn available_filter_functions_formats() {
    let text = "\
ip_rcv
ip_rcv_finish
veth_xmit [veth]
ffffffff81ff6280 tcp_v4_rcv
ffffffffc0a01000 veth_poll [veth]
";
    let t = Traceable::from_available_filter_functions(
        text,
        Path::new("/sys/kernel/tracing/available_filter_functions"),
    );
    assert!(t.contains("ip_rcv", None));
    assert!(t.contains("tcp_v4_rcv", None));
    assert!(t.contains("veth_xmit", Some("veth")));
    assert!(t.contains("veth_poll", Some("veth")));
    assert!(
        !t.contains("veth_xmit", None),
        "a module function is not a vmlinux one"
    );
    assert!(!t.contains("ip_rcv", Some("veth")));
    assert_eq!(t.len(), 5);
    assert!(t.warnings.is_empty());
    assert_eq!(t.modules().collect::<Vec<_>>(), vec!["veth"]);
}

#[test]
fn discovery_keeps_only_probeable_functions() {
    use testkit::btf::write::*;
    let Base { mut b, skb_ptr, .. } = base().with_ip_rcv();
    b.func_with("inlined_fn", &[skb_ptr]);
    let mut m = BtfBuilder::split(&b);
    m.func_with("veth_xmit", &[skb_ptr]);
    m.func_with("veth_notrace", &[skb_ptr]);
    let mut btf = Btf::from_bytes(b.build()).unwrap();
    btf.add_module("veth", m.build()).unwrap();
    let t = Traceable::from_available_filter_functions(
        "ip_rcv\nip_rcv_finish\nveth_xmit [veth]\nveth_notrace\n",
        Path::new("/x/available_filter_functions"),
    );
    let d = skb_functions_with(&btf, None, &t);
    let got: Vec<String> = d.funcs.iter().map(|f| f.display_name()).collect();
    assert_eq!(got, vec!["ip_rcv", "ip_rcv_finish", "veth_xmit [veth]"]);
    assert_eq!((d.total_btf, d.not_traceable), (5, 2));
    assert_eq!(
        d.source,
        TraceSource::AvailableFilterFunctions("/x/available_filter_functions".into())
    );
}
