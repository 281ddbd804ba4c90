//! The BPF contract as the compiled objects describe it in their BTF must match its Rust mirror: every record
//! struct of bpf/event.h (`record_head`, `event`, `section_*`, `prog_ref`) member for member (names, byte
//! offsets, size), and every shared C enum (bpf/event.h, bpf/contract.h, bpf/filter.h) constant for constant. Reads both committed objects (x86 and arm64)
//! with testkit's BTF reader (independent of the loader's).
use object::{Object, ObjectSection};
use probes::contract::{self, counter, role};
use probes::event::*;
use std::collections::BTreeMap;
use std::mem::{offset_of, size_of};
use testkit::btf::Btf;

/// (C struct name, size, member name -> offset) of each Rust mirror.
fn rust_structs() -> Vec<(&'static str, usize, BTreeMap<String, u32>)> {
    macro_rules! layout {
        ($c:literal, $t:ty, $($f:ident),*) => {
            (
                $c,
                size_of::<$t>(),
                [$( (stringify!($f).to_string(), offset_of!($t, $f) as u32) ),*].into_iter().collect(),
            )
        };
    }
    vec![
        layout!("record_head", RecordHead, size, rtype, nsections, sections),
        layout!(
            "event",
            RawEvent,
            head,
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
        ),
        layout!("section_head", SectionHead, kind, flags, len),
        layout!("section_packet", PacketHead, orig_len, cap_len, start, _pad),
        layout!("section_dump", DumpHead, ret, what, _pad),
        layout!("section_skb_cb", SkbCb, cb),
        layout!("section_verdict", VerdictSection, retval, _pad),
        layout!("prog_ref", ProgRef, id, prog_type, refcnt),
        layout!(
            "section_tunnel",
            TunnelSection,
            kind,
            flags,
            l4_proto,
            tcp_flags,
            vni,
            sport,
            dport,
            _pad,
            saddr,
            daddr
        ),
        layout!(
            "section_map_op",
            MapOpSection,
            map_id,
            map_type,
            key_size,
            value_size,
            key_len,
            value_len,
            op,
            flags,
            _pad,
            name,
            data
        ),
    ]
}

