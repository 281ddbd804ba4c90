//! The BPF contract as the compiled objects describe it in their BTF must match its Rust mirror: `struct event`
//! (bpf/event.h) and `RawEvent` member for member (names, byte offsets, size), and every shared C enum
//! (bpf/event.h, bpf/contract.h, bpf/filter.h) constant for constant. Reads both committed objects (x86 and arm64)
//! with a small BTF reader of its own.
use object::{Object, ObjectSection};
use probes::RawEvent;
use probes::contract::{self, counter};
use probes::event::*;
use std::collections::BTreeMap;
use std::mem::{offset_of, size_of};

fn u32_at(d: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(d[off..off + 4].try_into().unwrap())
}

/// One named BTF type: (kind, size, members or enumerators as name -> byte offset or value).
type BtfType = (u32, u32, BTreeMap<String, u64>);

/// The struct or enum called `want` in raw BTF.
fn btf_type(btf: &[u8], want: &str) -> Option<BtfType> {
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
        if matches!(kind, 4 | 6 | 19) && name(name_off) == want {
            let mut members = BTreeMap::new();
            for m in 0..vlen {
                let (n, v) = match kind {
                    4 => {
                        let q = p + m * 12;
                        let mut bits = u32_at(types, q + 8);
                        if kflag {
                            bits &= 0x00ff_ffff;
                        }
                        assert_eq!(bits % 8, 0, "member at a bit offset");
                        (u32_at(types, q), bits as u64 / 8)
                    }
                    6 => (
                        u32_at(types, p + m * 8),
                        u32_at(types, p + m * 8 + 4) as u64,
                    ),
                    _ => {
                        let q = p + m * 12;
                        let v = u32_at(types, q + 4) as u64 | (u32_at(types, q + 8) as u64) << 32;
                        (u32_at(types, q), v)
                    }
                };
                members.insert(name(n), v);
            }
            return Some((kind, size, members));
        }
        p += extra;
    }
    None
}

fn rust_layout() -> BTreeMap<String, u64> {
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
    .map(|(n, o)| (n.to_string(), o as u64))
    .collect()
}

/// The Rust side of each shared C enum: (enum name, constants).
fn rust_enums() -> Vec<(&'static str, BTreeMap<String, u64>)> {
    let m = |pairs: &[(&str, u64)]| pairs.iter().map(|&(n, v)| (n.to_string(), v)).collect();
    vec![
        (
            "pwru_event_flag",
            m(&[
                ("EV_HAS_TUPLE", EV_HAS_TUPLE.into()),
                ("EV_HAS_REASON", EV_HAS_REASON.into()),
                ("EV_HAS_CALLER", EV_HAS_CALLER.into()),
                ("EV_HAS_STACK", EV_HAS_STACK.into()),
                ("EV_IPV6", EV_IPV6.into()),
                ("EV_TRACKED", EV_TRACKED.into()),
            ]),
        ),
        (
            "pwru_event_kind",
            m(&[
                ("EV_KIND_KPROBE", EV_KIND_KPROBE.into()),
                ("EV_KIND_TRACEPOINT", EV_KIND_TRACEPOINT.into()),
            ]),
        ),
        (
            "pwru_counter",
            m(&[
                ("CNT_PRODUCED", counter::PRODUCED.into()),
                ("CNT_LOST", counter::LOST.into()),
                ("CNT_TRACK_FULL", counter::TRACK_FULL.into()),
                ("CNT_MAX", counter::COUNT.into()),
            ]),
        ),
        (
            "pwru_tp_id",
            m(&[
                ("TP_ID_MARKER", contract::TP_ID_MARKER as u64),
                ("TP_ID_UNTRACK", contract::TP_ID_UNTRACK.into()),
            ]),
        ),
        (
            "pwru_filter_abi",
            m(&[("FILTER_BUF_SIZE", pcap_filter::FILTER_BUF_SIZE.into())]),
        ),
    ]
}

fn check(path: &str) {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let file = object::File::parse(&*data).unwrap();
    let btf = file
        .section_by_name(".BTF")
        .expect(".BTF section")
        .data()
        .unwrap();
    let (_, size, members) = btf_type(btf, "event").expect("struct event in BTF");
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
    for (name, want) in rust_enums() {
        let (kind, _, got) =
            btf_type(btf, name).unwrap_or_else(|| panic!("{path}: enum {name} in BTF"));
        assert!(matches!(kind, 6 | 19), "{path}: {name} is not an enum");
        assert_eq!(got, want, "{path}: enum {name} vs its Rust mirror");
    }
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
