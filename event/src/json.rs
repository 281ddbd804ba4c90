//! JSON lines output (`--output-json`): one object per event with pwru's key names, but every field kept even
//! when it is zero (pwru drops `cpu: 0`, `mark: 0`, `proto: 0`, which makes consumers guess).
//!
//! [`JsonEvent`] also deserializes, so consumers (tests, `pwru replay`) can read the lines back, and
//! [`JsonEvent::to_event`] turns a line back into the event it was made of: every field the options printed comes
//! back, so a replay prints the lines the live run printed.

use crate::time::{SinceLast, local_millis};
use crate::{
    Annotation, DropReason, DumpKind, Event, Formatter, FuncKind, OutputOptions, TimestampMode,
    Tuple,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;

/// One JSON line: the event's fields as the options select them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JsonEvent {
    /// skb address as `"0xffff…"` (a string, as in pwru: JSON numbers lose precision above 2^53).
    pub skb: String,
    /// CPU the probe ran on.
    pub cpu: u32,
    /// pwru-style `exe_path:pid`.
    pub process: String,
    /// Process id (0 in interrupt context).
    pub pid: u32,
    /// Function or tracepoint name, without the drop reason.
    pub func: String,
    /// `kprobe`, `tracepoint`, `tc` or `xdp`.
    pub func_kind: FuncKind,
    /// The kernel's drop reason, where the function or tracepoint has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_reason: Option<JsonDropReason>,
    /// `--output-caller`: the caller, `""` when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_func: Option<String>,
    /// `--timestamp current|relative`: ns; `absolute`: local time string. Absent with `--timestamp none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<JsonTime>,
    /// Wall-clock time of the event in ns since the epoch (always present).
    pub wall_ns: u64,
    /// Monotonic kernel time of the event in ns (always present; absent in lines of older versions).
    #[serde(default)]
    pub ktime_ns: u64,
    /// `--output-meta` keys, at the top level.
    #[serde(flatten)]
    pub meta: Option<JsonMeta>,
    /// `--output-netns-names`: the netns's name, absent when unknown (as in pwru).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns_name: Option<String>,
    /// `null` for packets without an IP header; absent with `--output-tuple=false`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub tuple: Option<Option<JsonTuple>>,
    /// `--output-stack`: symbolised frames, innermost first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<Vec<String>>,
    /// `--output-skb-metadata`: each expression's value, keyed by the expression (`{"skb->mark": 42}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// `--output-skb`: the `struct sk_buff` as the kernel printed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skb_dump: Option<String>,
    /// With `skb_dump`: whether the kernel had to cut it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skb_dump_cut: Option<bool>,
    /// `--output-skb-shared-info`: the `struct skb_shared_info` as the kernel printed it (pwru's key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skb_shared_info: Option<String>,
    /// With `skb_shared_info`: whether the kernel had to cut it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skb_shared_info_cut: Option<bool>,
    /// The traced BPF program's id (tc/XDP events; helper events: the traced program running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prog_id: Option<u32>,
    /// Helper events: the BPF program whose code called the helper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_prog: Option<String>,
    /// What a traced tc/XDP program returned (its exit event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<crate::Verdict>,
    /// `__sk_buff->cb[0..4]` (`--output-skb-cb`), as in pwru.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cb: Option<[u32; 5]>,
    /// `true` on events followed by stack (`--filter-track-skb-by-stackid`, `--filter-non-skb-funcs`); absent
    /// otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_stack: bool,
    /// `--output-tunnel`: the inner packet's tuple (pwru's key), `null` when the packet is no tunnel packet or
    /// carries no IP packet.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub tunnel_tuple: Option<Option<JsonTuple>>,
    /// `--output-tunnel`: which tunnel (`{"kind": "vxlan", "vni": 42}`), `null` for other packets.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub tunnel: Option<Option<JsonTunnel>>,
    /// `--output-bpfmap`: the map operation this event reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpfmap: Option<JsonMapOp>,
    /// Packet bytes, when the event carries some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packet: Option<JsonPacket>,
    /// Enricher annotations, one top-level key per annotation name (`"cilium": {…}`).
    #[serde(flatten, deserialize_with = "annotations_only")]
    pub annotations: HashMap<String, serde_json::Value>,
    /// The text lines of each annotation, in the events' order (present only on events with annotations).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotation_lines: Vec<JsonAnnotationLines>,
}

