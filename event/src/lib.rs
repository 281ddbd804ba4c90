//! The decoded trace event: what `pwru` builds from a raw probe record after resolving symbols, interface names,
//! processes and Cilium state, and what every output (text, JSON, TUI) consumes.
//!
//! Layout: [`Event`] and its parts here; [`options`] (what an output shows), [`text`] and [`json`] (the two line
//! formats, independent of each other, both behind [`Formatter`]), [`proto`] (protocol and TCP flag names) and
//! [`time`] (local time, per-skb deltas), which the TUI and other presentations use too; [`fate`] (what happened to
//! a packet, and where one packet ends at an skb address), which the TUI and pwru's drop views share.
//!
//! ```
//! use event::{Event, Formatter, OutputOptions, TextFormatter};
//! let mut f = TextFormatter::new(OutputOptions::default());
//! let mut out = String::new();
//! f.format_into(&Event { func: "ip_rcv".into(), ..Default::default() }, &mut out);
//! assert!(out.ends_with(" ip_rcv\n"));
//! ```
#![deny(missing_docs)]

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// One (packet, kernel function) observation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `struct sk_buff` address.
    pub skb: u64,
    /// CPU the probe ran on.
    pub cpu: u32,
    /// Process (thread group) id current when the probe ran; 0 in interrupt context.
    pub pid: u32,
    /// pwru-style `exe_path:pid` (see `process` in the text format).
    pub process: String,
    /// Monotonic kernel time of the event (bpf_ktime_get_ns).
    pub ktime_ns: u64,
    /// Wall-clock time of the event in ns since the Unix epoch, converted at event time.
    pub wall_ns: u64,
    /// Inode of the skb's network namespace (of its device, else of its socket).
    pub netns: u32,
    /// skb->mark.
    pub mark: u32,
    /// Index of the skb's device, 0 when it has none.
    pub ifindex: u32,
    /// Interface name resolved in the skb's netns, when known.
    pub ifname: Option<String>,
    /// Name of the skb's netns (`--output-netns-names`: `ip netns`, container or pod name), when known.
    pub netns_name: Option<String>,
    /// skb->protocol in host byte order (e.g. 0x0800).
    pub proto: u16,
    /// MTU of the skb's device.
    pub mtu: u32,
    /// skb->len.
    pub len: u32,
    /// skb->pkt_type (PACKET_HOST = 0, PACKET_BROADCAST, …).
    pub pkt_type: u8,
    /// Addresses, ports and protocol of the IPv4/IPv6 packet; `None` without an IP header.
    pub tuple: Option<Tuple>,
    /// Function or tracepoint name (`kfree_skb_reason`, `net:netif_receive_skb` shows as `netif_receive_skb`), or
    /// a traced tc/XDP program's name (from its BTF, so not cut to 15 characters).
    pub func: String,
    /// Whether `func` is a kernel function or a tracepoint.
    pub func_kind: FuncKind,
    /// Why the kernel dropped the skb, on the functions and tracepoints that say so.
    pub drop_reason: Option<DropReason>,
    /// Caller symbol (`--output-caller`).
    pub caller: Option<String>,
    /// Symbolised kernel stack, innermost first (`--output-stack`).
    pub stack: Vec<String>,
    /// Extra context from enrichers (e.g. Cilium), printed as indented lines / a JSON object per name.
    pub annotations: Vec<Annotation>,
    /// Kernel values the probe read for this event (`--output-skb-metadata`), in the order asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metadata: Vec<Metadata>,
    /// Structs the kernel printed for this event (`--output-skb`, `--output-skb-shared-info`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dumps: Vec<Dump>,
    /// The packet inside the VXLAN or Geneve tunnel this packet is (`--output-tunnel`), when it is one.
    pub tunnel: Option<Tunnel>,
    /// The BPF map operation this event reports (`--output-bpfmap`): the map function ran on the stack that was
    /// processing this packet.
    pub map_op: Option<MapOp>,
    /// The packet's first bytes as the kernel held them at the function, when the probes copied some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packet: Option<Packet>,
    /// The traced BPF program (tc/XDP events), or the traced program that called the helper (helper events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prog_id: Option<u32>,
    /// Helper events: the BPF program whose code made the call (a tail-called program too), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_prog: Option<String>,
    /// What the traced program returned (the exit event of a tc or XDP program).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// `__sk_buff->cb[0..4]`, when asked for (`--output-skb-cb`; tc programs keep their state there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cb: Option<[u32; 5]>,
    /// Followed by stack (`--filter-track-skb-by-stackid`): an skb the task carrying a selected packet handled, or
    /// a `--filter-non-skb-funcs` function run for that packet (whose skb the event then shows).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_stack: bool,
}

