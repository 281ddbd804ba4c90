//! RawEvent (what the probes send) → event::Event (what sinks print): names for functions, drop reasons,
//! callers, stacks, processes and interfaces, the tuple from raw addresses, and the wall clock at event time.

use crate::clock::WallClock;
use crate::ifnames::IfNames;
use crate::kernel_values;
use crate::netns_names::NetnsNames;
use crate::process::{ProcessNames, comm_str};
use event::{
    DropReason, DumpKind, Event, FuncKind, MapEntry, MapOp, MapOpKind, Packet, PacketStart, Tunnel,
    TunnelKind, Tuple, Verdict,
};
use probes::event::{
    EV_BY_STACK, EV_HAS_CALLER, EV_HAS_REASON, EV_HAS_STACK, EV_HAS_TUPLE, EV_IN_PROG, EV_IPV6,
    EV_KIND_TC, EV_KIND_TRACEPOINT, EV_KIND_XDP, MAPF_HIT, MAPOP_DELETE, MAPOP_LOOKUP,
    MAPOP_UPDATE, MapOpSection, RawEvent, Record, TUN_ENCAP, TUN_GENEVE, TUN_VXLAN, TUNF_HAS_TUPLE,
    TUNF_HAS_VNI, TUNF_IPV6, TunnelSection,
};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What the decoder needs from the symbol tables and the probes' maps.
pub trait Lookups {
    /// Name of the function at exactly (or, failing that, containing) `ip`.
    fn func_name(&self, ip: u64) -> Option<String>;
    /// `name+0xoff` for a return address.
    fn sym_offset(&self, ip: u64) -> Option<String>;
    /// Display name of tracepoint `probe_id` of the attached table (`netif_receive_skb`).
    fn tracepoint_name(&self, probe_id: u32) -> Option<String>;
    /// `NO_SOCKET` for an `enum skb_drop_reason` value.
    fn drop_reason_name(&self, code: u32) -> Option<String>;
    /// Return addresses of stack `id`, innermost first.
    fn stack(&self, _id: i32) -> Vec<u64> {
        Vec::new()
    }
    /// The layout of the BTF-expression values events carry: of the skb (`--output-skb-metadata`), or with `xdp` of
    /// a traced XDP program's xdp_buff (`--output-xdp-metadata`).
    fn btf_values(&self, _xdp: bool) -> Option<&btf_expr::Fetch> {
        None
    }
    /// Name of the traced tc/XDP program with this id.
    fn bpf_prog_name(&self, _id: u32) -> Option<String> {
        None
    }
    /// Name of the BPF program whose JITed code holds `addr`.
    fn bpf_prog_at(&self, _addr: u64) -> Option<String> {
        None
    }
}

/// Helper call sites remembered before the cache is emptied.
const CALL_SITES_MAX: usize = 65536;

/// Which enrichments the output needs (the rest is skipped, it costs syscalls).
#[derive(Clone, Copy, Debug, Default)]
pub struct Want {
    pub ifnames: bool,
    /// `--output-netns-names`, and the netns label of `--summary` and `--metrics`.
    pub netns_names: bool,
    pub caller: bool,
    pub stack: bool,
}

pub struct Decoder<L> {
    lookups: L,
    clock: WallClock,
    procs: ProcessNames,
    ifnames: Option<IfNames>,
    netns_names: Option<NetnsNames>,
    want: Want,
    /// func_ip / probe_id → name: the hot path resolves each function once.
    funcs: HashMap<(u8, u64), String>,
    /// Helper call sites → the program that holds them.
    call_sites: HashMap<u64, Option<String>>,
}

/// What a decoder has learned (its clock, the process, interface and function names it resolved), handed to the
/// next decoder of the same run ([`Decoder::resume`]): the drain after detaching then neither rescans every
/// network namespace's interfaces nor forgets a process that has exited since.
pub struct Learned {
    clock: WallClock,
    procs: ProcessNames,
    ifnames: Option<IfNames>,
    netns_names: Option<NetnsNames>,
    funcs: HashMap<(u8, u64), String>,
    call_sites: HashMap<u64, Option<String>>,
}

