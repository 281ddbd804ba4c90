//! JSON lines output (`--output-json`): one object per event with pwru's key names, but every field kept even
//! when it is zero (pwru drops `cpu: 0`, `mark: 0`, `proto: 0`, which makes consumers guess).
//!
//! [`JsonEvent`] also deserializes, so consumers (tests, the TUI's replay) can read the lines back.

use crate::text::{TextOptions, TimestampMode};
use crate::{Event, FuncKind, time::local_millis};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JsonEvent {
    /// skb address as `"0xffff…"` (a string, as in pwru: JSON numbers lose precision above 2^53).
    pub skb: String,
    pub cpu: u32,
    pub process: String,
    pub pid: u32,
    /// Function or tracepoint name, without the drop reason.
    pub func: String,
    pub func_kind: FuncKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_reason: Option<JsonDropReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_func: Option<String>,
    /// `--timestamp current|relative`: ns; `absolute`: local time string. Absent with `--timestamp none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<JsonTime>,
    /// Wall-clock time of the event in ns since the epoch (always present).
    pub wall_ns: u64,
    #[serde(flatten)]
    pub meta: Option<JsonMeta>,
    /// `null` for packets without an IP header; absent with `--output-tuple=false`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub tuple: Option<Option<JsonTuple>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<Vec<String>>,
    /// Enricher annotations, one top-level key per annotation name (`"cilium": {…}`).
    #[serde(flatten, deserialize_with = "annotations_only")]
    pub annotations: HashMap<String, serde_json::Value>,
}

/// The metadata columns (`--output-meta`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonMeta {
    pub netns: u32,
    pub mark: u32,
    /// `name:ifindex` or the bare ifindex, as in the text IFACE column.
    pub iface: String,
    pub ifindex: u32,
    pub ifname: Option<String>,
    /// skb->protocol, host order (2048 = IPv4).
    pub proto: u16,
    pub mtu: u32,
    pub len: u32,
    pub pkt_type: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonTuple {
    pub saddr: IpAddr,
    pub daddr: IpAddr,
    pub sport: u16,
    pub dport: u16,
    /// IPPROTO_* number.
    pub proto: u8,
    /// TCP flags as `SYN|ACK`, empty when none.
    pub flags: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonDropReason {
    pub code: u32,
    pub name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum JsonTime {
    Ns(u64),
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
    "netns",
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
];

impl JsonEvent {
    /// Builds the JSON form. `relative_ns` is the `--timestamp relative` delta (the caller keeps per-skb state).
    pub fn new(ev: &Event, opts: &TextOptions, relative_ns: u64) -> Self {
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
        let tuple = opts.tuple.then(|| {
            ev.tuple.as_ref().map(|t| JsonTuple {
                saddr: t.saddr,
                daddr: t.daddr,
                sport: t.sport,
                dport: t.dport,
                proto: t.proto,
                flags: crate::tcp_flags_display(t.tcp_flags),
            })
        });
        let annotations = ev
            .annotations
            .iter()
            .map(|a| {
                let key = if RESERVED.contains(&a.name.as_str()) {
                    format!("annotation_{}", a.name)
                } else {
                    a.name.clone()
                };
                (key, a.json.clone())
            })
            .collect();
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
            meta,
            tuple,
            stack: opts.stack.then(|| ev.stack.clone()),
            annotations,
        }
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

/// One JSON line (with the trailing `\n`).
pub fn to_json_line(ev: &Event, opts: &TextOptions, relative_ns: u64) -> String {
    let mut s = serde_json::to_string(&JsonEvent::new(ev, opts, relative_ns)).unwrap_or_else(|e| {
        // Serialising plain strings and numbers cannot fail; keep the stream line-oriented if it ever does.
        format!("{{\"error\":{:?}}}", e.to_string())
    });
    s.push('\n');
    s
}
