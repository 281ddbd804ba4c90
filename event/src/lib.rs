//! The decoded trace event: what `pwru` builds from a raw probe record after resolving symbols, interface names,
//! processes and Cilium state, and what every sink (text, JSON, pcapng, TUI) consumes.

use serde::Serialize;
use std::net::IpAddr;

/// One (packet, kernel function) observation.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
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

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FuncKind {
    #[default]
    Kprobe,
    Tracepoint,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DropReason {
    pub code: u32,
    /// Name without the `SKB_DROP_REASON_` prefix, when the kernel's BTF knows it.
    pub name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Annotation {
    /// Key in JSON output (`"cilium"`).
    pub name: String,
    /// Lines for the text output, printed indented under the event.
    pub lines: Vec<String>,
    /// Structured form for JSON output.
    pub json: serde_json::Value,
}