impl<L: Lookups> Decoder<L> {
    pub fn new(lookups: L, clock: WallClock, want: Want) -> Self {
        let ifnames = want.ifnames.then(IfNames::scan_now);
        Self {
            lookups,
            clock,
            procs: ProcessNames::new(),
            ifnames,
            netns_names: want.netns_names.then(NetnsNames::scan_now),
            want,
            funcs: HashMap::new(),
            call_sites: HashMap::new(),
        }
    }

    /// A decoder that goes on from what an earlier one learned, with its own lookups.
    pub fn resume(lookups: L, want: Want, learned: Learned) -> Self {
        Self {
            lookups,
            clock: learned.clock,
            procs: learned.procs,
            ifnames: learned.ifnames,
            netns_names: learned.netns_names,
            want,
            funcs: learned.funcs,
            call_sites: learned.call_sites,
        }
    }

    /// Ends this decoder, keeping what it learned for [`Decoder::resume`].
    pub fn into_learned(self) -> Learned {
        Learned {
            clock: self.clock,
            procs: self.procs,
            ifnames: self.ifnames,
            netns_names: self.netns_names,
            funcs: self.funcs,
            call_sites: self.call_sites,
        }
    }

    /// A decoder with a given interface cache (tests).
    pub fn with_ifnames(
        lookups: L,
        clock: WallClock,
        want: Want,
        ifnames: Option<IfNames>,
    ) -> Self {
        Self {
            lookups,
            clock,
            procs: ProcessNames::new(),
            ifnames,
            netns_names: None,
            want,
            funcs: HashMap::new(),
            call_sites: HashMap::new(),
        }
    }

    pub fn decode(&mut self, r: &RawEvent) -> Event {
        let kind = match r.kind {
            EV_KIND_TRACEPOINT => FuncKind::Tracepoint,
            EV_KIND_TC => FuncKind::Tc,
            EV_KIND_XDP => FuncKind::Xdp,
            _ => FuncKind::Kprobe,
        };
        let key = match kind {
            FuncKind::Kprobe => (r.kind, r.func_ip),
            _ => (r.kind, r.probe_id as u64),
        };
        let lookups = &self.lookups;
        let func = self
            .funcs
            .entry(key)
            .or_insert_with(|| match kind {
                FuncKind::Tracepoint => lookups
                    .tracepoint_name(r.probe_id)
                    .unwrap_or_else(|| format!("tracepoint#{}", r.probe_id)),
                FuncKind::Kprobe => lookups
                    .func_name(r.func_ip)
                    .unwrap_or_else(|| format!("{:#x}", r.func_ip)),
                FuncKind::Tc | FuncKind::Xdp => lookups
                    .bpf_prog_name(r.probe_id)
                    .unwrap_or_else(|| format!("prog#{}", r.probe_id)),
            })
            .clone();
        let in_bpf = r.flags & EV_IN_PROG != 0;
        let prog_id =
            (in_bpf || matches!(kind, FuncKind::Tc | FuncKind::Xdp)).then_some(r.probe_id);
        let in_prog = in_bpf.then(|| {
            if self.call_sites.len() >= CALL_SITES_MAX {
                self.call_sites.clear();
            }
            let lookups = &self.lookups;
            self.call_sites
                .entry(r.caller_ip)
                .or_insert_with(|| {
                    lookups
                        .bpf_prog_at(r.caller_ip)
                        .or_else(|| lookups.bpf_prog_name(r.probe_id))
                })
                .clone()
                .unwrap_or_else(|| format!("prog#{}", r.probe_id))
        });

        let drop_reason = (r.flags & EV_HAS_REASON != 0).then(|| DropReason {
            code: r.drop_reason,
            name: self.lookups.drop_reason_name(r.drop_reason),
        });
        let mut caller = (self.want.caller && r.flags & EV_HAS_CALLER != 0).then(|| {
            self.lookups
                .sym_offset(r.caller_ip)
                .unwrap_or_else(|| format!("{:#x}", r.caller_ip))
        });
        let stack = if self.want.stack && r.flags & EV_HAS_STACK != 0 && r.stack_id >= 0 {
            let frames: Vec<String> = self
                .lookups
                .stack(r.stack_id)
                .into_iter()
                .map(|ip| {
                    self.lookups
                        .sym_offset(ip)
                        .unwrap_or_else(|| format!("{ip:#x}"))
                })
                .collect();
            without_tracer_frames(frames)
        } else {
            Vec::new()
        };
        // A tracepoint has no return address of its own: its caller is the function that fired it.
        if self.want.caller && caller.is_none() && kind == FuncKind::Tracepoint {
            caller = stack.first().cloned();
        }
        let ifname = match &mut self.ifnames {
            Some(c) => c.lookup(r.netns, r.ifindex).map(str::to_string),
            None => None,
        };
        let netns_name = match &mut self.netns_names {
            Some(n) => n.lookup(r.netns).map(str::to_string),
            None => None,
        };

        Event {
            skb: r.skb,
            cpu: r.cpu,
            pid: r.pid,
            process: self.procs.name(r.pid, &comm_str(&r.comm)),
            ktime_ns: r.ts_ns,
            wall_ns: self.clock.wall_ns(r.ts_ns),
            netns: r.netns,
            mark: r.mark,
            ifindex: r.ifindex,
            ifname,
            netns_name,
            proto: u16::from_be(r.protocol),
            mtu: r.mtu,
            len: r.len,
            pkt_type: r.pkt_type,
            tuple: tuple(r),
            func,
            func_kind: kind,
            drop_reason,
            caller,
            stack,
            annotations: Vec::new(),
            metadata: Vec::new(),
            dumps: Vec::new(),
            tunnel: None,
            map_op: None,
            packet: None,
            prog_id,
            in_prog,
            verdict: None,
            cb: None,
            by_stack: r.flags & EV_BY_STACK != 0,
        }
    }