/// An annotation's lines as the text output prints them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonAnnotationLines {
    /// The annotation's name, its key among the event's keys.
    pub name: String,
    /// Its lines, without indentation.
    pub lines: Vec<String>,
}

/// `"packet": {"start": "l2", "orig_len": 98, "data": "0a1b…"}`: the bytes in lowercase hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonPacket {
    /// `l2` (Ethernet header first) or `l3` (IP header first).
    pub start: crate::PacketStart,
    /// Bytes of the packet from its first byte to its end (`data` may hold fewer).
    pub orig_len: u32,
    /// The bytes, lowercase hex.
    pub data: String,
}

/// The metadata columns (`--output-meta`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonMeta {
    /// Network namespace inode.
    pub netns: u32,
    /// skb->mark.
    pub mark: u32,
    /// `name:ifindex` or the bare ifindex, as in the text IFACE column.
    pub iface: String,
    /// Device index.
    pub ifindex: u32,
    /// Device name, `null` when unknown.
    pub ifname: Option<String>,
    /// skb->protocol, host order (2048 = IPv4).
    pub proto: u16,
    /// Device MTU.
    pub mtu: u32,
    /// skb->len.
    pub len: u32,
    /// skb->pkt_type.
    pub pkt_type: u8,
}

/// The `tuple` object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonTuple {
    /// Source address.
    pub saddr: IpAddr,
    /// Destination address.
    pub daddr: IpAddr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// IPPROTO_* number.
    pub proto: u8,
    /// TCP flags as `SYN|ACK`, empty when none.
    pub flags: String,
}

impl JsonTuple {
    /// The tuple this object was made of.
    pub fn to_tuple(&self) -> Tuple {
        Tuple {
            saddr: self.saddr,
            daddr: self.daddr,
            sport: self.sport,
            dport: self.dport,
            proto: self.proto,
            tcp_flags: crate::proto::parse_tcp_flags(&self.flags),
        }
    }
}

impl From<&crate::Tuple> for JsonTuple {
    fn from(t: &crate::Tuple) -> Self {
        JsonTuple {
            saddr: t.saddr,
            daddr: t.daddr,
            sport: t.sport,
            dport: t.dport,
            proto: t.proto,
            flags: crate::proto::tcp_flags(t.tcp_flags),
        }
    }
}

/// The `tunnel` object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonTunnel {
    /// `vxlan`, `geneve`, or `encap` (known from the kernel's inner headers only).
    pub kind: crate::TunnelKind,
    /// The VXLAN/Geneve network identifier (Cilium puts the source security identity there).
    pub vni: Option<u32>,
}

/// The `bpfmap` object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JsonMapOp {
    /// `lookup`, `update` or `delete`.
    pub op: crate::MapOpKind,
    /// Map id.
    pub id: u32,
    /// The kernel's name of the map (at most 15 characters).
    pub name: String,
    /// Map type (`hash`, `lru_hash`, ...).
    #[serde(rename = "type")]
    pub map_type: String,
    /// Key size of the map.
    pub key_size: u32,
    /// Value size of the map.
    pub value_size: u32,
    /// The key, hex.
    pub key: String,
    /// The value a lookup found or an update wrote, hex; `null` otherwise.
    pub value: Option<String>,
    /// Lookups: whether the key was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hit: Option<bool>,
    /// The key or value was longer than what the probe copies.
    pub cut: bool,
    /// The entry decoded by its map's layout (Cilium's maps): `{"map", "kind", "version", "key", "value"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded: Option<serde_json::Value>,
}