/// The Rust side of each shared C enum: (enum name, constants).
fn rust_enums() -> Vec<(&'static str, BTreeMap<String, u64>)> {
    let m = |pairs: &[(&str, u64)]| pairs.iter().map(|&(n, v)| (n.to_string(), v)).collect();
    vec![
        (
            "pwru_record_type",
            m(&[
                ("REC_EVENT", REC_EVENT.into()),
                ("REC_MAP_OP", REC_MAP_OP.into()),
            ]),
        ),
        (
            "pwru_section_kind",
            m(&[
                ("SEC_PACKET", SEC_PACKET.into()),
                ("SEC_SKB_CB", SEC_SKB_CB.into()),
                ("SEC_VERDICT", SEC_VERDICT.into()),
                ("SEC_BTF_VALUES", SEC_BTF_VALUES.into()),
                ("SEC_BTF_DUMP", SEC_BTF_DUMP.into()),
                ("SEC_TUNNEL", SEC_TUNNEL.into()),
                ("SEC_MAP_OP", SEC_MAP_OP.into()),
            ]),
        ),
        (
            "pwru_section_flag",
            m(&[("SECF_CUT", SECF_CUT.into()), ("SECF_XDP", SECF_XDP.into())]),
        ),
        (
            "pwru_packet_start",
            m(&[
                ("PKT_START_L2", PKT_START_L2.into()),
                ("PKT_START_L3", PKT_START_L3.into()),
            ]),
        ),
        (
            "pwru_packet_abi",
            m(&[
                ("SNAPLEN_MAX", SNAPLEN_MAX.into()),
                ("MAPOP_KEY_MAX", MAPOP_KEY_MAX.into()),
                ("MAPOP_VALUE_MAX", MAPOP_VALUE_MAX.into()),
            ]),
        ),
        (
            "pwru_dump_what",
            m(&[
                ("DUMP_SKB", DUMP_SKB.into()),
                ("DUMP_SHINFO", DUMP_SHINFO.into()),
            ]),
        ),
        (
            "pwru_btf_abi",
            m(&[
                ("BTF_AREA_MAX", BTF_AREA_MAX.into()),
                ("DUMP_BUF_MAX", DUMP_BUF_MAX.into()),
            ]),
        ),
        (
            "pwru_event_flag",
            m(&[
                ("EV_HAS_TUPLE", EV_HAS_TUPLE.into()),
                ("EV_HAS_REASON", EV_HAS_REASON.into()),
                ("EV_HAS_CALLER", EV_HAS_CALLER.into()),
                ("EV_HAS_STACK", EV_HAS_STACK.into()),
                ("EV_IPV6", EV_IPV6.into()),
                ("EV_TRACKED", EV_TRACKED.into()),
                ("EV_IN_PROG", EV_IN_PROG.into()),
                ("EV_BY_STACK", EV_BY_STACK.into()),
            ]),
        ),
        (
            "pwru_event_kind",
            m(&[
                ("EV_KIND_KPROBE", EV_KIND_KPROBE.into()),
                ("EV_KIND_TRACEPOINT", EV_KIND_TRACEPOINT.into()),
                ("EV_KIND_TC", EV_KIND_TC.into()),
                ("EV_KIND_XDP", EV_KIND_XDP.into()),
            ]),
        ),
        (
            "pwru_counter",
            m(&[
                ("CNT_PRODUCED", counter::PRODUCED.into()),
                ("CNT_LOST", counter::LOST.into()),
                ("CNT_TRACK_FULL", counter::TRACK_FULL.into()),
                ("CNT_PROG_DEEP", counter::PROG_DEEP.into()),
                ("CNT_PACKETS", counter::PACKETS.into()),
                ("CNT_SUMMED", counter::SUMMED.into()),
                ("CNT_PATHS_FULL", counter::PATHS_FULL.into()),
                ("CNT_MAX", counter::COUNT.into()),
            ]),
        ),
        (
            "pwru_role",
            m(&[
                ("ROLE_DROP", role::DROP.into()),
                ("ROLE_REASONED_FREE", role::REASONED_FREE.into()),
                ("ROLE_FREES", role::FREES.into()),
                ("ROLE_STARTS_RELEASE", role::STARTS_RELEASE.into()),
                ("ROLE_RELEASE_STEP", role::RELEASE_STEP.into()),
                ("ROLE_STARTS_TX", role::STARTS_TX.into()),
                ("ROLE_STARTS_RX", role::STARTS_RX.into()),
                ("ROLE_HANDOFF", role::HANDOFF.into()),
                ("ROLE_SOCKET", role::SOCKET.into()),
                ("ROLE_RECEIVE", role::RECEIVE.into()),
                ("ROLE_LOCAL_OUT", role::LOCAL_OUT.into()),
            ]),
        ),
        (
            "pwru_summary_abi",
            m(&[("CONSUMED_CODES", contract::CONSUMED_CODES.into())]),
        ),
        (
            "pwru_tp_id",
            m(&[
                ("TP_ID_MARKER", contract::TP_ID_MARKER as u64),
                ("TP_ID_UNTRACK", contract::TP_ID_UNTRACK.into()),
            ]),
        ),
        (
            "pwru_cookie",
            m(&[
                ("COOKIE_SKB_SHIFT", contract::cookie::SKB_SHIFT.into()),
                ("COOKIE_REASON_SHIFT", contract::cookie::REASON_SHIFT.into()),
                ("COOKIE_CALLER_SHIFT", contract::cookie::CALLER_SHIFT.into()),
                ("COOKIE_UNTRACK", contract::cookie::UNTRACK),
                ("COOKIE_ID_SHIFT", contract::cookie::ID_SHIFT.into()),
            ]),
        ),
        (
            "pwru_prog_marker",
            m(&[("PROG_ID_MARKER", contract::PROG_ID_MARKER as u64)]),
        ),
        (
            "pwru_tunnel_kind",
            m(&[
                ("TUN_VXLAN", TUN_VXLAN.into()),
                ("TUN_GENEVE", TUN_GENEVE.into()),
                ("TUN_ENCAP", TUN_ENCAP.into()),
            ]),
        ),
        (
            "pwru_map_op",
            m(&[
                ("MAPOP_LOOKUP", MAPOP_LOOKUP.into()),
                ("MAPOP_UPDATE", MAPOP_UPDATE.into()),
                ("MAPOP_DELETE", MAPOP_DELETE.into()),
            ]),
        ),
        (
            "pwru_map_op_flag",
            m(&[
                ("MAPF_HIT", MAPF_HIT.into()),
                ("MAPF_VALUE", MAPF_VALUE.into()),
            ]),
        ),
        (
            "pwru_tunnel_flag",
            m(&[
                ("TUNF_HAS_VNI", TUNF_HAS_VNI.into()),
                ("TUNF_HAS_TUPLE", TUNF_HAS_TUPLE.into()),
                ("TUNF_IPV6", TUNF_IPV6.into()),
            ]),
        ),
        (
            "pwru_filter_mode",
            m(&[
                ("FILTER_MODE_L2", probes::filters::MODE_L2.into()),
                ("FILTER_MODE_L3", probes::filters::MODE_L3.into()),
                (
                    "FILTER_MODE_TUNNEL_L2",
                    probes::filters::MODE_TUNNEL_L2.into(),
                ),
                (
                    "FILTER_MODE_TUNNEL_L3",
                    probes::filters::MODE_TUNNEL_L3.into(),
                ),
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
    let btf = Btf::parse(btf);
    for (name, size, members) in rust_structs() {
        let (c_size, c_members) = btf
            .struct_layout(name)
            .unwrap_or_else(|| panic!("{path}: struct {name} in BTF"));
        assert_eq!(c_size as usize, size, "{path}: sizeof(struct {name})");
        assert_eq!(
            c_members, members,
            "{path}: struct {name} members vs its Rust mirror"
        );
    }
    for (name, want) in rust_enums() {
        let got = btf
            .enum_values(name)
            .unwrap_or_else(|| panic!("{path}: enum {name} in BTF"));
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