    /// [`Decoder::decode`] of a record from the ring, with its packet bytes when it carries some.
    pub fn decode_record(&mut self, r: &Record) -> Event {
        let mut ev = self.decode(r);
        ev.verdict = r.verdict().map(|code| match ev.func_kind {
            FuncKind::Xdp => Verdict::xdp(code),
            _ => Verdict::tc(code),
        });
        ev.cb = r.skb_cb();
        ev.packet = r.packet().map(|p| Packet {
            start: match p.start {
                probes::PacketStart::L2 => PacketStart::L2,
                probes::PacketStart::L3 => PacketStart::L3,
            },
            orig_len: p.orig_len,
            data: p.bytes.to_vec(),
        });
        ev.tunnel = r.tunnel().and_then(|t| tunnel(&t));
        ev.map_op = r.map_op().and_then(|m| map_op(&m));
        if let Some(v) = r.btf_values()
            && let Some(fetch) = self.lookups.btf_values(v.xdp)
        {
            ev.metadata = kernel_values::metadata(fetch, v.area);
        }
        ev.dumps = r
            .btf_dumps()
            .map(|d| {
                let kind = match d.what {
                    probes::event::DUMP_SHINFO => DumpKind::SkbSharedInfo,
                    _ => DumpKind::Skb,
                };
                kernel_values::dump(kind, d.text, d.cut, d.ret)
            })
            .collect();
        ev
    }
}

