//! The drop reason Cilium counted for a dropped packet: the `cilium_metrics` drop counter that grew between two
//! snapshots.

use crate::metrics::{Counters, MetricsKey};
use crate::names;
use event::Annotation;
use serde_json::{Value, json};
use std::collections::HashMap;

/// `cilium_metrics` counters at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Every counter, summed over CPUs.
    pub counts: HashMap<MetricsKey, Counters>,
}

/// A drop counter that grew between two snapshots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropDelta {
    /// Cilium drop code (133 …), or 2 for the generic "Invalid packet".
    pub code: u8,
    /// Hubble-style name (`POLICY_DENIED`).
    pub name: Option<&'static str>,
    /// cilium-dbg wording (`Policy denied`).
    pub description: String,
    /// `INGRESS`, `EGRESS`, …
    pub direction: &'static str,
    /// Datapath source file that counted it.
    pub file: String,
    /// Its line.
    pub line: u16,
    /// Packets added since the earlier snapshot.
    pub packets: u64,
    /// Bytes added since the earlier snapshot.
    pub bytes: u64,
}

impl DropDelta {
    /// `cilium drop: POLICY_DENIED (133, Policy denied) INGRESS at bpf_lxc.c:42 (+1 packets)`.
    pub fn text(&self) -> String {
        format!(
            "cilium drop: {} ({}, {}) {} at {}:{} (+{} packets)",
            self.name.unwrap_or("?"),
            self.code,
            self.description,
            self.direction,
            self.file,
            self.line,
            self.packets
        )
    }

    /// The fields.
    pub fn json(&self) -> Value {
        json!({ "code": self.code, "name": self.name, "description": self.description, "direction": self.direction,
                "file": self.file, "line": self.line, "packets": self.packets, "bytes": self.bytes })
    }

    /// An annotation for a dropped packet's event.
    pub fn annotation(deltas: &[DropDelta]) -> Option<Annotation> {
        if deltas.is_empty() {
            return None;
        }
        Some(Annotation {
            name: "cilium_drop".into(),
            lines: deltas.iter().map(|d| d.text()).collect(),
            json: Value::Array(deltas.iter().map(|d| d.json()).collect()),
        })
    }
}

/// The drop counters that increased from `before` to `after`, largest increase first. The trace calls this with
/// snapshots taken around a drop (or periodically) to name the Cilium reason behind a `kfree_skb`.
pub fn drop_reason_from_metrics(
    before: &MetricsSnapshot,
    after: &MetricsSnapshot,
) -> Vec<DropDelta> {
    let mut out: Vec<DropDelta> = after
        .counts
        .iter()
        .filter(|(k, _)| k.is_drop())
        .filter_map(|(k, c)| {
            let c0 = before.counts.get(k).copied().unwrap_or_default();
            (c.packets > c0.packets).then(|| DropDelta {
                code: k.reason,
                name: names::drop_name(k.reason),
                description: names::reason_desc(k.reason),
                direction: names::direction(k.dir),
                file: names::bpf_file(k.file),
                line: k.line,
                packets: c.packets - c0.packets,
                bytes: c.bytes.saturating_sub(c0.bytes),
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.packets
            .cmp(&a.packets)
            .then(a.code.cmp(&b.code))
            .then(a.line.cmp(&b.line))
    });
    out
}