impl From<&crate::MapOp> for JsonMapOp {
    fn from(m: &crate::MapOp) -> Self {
        JsonMapOp {
            op: m.op,
            id: m.map_id,
            name: m.map_name.clone(),
            map_type: m.map_type.clone(),
            key_size: m.key_size,
            value_size: m.value_size,
            key: crate::hex(&m.key),
            value: m.value.as_deref().map(crate::hex),
            hit: m.hit,
            cut: m.cut,
            decoded: m.decoded.as_ref().map(|d| d.json.clone()),
        }
    }
}

/// The `drop_reason` object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonDropReason {
    /// `enum skb_drop_reason` value.
    pub code: u32,
    /// Its name without `SKB_DROP_REASON_`, `null` when the kernel's BTF has none.
    pub name: Option<String>,
}

/// The `time` value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum JsonTime {
    /// Nanoseconds (`--timestamp current` or `relative`).
    Ns(u64),
    /// Local time, `2006-01-02T15:04:05.000` (`--timestamp absolute`).
    Text(String),
}

/// Keys an annotation may not take over.
const RESERVED: &[&str] = &[
    "skb",
    "cpu",
    "process",
    "pid",
    "func",
    "func_kind",
    "drop_reason",
    "caller_func",
    "time",
    "wall_ns",
    "ktime_ns",
    "annotation_lines",
    "netns",
    "netns_name",
    "mark",
    "iface",
    "ifindex",
    "ifname",
    "proto",
    "mtu",
    "len",
    "pkt_type",
    "tuple",
    "stack",
    "metadata",
    "skb_dump",
    "skb_dump_cut",
    "skb_shared_info",
    "skb_shared_info_cut",
    "tunnel_tuple",
    "tunnel",
    "bpfmap",
    "packet",
    "prog_id",
    "in_prog",
    "verdict",
    "cb",
    "by_stack",
];

impl JsonEvent {
    /// Builds the JSON form. `relative_ns` is the `--timestamp relative` delta (the caller keeps per-skb state).
    pub fn new(ev: &Event, opts: &OutputOptions, relative_ns: u64) -> Self {
        let time = match opts.timestamp {
            TimestampMode::None => None,
            TimestampMode::Current => Some(JsonTime::Ns(ev.ktime_ns)),
            TimestampMode::Relative => Some(JsonTime::Ns(relative_ns)),
            TimestampMode::Absolute => Some(JsonTime::Text(local_millis(ev.wall_ns))),
        };
        let meta = opts.meta.then(|| JsonMeta {
            netns: ev.netns,
            mark: ev.mark,
            iface: ev.iface_display(),
            ifindex: ev.ifindex,
            ifname: ev.ifname.clone(),
            proto: ev.proto,
            mtu: ev.mtu,
            len: ev.len,
            pkt_type: ev.pkt_type,
        });
        let tuple = opts.tuple.then(|| ev.tuple.as_ref().map(JsonTuple::from));
        let annotations = ev
            .annotations
            .iter()
            .map(|a| (annotation_key(&a.name), a.json.clone()))
            .collect();
        let metadata = (!ev.metadata.is_empty()).then(|| {
            ev.metadata
                .iter()
                .map(|m| (m.expr.clone(), m.json.clone()))
                .collect()
        });
        let dump = |kind: DumpKind| ev.dumps.iter().find(|d| d.kind == kind);
        let (skb_dump, shinfo) = (dump(DumpKind::Skb), dump(DumpKind::SkbSharedInfo));
        Self {
            skb: format!("{:#x}", ev.skb),
            cpu: ev.cpu,
            process: ev.process.clone(),
            pid: ev.pid,
            func: ev.func.clone(),
            func_kind: ev.func_kind,
            drop_reason: ev.drop_reason.as_ref().map(|d| JsonDropReason {
                code: d.code,
                name: d.name.clone(),
            }),
            caller_func: if opts.caller {
                Some(ev.caller.clone().unwrap_or_default())
            } else {
                None
            },
            time,
            wall_ns: ev.wall_ns,
            ktime_ns: ev.ktime_ns,
            meta,
            netns_name: opts.netns_names.and(ev.netns_name.clone()),
            tuple,
            stack: opts.stack.then(|| ev.stack.clone()),
            metadata,
            skb_dump: skb_dump.map(|d| d.text.clone()),
            skb_dump_cut: skb_dump.map(|d| d.cut),
            skb_shared_info: shinfo.map(|d| d.text.clone()),
            skb_shared_info_cut: shinfo.map(|d| d.cut),
            prog_id: ev.prog_id,
            in_prog: ev.in_prog.clone(),
            verdict: ev.verdict.clone(),
            cb: if opts.skb_cb { ev.cb } else { None },
            by_stack: ev.by_stack,
            tunnel_tuple: opts.tunnel.then(|| {
                ev.tunnel
                    .as_ref()
                    .and_then(|t| t.tuple.as_ref())
                    .map(JsonTuple::from)
            }),
            tunnel: opts.tunnel.then(|| {
                ev.tunnel.as_ref().map(|t| JsonTunnel {
                    kind: t.kind,
                    vni: t.vni,
                })
            }),
            bpfmap: ev.map_op.as_ref().map(JsonMapOp::from),
            packet: ev.packet.as_ref().map(|p| JsonPacket {
                start: p.start,
                orig_len: p.orig_len,
                data: p.data.iter().map(|b| format!("{b:02x}")).collect(),
            }),
            annotations,
            annotation_lines: ev
                .annotations
                .iter()
                .map(|a| JsonAnnotationLines {
                    name: a.name.clone(),
                    lines: a.lines.clone(),
                })
                .collect(),
        }
    }