/// A tc or XDP program's return code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The value returned.
    pub code: i32,
    /// `TC_ACT_SHOT`, `XDP_DROP`, …; `None` for a value the hook does not define.
    pub name: Option<String>,
    /// The packet is dropped: `TC_ACT_SHOT`, `XDP_DROP` or `XDP_ABORTED`.
    pub drop: bool,
}

impl Verdict {
    /// A tc program's return code (`TC_ACT_*`).
    pub fn tc(code: i32) -> Verdict {
        const NAMES: [&str; 9] = [
            "TC_ACT_OK",
            "TC_ACT_RECLASSIFY",
            "TC_ACT_SHOT",
            "TC_ACT_PIPE",
            "TC_ACT_STOLEN",
            "TC_ACT_QUEUED",
            "TC_ACT_REPEAT",
            "TC_ACT_REDIRECT",
            "TC_ACT_TRAP",
        ];
        let name = match code {
            -1 => Some("TC_ACT_UNSPEC"),
            c => usize::try_from(c).ok().and_then(|i| NAMES.get(i).copied()),
        };
        Verdict {
            code,
            name: name.map(str::to_string),
            drop: code == 2,
        }
    }

    /// An XDP program's return code (`XDP_*`).
    pub fn xdp(code: i32) -> Verdict {
        const NAMES: [&str; 5] = [
            "XDP_ABORTED",
            "XDP_DROP",
            "XDP_PASS",
            "XDP_TX",
            "XDP_REDIRECT",
        ];
        Verdict {
            code,
            name: usize::try_from(code)
                .ok()
                .and_then(|i| NAMES.get(i))
                .map(|s| s.to_string()),
            drop: code == 0 || code == 1,
        }
    }
}

/// The encapsulated packet of a tunnel packet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tunnel {
    /// How it was recognised.
    pub kind: TunnelKind,
    /// The VXLAN or Geneve network identifier.
    pub vni: Option<u32>,
    /// The inner packet's tuple; `None` when it carries no IP packet (e.g. ARP).
    pub tuple: Option<Tuple>,
}

/// What carries the inner packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelKind {
    /// VXLAN (UDP port 4789, or 8472: Linux's and Cilium's default).
    Vxlan,
    /// Geneve (UDP port 6081).
    Geneve,
    /// Another encapsulation, known from the inner headers the kernel set when it encapsulated the packet.
    Encap,
}

impl TunnelKind {
    /// `vxlan`, `geneve`, `encap`.
    pub fn name(self) -> &'static str {
        match self {
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
            TunnelKind::Encap => "encap",
        }
    }
}

impl Tunnel {
    /// The TUNNEL column: `vxlan:42 10.244.1.5:0->10.244.2.7:0(icmp)` (`-` for the tuple when there is none).
    pub fn write_to(&self, s: &mut String, tcp_flags: bool) {
        use std::fmt::Write;
        s.push_str(self.kind.name());
        if let Some(vni) = self.vni {
            let _ = write!(s, ":{vni}");
        }
        s.push(' ');
        match &self.tuple {
            Some(t) => t.write_to(s, tcp_flags),
            None => s.push('-'),
        }
    }
}

/// What a traced BPF map function did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MapOpKind {
    /// A lookup; [`MapOp::value`] is what it found.
    Lookup,
    /// An update; [`MapOp::value`] is the value written.
    Update,
    /// A delete (of [`MapOp::key`]).
    Delete,
}

impl MapOpKind {
    /// `lookup`, `update`, `delete`.
    pub fn name(self) -> &'static str {
        match self {
            MapOpKind::Lookup => "lookup",
            MapOpKind::Update => "update",
            MapOpKind::Delete => "delete",
        }
    }
}

/// A BPF map operation done on a packet's way (`--output-bpfmap`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapOp {
    /// Lookup, update or delete.
    pub op: MapOpKind,
    /// The map's id (`bpftool map show id N`).
    pub map_id: u32,
    /// The map's name as the kernel keeps it (at most 15 characters).
    pub map_name: String,
    /// The map's type (`hash`, `lru_hash`, `lpm_trie`, ...), or its number when unknown.
    pub map_type: String,
    /// The map's key size in bytes.
    pub key_size: u32,
    /// The map's value size in bytes (one CPU's slot for per-CPU maps).
    pub value_size: u32,
    /// The key's bytes (cut to what the probe copies when [`MapOp::cut`]).
    pub key: Vec<u8>,
    /// The value found by a lookup or written by an update.
    pub value: Option<Vec<u8>>,
    /// For a lookup: whether it found the key.
    pub hit: Option<bool>,
    /// The key or the value was longer than what the probe copies.
    pub cut: bool,
    /// The entry decoded, when the map is one whose layout pwru knows (Cilium's).
    pub decoded: Option<MapEntry>,
}