/// The map operation section as an event's [`MapOp`], the entry decoded when the map is one of Cilium's (by its
/// name and sizes: no Cilium agent is asked); `None` for an operation this build does not know.
pub fn map_op(m: &MapOpSection) -> Option<MapOp> {
    let op = match m.op {
        MAPOP_LOOKUP => MapOpKind::Lookup,
        MAPOP_UPDATE => MapOpKind::Update,
        MAPOP_DELETE => MapOpKind::Delete,
        _ => return None,
    };
    let map_name = m.name();
    let key = m.key().to_vec();
    let value = m.value().map(<[u8]>::to_vec);
    let cut = key.len() < m.key_size as usize
        || value
            .as_ref()
            .is_some_and(|v| v.len() < m.value_size as usize);
    // The node's release is not known here: the newest layout is tried first, then those the sizes fit.
    let decoded = match cut {
        true => None,
        false => {
            match cilium::entry::decode(&map_name, &key, value.as_deref(), cilium::Version::V1_18) {
                Some(Ok(e)) => Some(MapEntry {
                    map: match e.kind.pin_name(e.version) {
                        full if full.starts_with(&map_name) => full.to_string(),
                        _ => map_name.clone(),
                    },
                    key: e.key_text(),
                    value: e.value_text(),
                    json: e.json(),
                }),
                _ => None,
            }
        }
    };
    let map_type = match cilium::bpf::map_type::name(m.map_type) {
        "other" => m.map_type.to_string(),
        t => t.to_string(),
    };
    Some(MapOp {
        op,
        map_id: m.map_id,
        map_name,
        map_type,
        key_size: m.key_size,
        value_size: m.value_size,
        key,
        value,
        hit: (op == MapOpKind::Lookup).then_some(m.flags & MAPF_HIT != 0),
        cut,
        decoded,
    })
}

/// The tunnel section as an event's [`Tunnel`]; `None` for a kind this build does not know.
pub fn tunnel(t: &TunnelSection) -> Option<Tunnel> {
    let kind = match t.kind {
        TUN_VXLAN => TunnelKind::Vxlan,
        TUN_GENEVE => TunnelKind::Geneve,
        TUN_ENCAP => TunnelKind::Encap,
        _ => return None,
    };
    let tuple = (t.flags & TUNF_HAS_TUPLE != 0).then(|| Tuple {
        saddr: addr(&t.saddr, t.flags & TUNF_IPV6 != 0),
        daddr: addr(&t.daddr, t.flags & TUNF_IPV6 != 0),
        sport: t.sport,
        dport: t.dport,
        proto: t.l4_proto,
        tcp_flags: t.tcp_flags,
    });
    Some(Tunnel {
        kind,
        vni: (t.flags & TUNF_HAS_VNI != 0).then_some(t.vni),
        tuple,
    })
}

/// An address as the probes write it: IPv6, else IPv4 in the first 4 bytes.
fn addr(a: &[u8; 16], v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(*a))
    } else {
        IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
    }
}

/// Drops the frames of the tracing machinery (the BPF program, `bpf_trace_run*`) from the top of a stack, so it
/// starts at the kernel function that fired the tracepoint.
pub fn without_tracer_frames(frames: Vec<String>) -> Vec<String> {
    let machinery = |f: &String| {
        f.starts_with("bpf_trace_run")
            || f.starts_with("__bpf_trace_")
            || f.starts_with("__traceiter_")
    };
    let Some(last) = frames.iter().rposition(machinery) else {
        return frames;
    };
    if last + 1 < frames.len() {
        frames[last + 1..].to_vec()
    } else {
        frames
    }
}