    /// The event this line was made of, as far as the line holds it: what its options left out is zero or empty
    /// (the metadata without `--output-meta`, the stack without `--output-stack`).
    pub fn to_event(&self) -> Event {
        let skb = self.skb.trim_start_matches("0x");
        let meta = self.meta.as_ref();
        let annotations = self
            .annotation_lines
            .iter()
            .map(|a| Annotation {
                name: a.name.clone(),
                lines: a.lines.clone(),
                json: self
                    .annotations
                    .get(&annotation_key(&a.name))
                    .cloned()
                    .unwrap_or_default(),
            })
            .collect();
        Event {
            skb: u64::from_str_radix(skb, 16).unwrap_or(0),
            cpu: self.cpu,
            pid: self.pid,
            process: self.process.clone(),
            ktime_ns: self.ktime_ns,
            wall_ns: self.wall_ns,
            netns: meta.map_or(0, |m| m.netns),
            netns_name: self.netns_name.clone(),
            mark: meta.map_or(0, |m| m.mark),
            ifindex: meta.map_or(0, |m| m.ifindex),
            ifname: meta.and_then(|m| m.ifname.clone()),
            proto: meta.map_or(0, |m| m.proto),
            mtu: meta.map_or(0, |m| m.mtu),
            len: meta.map_or(0, |m| m.len),
            pkt_type: meta.map_or(0, |m| m.pkt_type),
            tuple: self.tuple.clone().flatten().map(|t| t.to_tuple()),
            func: self.func.clone(),
            func_kind: self.func_kind,
            drop_reason: self.drop_reason.as_ref().map(|d| DropReason {
                code: d.code,
                name: d.name.clone(),
            }),
            caller: self.caller_func.clone().filter(|c| !c.is_empty()),
            stack: self.stack.clone().unwrap_or_default(),
            prog_id: self.prog_id,
            in_prog: self.in_prog.clone(),
            verdict: self.verdict.clone(),
            cb: self.cb,
            by_stack: self.by_stack,
            // Only the JSON value is in the line: the text is rebuilt from it (numbers in decimal).
            metadata: self
                .metadata
                .iter()
                .flatten()
                .map(|(expr, json)| crate::Metadata {
                    expr: expr.clone(),
                    text: match json {
                        serde_json::Value::Null => "<null>".to_string(),
                        serde_json::Value::String(s) => s.clone(),
                        v => v.to_string(),
                    },
                    json: json.clone(),
                })
                .collect(),
            dumps: [
                (DumpKind::Skb, &self.skb_dump, self.skb_dump_cut),
                (
                    DumpKind::SkbSharedInfo,
                    &self.skb_shared_info,
                    self.skb_shared_info_cut,
                ),
            ]
            .into_iter()
            .filter_map(|(kind, text, cut)| {
                Some(crate::Dump {
                    kind,
                    text: text.clone()?,
                    cut: cut.unwrap_or(false),
                })
            })
            .collect(),
            tunnel: self.tunnel.clone().flatten().map(|t| crate::Tunnel {
                kind: t.kind,
                vni: t.vni,
                tuple: self.tunnel_tuple.clone().flatten().map(|t| t.to_tuple()),
            }),
            // The decoded entry's text lines are not in the JSON: a replay prints the bytes.
            map_op: self.bpfmap.as_ref().map(|m| crate::MapOp {
                op: m.op,
                map_id: m.id,
                map_name: m.name.clone(),
                map_type: m.map_type.clone(),
                key_size: m.key_size,
                value_size: m.value_size,
                key: from_hex(&m.key).unwrap_or_default(),
                value: m.value.as_deref().and_then(from_hex),
                hit: m.hit,
                cut: m.cut,
                decoded: None,
            }),
            annotations,
            packet: self.packet.as_ref().and_then(|p| {
                Some(crate::Packet {
                    start: p.start,
                    orig_len: p.orig_len,
                    data: from_hex(&p.data)?,
                })
            }),
        }
    }
}