/// A map entry decoded by its map's layout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapEntry {
    /// The map's full name (the kernel's is cut to 15 characters), e.g. `cilium_ct4_global`.
    pub map: String,
    /// The key on one line (`TCP OUT 10.244.1.5:43210 -> 10.244.2.7:80`).
    pub key: String,
    /// The value on one line, when there is one.
    pub value: Option<String>,
    /// The structured form, for JSON.
    pub json: serde_json::Value,
}

impl MapOp {
    /// The text line: `cilium_ct4_global (id 7) lookup TCP OUT 10.244.1.5:43210 -> 10.244.2.7:80 → hit, RevNAT=7 …`
    /// for a decoded entry, else `pwru_test_hash (id 12) lookup key 0a000002 → hit, value 2a000000` (hex bytes).
    pub fn write_to(&self, s: &mut String) {
        use std::fmt::Write;
        let name = self
            .decoded
            .as_ref()
            .map_or(self.map_name.as_str(), |d| d.map.as_str());
        let _ = write!(s, "{name} (id {}) {}", self.map_id, self.op.name());
        let cut = if self.cut { "…" } else { "" };
        let (key, value) = match &self.decoded {
            Some(d) => (d.key.clone(), d.value.clone()),
            None => (
                format!("key {}{cut}", hex(&self.key)),
                self.value
                    .as_ref()
                    .map(|v| format!("value {}{cut}", hex(v))),
            ),
        };
        let _ = write!(s, " {key}");
        match (self.hit, value) {
            (Some(false), _) => s.push_str(" → miss"),
            (Some(true), Some(v)) => {
                let _ = write!(s, " → hit, {v}");
            }
            (Some(true), None) => s.push_str(" → hit"),
            (None, Some(v)) => {
                let _ = write!(s, " = {v}");
            }
            (None, None) => {}
        }
    }
}

/// Lower-case hex, no separators.
pub fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// Packet bytes an event carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Packet {
    /// Where `data` starts.
    pub start: PacketStart,
    /// Bytes of the packet from its first byte to its end (`data` may be shorter: snaplen, paged data).
    pub orig_len: u32,
    /// The bytes.
    pub data: Vec<u8>,
}

/// Where packet bytes start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PacketStart {
    /// At the Ethernet header.
    L2,
    /// At the IP header (the skb had no MAC header).
    L3,
}

/// What kind of probe saw the event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FuncKind {
    /// A kernel function (kprobe or kprobe-multi).
    #[default]
    Kprobe,
    /// A kernel tracepoint.
    Tracepoint,
    /// A traced tc BPF program (`sched_cls`/`sched_act`): `func` is its name.
    Tc,
    /// A traced XDP program: `func` is its name, `skb` its `struct xdp_buff`.
    Xdp,
}

/// The L3/L4 tuple of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tuple {
    /// Source address.
    pub saddr: IpAddr,
    /// Destination address.
    pub daddr: IpAddr,
    /// Source port (0 without ports, e.g. ICMP).
    pub sport: u16,
    /// Destination port (0 without ports).
    pub dport: u16,
    /// IPPROTO_* number.
    pub proto: u8,
    /// TCP flags byte (FIN=0x01 … CWR=0x80), 0 for non-TCP.
    pub tcp_flags: u8,
}

/// A kernel drop reason (`enum skb_drop_reason`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropReason {
    /// The enum's value.
    pub code: u32,
    /// Name without the `SKB_DROP_REASON_` prefix, when the kernel's BTF knows it.
    pub name: Option<String>,
}

/// One kernel value read by a BTF expression (`skb->hash`), in both text and JSON form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// The expression, as given.
    pub expr: String,
    /// The value as text: unsigned integers and pointers in hex, signed ones in decimal, enums by name, strings
    /// quoted, `<null>` when a pointer on the path was NULL, `<unreadable>` when the kernel refused a read.
    pub text: String,
    /// The value in JSON: a number, an enumerator's name, a boolean, a string, `"0x…"` for a pointer, an array of
    /// bytes, `null` for `<null>`, the string `"<unreadable>"`.
    pub json: serde_json::Value,
}

/// Which struct a [`Dump`] shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DumpKind {
    /// `struct sk_buff`.
    Skb,
    /// The skb's `struct skb_shared_info`.
    SkbSharedInfo,
}

impl DumpKind {
    /// The JSON key of its text (`skb_dump`, `skb_shared_info`: pwru's name for the latter).
    pub fn key(self) -> &'static str {
        match self {
            DumpKind::Skb => "skb_dump",
            DumpKind::SkbSharedInfo => "skb_shared_info",
        }
    }
}

/// A struct as the kernel printed it (`bpf_snprintf_btf`), e.g. `(struct sk_buff){ .len = (unsigned int)98, ...}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dump {
    /// Which struct.
    pub kind: DumpKind,
    /// The text, one line per member (made printable: no control characters but newlines).
    pub text: String,
    /// The text did not fit in the kernel's buffer: it stops before the struct's end.
    pub cut: bool,
}