/// The 5-tuple from the raw addresses (IPv4 in the first 4 bytes unless EV_IPV6).
pub fn tuple(r: &RawEvent) -> Option<Tuple> {
    if r.flags & EV_HAS_TUPLE == 0 {
        return None;
    }
    let v6 = r.flags & EV_IPV6 != 0;
    Some(Tuple {
        saddr: addr(&r.saddr, v6),
        daddr: addr(&r.daddr, v6),
        sport: r.sport,
        dport: r.dport,
        proto: r.l4_proto,
        tcp_flags: r.tcp_flags,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub struct FakeSyms;
    impl Lookups for FakeSyms {
        fn func_name(&self, ip: u64) -> Option<String> {
            (ip == 0xffff_0000_1000).then(|| "ip_rcv".to_string())
        }
        fn sym_offset(&self, ip: u64) -> Option<String> {
            (ip >= 0xffff_0000_2000).then(|| format!("ip_output+{:#x}", ip - 0xffff_0000_2000))
        }
        fn tracepoint_name(&self, id: u32) -> Option<String> {
            ["netif_receive_skb", "kfree_skb"]
                .get(id as usize)
                .map(|s| s.to_string())
        }
        fn drop_reason_name(&self, code: u32) -> Option<String> {
            (code == 2).then(|| "NO_SOCKET".to_string())
        }
        fn stack(&self, id: i32) -> Vec<u64> {
            if id == 5 {
                vec![0xffff_0000_2010, 0xffff_0000_2020]
            } else {
                vec![]
            }
        }
        fn bpf_prog_name(&self, id: u32) -> Option<String> {
            (id == 812).then(|| "cil_from_container".to_string())
        }
        fn bpf_prog_at(&self, addr: u64) -> Option<String> {
            (0xffff_c000_0000..0xffff_c000_1000)
                .contains(&addr)
                .then(|| "tail_ipv4_policy".to_string())
        }
    }

    fn raw() -> RawEvent {
        let mut r = RawEvent {
            ts_ns: 5_000,
            skb: 0xffff_8880_1234_5600,
            pid: 0,
            cpu: 1,
            netns: 4026531840,
            mark: 7,
            ifindex: 0,
            len: 84,
            mtu: 1500,
            protocol: 0x0800u16.to_be(),
            l4_proto: 1,
            flags: EV_HAS_TUPLE,
            kind: EV_KIND_TRACEPOINT,
            ..Default::default()
        };
        r.saddr[..4].copy_from_slice(&[10, 0, 0, 1]);
        r.daddr[..4].copy_from_slice(&[10, 0, 0, 2]);
        r.comm[..9].copy_from_slice(b"swapper/1");
        r
    }

    fn decoder(want: Want) -> Decoder<FakeSyms> {
        Decoder::with_ifnames(FakeSyms, WallClock::from_offset(1_000_000), want, None)
    }

    #[test]
    fn tracepoint_event() {
        let mut d = decoder(Want::default());
        let e = d.decode(&raw());
        assert_eq!(e.func, "netif_receive_skb");
        assert_eq!(e.func_kind, FuncKind::Tracepoint);
        assert_eq!(e.proto, 0x0800);
        assert_eq!(e.process, "swapper/1:0");
        assert_eq!(e.wall_ns, 1_005_000);
        let t = e.tuple.unwrap();
        assert_eq!(t.display(false), "10.0.0.1:0->10.0.0.2:0(icmp)");
    }

    #[test]
    fn by_stack_events_are_marked_and_shown_in_json() {
        let mut d = decoder(Want::default());
        assert!(!d.decode(&raw()).by_stack);
        let r = RawEvent {
            kind: 0,
            func_ip: 0xffff_0000_1000,
            flags: raw().flags | EV_BY_STACK,
            ..raw()
        };
        let e = d.decode(&r);
        assert!(e.by_stack);
        assert_eq!(e.skb, 0xffff_8880_1234_5600, "the carried skb's address");
        let opts = event::OutputOptions::default();
        let line = serde_json::to_value(event::json::JsonEvent::new(&e, &opts, 0)).unwrap();
        assert_eq!(line["by_stack"], true);
        let plain =
            serde_json::to_value(event::json::JsonEvent::new(&d.decode(&raw()), &opts, 0)).unwrap();
        assert!(
            plain.get("by_stack").is_none(),
            "absent unless followed by stack"
        );
        let back: event::json::JsonEvent = serde_json::from_value(line).unwrap();
        assert!(back.to_event().by_stack);
    }

    #[test]
    fn kprobe_drop_with_caller_and_stack() {
        let mut d = decoder(Want {
            caller: true,
            stack: true,
            ..Default::default()
        });
        let r = RawEvent {
            kind: 0,
            func_ip: 0xffff_0000_1000,
            caller_ip: 0xffff_0000_2042,
            stack_id: 5,
            drop_reason: 2,
            flags: EV_HAS_REASON | EV_HAS_CALLER | EV_HAS_STACK,
            ..raw()
        };
        let e = d.decode(&r);
        assert_eq!(e.func_display(), "ip_rcv(NO_SOCKET)");
        assert_eq!(e.caller.as_deref(), Some("ip_output+0x42"));
        assert_eq!(e.stack, vec!["ip_output+0x10", "ip_output+0x20"]);
        assert!(e.tuple.is_none());
        let unknown = d.decode(&RawEvent {
            func_ip: 0xdead,
            drop_reason: 999,
            ..r
        });
        assert_eq!(unknown.func_display(), "0xdead(999)");
    }

    #[test]
    fn tracepoint_stack_starts_at_the_firing_function_which_is_the_caller() {
        struct Tp;
        impl Lookups for Tp {
            fn func_name(&self, _: u64) -> Option<String> {
                None
            }
            fn sym_offset(&self, ip: u64) -> Option<String> {
                match ip {
                    2 => Some("bpf_trace_run1+0xed".into()),
                    3 => Some("__dev_queue_xmit+0x486".into()),
                    4 => Some("ip_output+0x5f".into()),
                    5 => Some("__traceiter_net_dev_queue+0x31".into()),
                    _ => None,
                }
            }
            fn tracepoint_name(&self, _: u32) -> Option<String> {
                Some("net_dev_queue".into())
            }
            fn drop_reason_name(&self, _: u32) -> Option<String> {
                None
            }
            fn stack(&self, _: i32) -> Vec<u64> {
                vec![0xffffffffc00337dd, 2, 5, 3, 4]
            }
        }
        let want = Want {
            caller: true,
            stack: true,
            ..Default::default()
        };
        let mut d = Decoder::with_ifnames(Tp, WallClock::from_offset(0), want, None);
        let e = d.decode(&RawEvent {
            stack_id: 1,
            flags: EV_HAS_TUPLE | EV_HAS_STACK,
            ..raw()
        });
        assert_eq!(e.stack, vec!["__dev_queue_xmit+0x486", "ip_output+0x5f"]);
        assert_eq!(e.caller.as_deref(), Some("__dev_queue_xmit+0x486"));
    }

    fn map_section(name: &str, op: u8, key: &[u8], value: Option<&[u8]>) -> MapOpSection {
        let mut m = MapOpSection {
            map_id: 12,
            map_type: 9, // BPF_MAP_TYPE_LRU_HASH
            key_size: key.len() as u32,
            value_size: value.map_or(56, |v| v.len() as u32),
            key_len: key.len() as u16,
            value_len: value.map_or(0, |v| v.len() as u16),
            op,
            flags: 0,
            _pad: [0; 2],
            name: [0; 16],
            data: [0; 192],
        };
        m.name[..name.len()].copy_from_slice(name.as_bytes());
        m.data[..key.len()].copy_from_slice(key);
        if let Some(v) = value {
            m.data[key.len()..key.len() + v.len()].copy_from_slice(v);
            m.flags |= probes::event::MAPF_VALUE;
        }
        m
    }

    #[test]
    fn map_ops_of_cilium_maps_decode_and_others_stay_hex() {
        // Cilium's OUT tuple of 10.0.0.1:41010 -> 10.0.0.2:7010/UDP (the packet's source in the daddr field).
        let key = [10, 0, 0, 1, 10, 0, 0, 2, 0x1b, 0x62, 0xa0, 0x32, 17, 0];
        let mut value = [0u8; 56];
        value[16] = 1; // packets
        value[38..40].copy_from_slice(&7u16.to_be_bytes()); // rev_nat_index
        let mut m = map_section("cilium_ct4_glob", MAPOP_LOOKUP, &key, Some(&value));
        m.flags |= MAPF_HIT;
        let op = map_op(&m).unwrap();
        assert_eq!(
            (op.op, op.hit, op.cut),
            (MapOpKind::Lookup, Some(true), false)
        );
        assert_eq!(op.map_type, "lru_hash");
        let d = op.decoded.as_ref().expect("a CT entry decodes");
        assert_eq!(d.map, "cilium_ct4_global");
        assert_eq!(d.key, "UDP OUT 10.0.0.1:41010 -> 10.0.0.2:7010");
        assert!(d.value.as_deref().unwrap().contains("RevNAT=7"), "{d:?}");
        let mut line = String::new();
        op.write_to(&mut line);
        assert!(
            line.starts_with(
                "cilium_ct4_global (id 12) lookup UDP OUT 10.0.0.1:41010 -> 10.0.0.2:7010 → hit, "
            ),
            "{line}"
        );
        let json = serde_json::to_value(event::json::JsonMapOp::from(&op)).unwrap();
        assert_eq!(json["decoded"]["key"]["proto"], "UDP", "{json}");
        assert_eq!(json["key"], "0a0000010a0000021b62a0321100");

        // A miss: the key alone decodes.
        let miss = map_op(&map_section("cilium_ct4_glob", MAPOP_LOOKUP, &key, None)).unwrap();
        assert_eq!(miss.hit, Some(false));
        assert!(miss.decoded.is_some() && miss.value.is_none());

        // Not one of Cilium's maps: hex.
        let mut h = map_section(
            "pwru_test_hash",
            MAPOP_UPDATE,
            &[10, 0, 0, 2],
            Some(&[1, 0, 0, 0, 0, 0, 0, 0]),
        );
        h.map_type = 1;
        let op = map_op(&h).unwrap();
        assert!(op.decoded.is_none() && op.hit.is_none());
        let mut line = String::new();
        op.write_to(&mut line);
        assert_eq!(
            line,
            "pwru_test_hash (id 12) update key 0a000002 = value 0100000000000000"
        );

        // A key longer than the probe copies is not decoded; an unknown operation is no map operation.
        let mut cut = map_section("cilium_ct4_glob", MAPOP_DELETE, &key, None);
        cut.key_size = 100;
        assert!(map_op(&cut).unwrap().cut && map_op(&cut).unwrap().decoded.is_none());
        assert!(map_op(&MapOpSection { op: 9, ..m }).is_none());
    }

    #[test]
    fn tunnel_sections() {
        let mut t = TunnelSection {
            kind: TUN_GENEVE,
            flags: TUNF_HAS_VNI | TUNF_HAS_TUPLE | TUNF_IPV6,
            l4_proto: 17,
            vni: 7,
            sport: 4321,
            dport: 9,
            ..TunnelSection::default()
        };
        t.saddr[15] = 1;
        t.daddr[15] = 2;
        let got = tunnel(&t).unwrap();
        assert_eq!((got.kind, got.vni), (TunnelKind::Geneve, Some(7)));
        let tuple = got.tuple.unwrap();
        assert_eq!(tuple.saddr.to_string(), "::1");
        assert_eq!(
            (
                tuple.daddr.to_string(),
                tuple.sport,
                tuple.dport,
                tuple.proto
            ),
            ("::2".into(), 4321, 9, 17)
        );
        // Encapsulated by the kernel, inner ARP: no VNI, no tuple.
        let arp = TunnelSection {
            kind: TUN_ENCAP,
            ..TunnelSection::default()
        };
        assert_eq!(
            tunnel(&arp),
            Some(Tunnel {
                kind: TunnelKind::Encap,
                vni: None,
                tuple: None
            })
        );
        // A kind from a newer probe object is no tunnel this build can name.
        assert_eq!(tunnel(&TunnelSection { kind: 9, ..t }), None);
    }

    #[test]
    fn traced_programs_and_their_helpers() {
        use probes::event::{SEC_SKB_CB, SEC_VERDICT, SectionHead};
        let mut d = decoder(Want::default());
        let r = RawEvent {
            kind: EV_KIND_TC,
            probe_id: 812,
            ..raw()
        };
        let e = d.decode(&r);
        assert_eq!(
            (e.func.as_str(), e.func_kind, e.prog_id, e.verdict),
            ("cil_from_container", FuncKind::Tc, Some(812), None)
        );
        // The exit record: a verdict section and a cb section, 8-byte aligned after the fixed part.
        let mut ev = RawEvent {
            kind: EV_KIND_XDP,
            probe_id: 9,
            ..raw()
        };
        let mut tail = Vec::new();
        let mut section = |kind: u16, payload: &[u8]| {
            let h = SectionHead {
                kind,
                flags: 0,
                len: payload.len() as u32,
            };
            // SAFETY: reading the bytes of a repr(C) POD value.
            tail.extend_from_slice(unsafe {
                std::slice::from_raw_parts((&h as *const SectionHead).cast::<u8>(), 8)
            });
            tail.extend_from_slice(payload);
            while tail.len() % 8 != 0 {
                tail.push(0);
            }
        };
        section(SEC_VERDICT, &[1, 0, 0, 0, 0, 0, 0, 0]);
        let cb: Vec<u8> = [7u32, 0, 0, 0, 3]
            .iter()
            .flat_map(|w| w.to_ne_bytes())
            .collect();
        section(SEC_SKB_CB, &cb);
        ev.head.nsections = 2;
        ev.head.sections = 1 << SEC_VERDICT | 1 << SEC_SKB_CB;
        ev.head.size = (std::mem::size_of::<RawEvent>() + tail.len()) as u16;
        let rec = Record { event: ev, tail };
        let e = d.decode_record(&rec);
        assert_eq!(e.func, "prog#9", "an unknown program keeps its id");
        assert_eq!(e.func_display(), "prog#9(xdp)=XDP_DROP");
        assert_eq!(e.cb, Some([7, 0, 0, 0, 3]));
        // A helper called from a tail-called program's code: named after that program, not the traced entry.
        let h = RawEvent {
            kind: 0,
            func_ip: 0xffff_0000_1000,
            probe_id: 812,
            caller_ip: 0xffff_c000_0042,
            flags: EV_IN_PROG | EV_HAS_CALLER,
            ..raw()
        };
        assert_eq!(d.decode(&h).func_display(), "ip_rcv@tail_ipv4_policy");
        let elsewhere = RawEvent {
            caller_ip: 0x1234,
            ..h
        };
        assert_eq!(
            d.decode(&elsewhere).func_display(),
            "ip_rcv@cil_from_container"
        );
    }

    #[test]
    fn ipv6_tuple() {
        let mut r = RawEvent {
            flags: EV_HAS_TUPLE | EV_IPV6,
            l4_proto: 17,
            sport: 53,
            dport: 4000,
            ..raw()
        };
        r.saddr = "fd00::1".parse::<Ipv6Addr>().unwrap().octets();
        r.daddr = "fd00::2".parse::<Ipv6Addr>().unwrap().octets();
        let t = tuple(&r).unwrap();
        assert_eq!(t.display(false), "[fd00::1]:53->[fd00::2]:4000(udp)");
    }

    #[test]
    fn a_resumed_decoder_names_a_process_that_has_exited_as_before() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let r = RawEvent {
            pid: child.id(),
            ..raw()
        };
        let mut live = decoder(Want::default());
        let named = live.decode(&r).process;
        assert!(named.contains("sleep:"), "{named}");
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(
            decoder(Want::default()).decode(&r).process,
            format!("swapper/1:{}", r.pid)
        );
        let mut resumed = Decoder::resume(FakeSyms, Want::default(), live.into_learned());
        let e = resumed.decode(&r);
        assert_eq!(e.process, named);
        assert_eq!(e.wall_ns, 1_005_000, "the live decoder's clock");
    }
}
