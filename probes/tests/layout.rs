//! `struct event` (bpf/event.h) as the compiled objects describe it in their BTF must match `RawEvent`
//! member for member: same names, same byte offsets, same size. Reads both committed objects (x86 and arm64)
//! with a small BTF reader of its own.
use object::{Object, ObjectSection};
use probes::RawEvent;
use std::collections::BTreeMap;
use std::mem::{offset_of, size_of};

fn u32_at(d: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(d[off..off + 4].try_into().unwrap())
}

/// (size, member name -> byte offset) of the struct called `want` in raw BTF.
fn btf_struct(btf: &[u8], want: &str) -> Option<(u32, BTreeMap<String, u32>)> {
    assert_eq!(u16::from_le_bytes([btf[0], btf[1]]), 0xeb9f, "BTF magic");
    let hdr = u32_at(btf, 4) as usize;
    let (type_off, type_len) = (u32_at(btf, 8) as usize, u32_at(btf, 12) as usize);
    let str_off = u32_at(btf, 16) as usize;
    let strings = &btf[hdr + str_off..];
    let name = |off: u32| -> String {
        let s = &strings[off as usize..];
        String::from_utf8_lossy(&s[..s.iter().position(|&c| c == 0).unwrap()]).into_owned()
    };
    let types = &btf[hdr + type_off..hdr + type_off + type_len];
    let mut p = 0;
    while p < types.len() {
        let name_off = u32_at(types, p);
        let info = u32_at(types, p + 4);
        let size = u32_at(types, p + 8);
        let kind = (info >> 24) & 0x1f;
        let vlen = (info & 0xffff) as usize;
        let kflag = info >> 31 == 1;
        p += 12;
        let extra = match kind {
            1 | 14 | 17 => 4,
            3 => 12,
            4 | 5 | 15 | 19 => vlen * 12,
            6 | 13 => vlen * 8,
            _ => 0,
        };
        if kind == 4 && name(name_off) == want {
            let mut members = BTreeMap::new();
            for m in 0..vlen {
                let q = p + m * 12;
                let mut bits = u32_at(types, q + 8);
                if kflag {
                    bits &= 0x00ff_ffff;
                }
                assert_eq!(bits % 8, 0, "member at a bit offset");
                members.insert(name(u32_at(types, q)), bits / 8);
            }
            return Some((size, members));
        }
        p += extra;
    }
    None
}

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
    let (size, members) = btf_struct(btf, "event").expect("struct event in BTF");
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
