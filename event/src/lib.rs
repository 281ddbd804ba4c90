//! The decoded trace event: what `pwru` builds from a raw probe record after resolving symbols, interface names,
//! processes and Cilium state, and what every sink (text, JSON, pcapng, TUI) consumes.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// One (packet, kernel function) observation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `struct sk_buff` address.
    pub skb: u64,
    pub cpu: u32,
    pub pid: u32,
    /// pwru-style `exe_path:pid` (see `process` in the text format).
    pub process: String,
    /// Monotonic kernel time of the event (bpf_ktime_get_ns).
    pub ktime_ns: u64,
    /// Wall-clock time of the event in ns since the Unix epoch, converted at event time.
    pub wall_ns: u64,
    pub netns: u32,
    pub mark: u32,
    pub ifindex: u32,
    /// Interface name resolved in the skb's netns, when known.
    pub ifname: Option<String>,
    /// skb->protocol in host byte order (e.g. 0x0800).
    pub proto: u16,
    pub mtu: u32,
    pub len: u32,
    pub pkt_type: u8,
    pub tuple: Option<Tuple>,
    /// Function or tracepoint name (`kfree_skb_reason`, `net:netif_receive_skb` shows as `netif_receive_skb`).
    pub func: String,
    pub func_kind: FuncKind,
    pub drop_reason: Option<DropReason>,
    /// Caller symbol (`--output-caller`).
    pub caller: Option<String>,
    /// Symbolised kernel stack, innermost first (`--output-stack`).
    pub stack: Vec<String>,
    /// Extra context from enrichers (e.g. Cilium), printed as indented lines / a JSON object per name.
    pub annotations: Vec<Annotation>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FuncKind {
    #[default]
    Kprobe,
    Tracepoint,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tuple {
    pub saddr: IpAddr,
    pub daddr: IpAddr,
    pub sport: u16,
    pub dport: u16,
    /// IPPROTO_* number.
    pub proto: u8,
    /// TCP flags byte (FIN=0x01 … CWR=0x80), 0 for non-TCP.
    pub tcp_flags: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropReason {
    pub code: u32,
    /// Name without the `SKB_DROP_REASON_` prefix, when the kernel's BTF knows it.
    pub name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    /// Key in JSON output (`"cilium"`).
    pub name: String,
    /// Lines for the text output, printed indented under the event.
    pub lines: Vec<String>,
    /// Structured form for JSON output.
    pub json: serde_json::Value,
}

pub mod json;
pub mod text;
mod time;

pub use json::{JsonDropReason, JsonEvent, JsonMeta, JsonTime, JsonTuple, to_json_line};
pub use text::{TextFormatter, TextOptions, TimestampMode};

impl Event {
    /// What the FUNC column shows: the function name, with the drop reason in parentheses when there is one
    /// (`kfree_skb_reason(NETFILTER_DROP)`, or the number when the kernel's BTF has no name for it).
    pub fn func_display(&self) -> String {
        match &self.drop_reason {
            Some(DropReason { name: Some(n), .. }) => format!("{}({n})", self.func),
            Some(DropReason { code, name: None }) => format!("{}({code})", self.func),
            None => self.func.clone(),
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
    /// `10.0.0.1:0->10.0.0.2:0(icmp)`, IPv6 addresses in brackets; with `tcp_flags`, `(tcp:SYN|ACK)`.
    pub fn display(&self, tcp_flags: bool) -> String {
        let l4 = proto_name(self.proto);
        let l4 = if tcp_flags && self.proto == 6 && self.tcp_flags != 0 {
            format!("{l4}:{}", tcp_flags_display(self.tcp_flags))
        } else {
            l4
        };
        format!(
            "{}:{}->{}:{}({l4})",
            addr_display(&self.saddr),
            self.sport,
            addr_display(&self.daddr),
            self.dport
        )
    }
}

fn addr_display(a: &IpAddr) -> String {
    match a {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// Short name of an IPPROTO_* number, or the number itself.
pub fn proto_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        2 => "igmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        47 => "gre".into(),
        50 => "esp".into(),
        58 => "icmp6".into(),
        132 => "sctp".into(),
        n => n.to_string(),
    }
}

/// `SYN|ACK`: TCP flag names from FIN (bit 0) to CWR (bit 7), empty for 0.
pub fn tcp_flags_display(f: u8) -> String {
    const NAMES: [&str; 8] = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
    NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| f & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join("|")
}
