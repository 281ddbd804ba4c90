//! `struct event` (bpf/event.h) as the compiled objects describe it in their BTF must match `RawEvent`
//! member for member: same names, same byte offsets, same size. Reads both committed objects (x86 and arm64)
//! with testkit's BTF reader (independent of the loader's).
use object::{Object, ObjectSection};
use probes::RawEvent;
use std::collections::BTreeMap;
use std::mem::{offset_of, size_of};
use testkit::btf::Btf;

fn rust_layout() -> BTreeMap<String, u32> {
    macro_rules! fields {
        ($($f:ident),*) => { [$( (stringify!($f), offset_of!(RawEvent, $f)) ),*] };
    }
    fields!(
        ts_ns,
        skb,
        func_ip,
        caller_ip,
        probe_id,
        pid,
        cpu,
        netns,
        mark,
        ifindex,
        len,
        mtu,
        drop_reason,
        stack_id,
        protocol,
        sport,
        dport,
        pkt_type,
        l4_proto,
        tcp_flags,
        kind,
        flags,
        _pad,
        saddr,
        daddr,
        comm
    )
    .into_iter()
    .map(|(n, o)| (n.to_string(), o as u32))
    .collect()
}

fn check(path: &str) {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let file = object::File::parse(&*data).unwrap();
    let btf = file
        .section_by_name(".BTF")
        .expect(".BTF section")
        .data()
        .unwrap();
    let (size, members) = Btf::parse(btf)
        .struct_layout("event")
        .expect("struct event in BTF");
    assert_eq!(
        size as usize,
        size_of::<RawEvent>(),
        "{path}: sizeof(struct event)"
    );
    assert_eq!(
        members,
        rust_layout(),
        "{path}: struct event members vs RawEvent"
    );
}

#[test]
fn event_layout_matches_x86_object() {
    check(concat!(env!("CARGO_MANIFEST_DIR"), "/bpf/obj/pwru-x86.o"));
}

#[test]
fn event_layout_matches_arm64_object() {
    check(concat!(env!("CARGO_MANIFEST_DIR"), "/bpf/obj/pwru-arm64.o"));
}

#[test]
#[ignore = "needs Debian bookworm's clang: the objects must be byte-identical (tests/run.sh runs it)"]
fn build_is_reproducible() {
    let out = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/bpf/build.sh"))
        .arg("--check")
        .output()
        .expect("run bpf/build.sh --check");
    assert!(
        out.status.success(),
        "build.sh --check failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