/// Context an enricher attached to an event, in both text and JSON form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    /// Key in JSON output (`"cilium"`).
    pub name: String,
    /// Lines for the text output, printed indented under the event.
    pub lines: Vec<String>,
    /// Structured form for JSON output.
    pub json: serde_json::Value,
}

pub mod fate;
pub mod json;
pub mod options;
pub mod proto;
pub mod text;
pub mod time;

pub use json::{
    JsonAnnotationLines, JsonDropReason, JsonEvent, JsonFormatter, JsonMapOp, JsonMeta, JsonPacket,
    JsonTime, JsonTunnel, JsonTuple,
};
pub use options::{OutputOptions, TimestampMode};
pub use text::TextFormatter;

/// A line format: turns events into text, one or more `\n`-terminated lines each.
pub trait Formatter {
    /// The line to write before the first event (without its newline), if the format has one.
    fn header(&self) -> Option<String>;
    /// Appends the event's lines to `out`.
    fn format_into(&mut self, ev: &Event, out: &mut String);
}

impl Event {
    /// What the FUNC column shows: the function name, with the drop reason in parentheses when there is one
    /// (`kfree_skb_reason(NETFILTER_DROP)`, or the number when the kernel's BTF has no name for it).
    pub fn func_display(&self) -> String {
        let mut s = String::with_capacity(self.func.len() + 24);
        self.write_func(&mut s);
        s
    }

    /// Appends [`Event::func_display`] to `s` (the text sink's hot path, without an allocation). A traced
    /// program shows as `name(tc)` / `name(xdp)` (pwru's spelling), its exit as `name(tc)=TC_ACT_SHOT`; a helper it
    /// called as `helper@program`.
    pub fn write_func(&self, s: &mut String) {
        s.push_str(&self.func);
        match self.func_kind {
            FuncKind::Tc => s.push_str("(tc)"),
            FuncKind::Xdp => s.push_str("(xdp)"),
            _ => {}
        }
        if let Some(v) = &self.verdict {
            s.push('=');
            match &v.name {
                Some(n) => s.push_str(n),
                None => {
                    use std::fmt::Write;
                    let _ = write!(s, "{}", v.code);
                }
            }
        }
        if let Some(p) = &self.in_prog {
            s.push('@');
            s.push_str(p);
        }
        match &self.drop_reason {
            Some(DropReason { name: Some(n), .. }) => {
                s.push('(');
                s.push_str(n);
                s.push(')');
            }
            Some(DropReason { code, name: None }) => {
                use std::fmt::Write;
                let _ = write!(s, "({code})");
            }
            None => {}
        }
    }

    /// pwru's IFACE value: `name:ifindex` when the name is known, the bare ifindex otherwise.
    pub fn iface_display(&self) -> String {
        match &self.ifname {
            Some(n) => format!("{n}:{}", self.ifindex),
            None => self.ifindex.to_string(),
        }
    }
}

impl Tuple {
    /// A tuple without TCP flags: `Tuple::new([10, 0, 0, 1], 40000, [10, 0, 0, 2], 53, 17)`.
    pub fn new(
        saddr: impl Into<IpAddr>,
        sport: u16,
        daddr: impl Into<IpAddr>,
        dport: u16,
        proto: u8,
    ) -> Tuple {
        Tuple {
            saddr: saddr.into(),
            daddr: daddr.into(),
            sport,
            dport,
            proto,
            tcp_flags: 0,
        }
    }

    /// `10.0.0.1:0->10.0.0.2:0(icmp)`, IPv6 addresses in brackets; with `tcp_flags`, `(tcp:SYN|ACK)`.
    pub fn display(&self, tcp_flags: bool) -> String {
        let mut s = String::with_capacity(48);
        self.write_to(&mut s, tcp_flags);
        s
    }

    /// Appends [`Tuple::display`] to `s`.
    pub fn write_to(&self, s: &mut String, tcp_flags: bool) {
        use std::fmt::Write;
        let addr = |s: &mut String, a: &IpAddr| {
            let _ = match a {
                IpAddr::V4(v4) => write!(s, "{v4}"),
                IpAddr::V6(v6) => write!(s, "[{v6}]"),
            };
        };
        addr(s, &self.saddr);
        let _ = write!(s, ":{}->", self.sport);
        addr(s, &self.daddr);
        let _ = write!(s, ":{}(", self.dport);
        s.push_str(&proto::display(self.proto));
        if tcp_flags && self.proto == 6 && self.tcp_flags != 0 {
            s.push(':');
            s.push_str(&proto::tcp_flags(self.tcp_flags));
        }
        s.push(')');
    }
}
