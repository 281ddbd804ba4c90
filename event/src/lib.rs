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
        let mut s = String::with_capacity(self.func.len() + 24);
        self.write_func(&mut s);
        s
    }

    /// Appends [`Event::func_display`] to `s` (the text sink's hot path, without an allocation).
    pub fn write_func(&self, s: &mut String) {
        s.push_str(&self.func);
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
        match self.proto {
            1 => s.push_str("icmp"),
            6 => s.push_str("tcp"),
            17 => s.push_str("udp"),
            58 => s.push_str("icmp6"),
            p => s.push_str(&proto_name(p)),
        }
        if tcp_flags && self.proto == 6 && self.tcp_flags != 0 {
            s.push(':');
            s.push_str(&tcp_flags_display(self.tcp_flags));
        }
        s.push(')');
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