/// The bytes of lowercase (or uppercase) hex; `None` for anything else.
fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// An annotation's key: its name, unless that is one of the event's own keys.
fn annotation_key(name: &str) -> String {
    if RESERVED.contains(&name) {
        format!("annotation_{name}")
    } else {
        name.to_string()
    }
}

/// A key that is present maps to `Some`, even when its value is `null` (`"tuple": null` ≠ no `tuple` key).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A flattened map sees every key the struct's own fields did not take; keep only the annotation keys.
fn annotations_only<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<HashMap<String, serde_json::Value>, D::Error> {
    let mut m = HashMap::<String, serde_json::Value>::deserialize(d)?;
    m.retain(|k, _| !RESERVED.contains(&k.as_str()));
    Ok(m)
}

/// Formats events as JSON lines. Holds the little state `--timestamp relative` needs (last time per skb).
#[derive(Debug, Default)]
pub struct JsonFormatter {
    /// What the objects hold.
    pub opts: OutputOptions,
    since: SinceLast,
}

impl JsonFormatter {
    /// A formatter writing what `opts` asks for.
    pub fn new(opts: OutputOptions) -> Self {
        Self {
            opts,
            since: SinceLast::default(),
        }
    }

    /// The event's JSON object, with the `--timestamp relative` delta from this formatter's state.
    pub fn json_event(&mut self, ev: &Event) -> JsonEvent {
        let rel = if self.opts.timestamp == TimestampMode::Relative {
            self.since.delta(ev.skb, ev.ktime_ns)
        } else {
            0
        };
        JsonEvent::new(ev, &self.opts, rel)
    }

    /// One JSON line, ending in `\n`.
    pub fn format(&mut self, ev: &Event) -> String {
        let mut s = String::with_capacity(384);
        Formatter::format_into(self, ev, &mut s);
        s
    }
}

impl Formatter for JsonFormatter {
    /// JSON lines have no header.
    fn header(&self) -> Option<String> {
        None
    }

    fn format_into(&mut self, ev: &Event, out: &mut String) {
        let obj = self.json_event(ev);
        match serde_json::to_string(&obj) {
            Ok(line) => out.push_str(&line),
            // Serialising plain strings and numbers cannot fail; keep the stream line-oriented if it ever does.
            Err(e) => out.push_str(&format!("{{\"error\":{:?}}}", e.to_string())),
        }
        out.push('\n');
    }
}
