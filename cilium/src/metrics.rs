//! `cilium_metrics`: per-CPU packet/byte counters by (reason, direction, source line, source file).

use crate::names;
use crate::wire::*;
use serde_json::json;

/// `struct metrics_key`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricsKey {
    /// 0 forwarded, a `REASON_*` below 130, or a drop code.
    pub reason: u8,
    /// 1 ingress, 2 egress, 3 service, 0 unknown.
    pub dir: u8,
    /// Source line of the datapath that counted.
    pub line: u16,
    /// Source file ID.
    pub file: u8,
}

/// Packet and byte counters (summed over CPUs where the map is per-CPU).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Counters {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

impl MetricsKey {
    /// Decodes an 8-byte key.
    pub fn parse(b: &[u8]) -> Result<MetricsKey, SizeError> {
        check("metrics key", b, &[8])?;
        Ok(MetricsKey {
            reason: b[0],
            dir: b[1] & 3,
            line: u16le(b, 2),
            file: b[4],
        })
    }

    /// Whether the reason is a drop (Go's `IsDrop`).
    pub fn is_drop(&self) -> bool {
        names::is_drop(self.reason)
    }

    /// `Policy denied (133) INGRESS bpf_lxc.c:1520`.
    pub fn text(&self) -> String {
        format!(
            "{} ({}) {} {}:{}",
            names::reason_desc(self.reason),
            self.reason,
            names::direction(self.dir),
            names::bpf_file(self.file),
            self.line
        )
    }

    /// Cells in `bpf metrics list` order (REASON, DIRECTION, PACKETS, BYTES, LINE, FILE).
    pub fn cells(&self, c: Counters) -> [String; 6] {
        [
            names::reason_desc(self.reason),
            names::direction(self.dir).into(),
            c.packets.to_string(),
            c.bytes.to_string(),
            self.line.to_string(),
            names::bpf_file(self.file),
        ]
    }

    /// The key's fields by name.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "reason": self.reason, "reason_name": names::drop_name(self.reason),
            "description": names::reason_desc(self.reason), "drop": self.is_drop(),
            "direction": names::direction(self.dir), "line": self.line, "file": names::bpf_file(self.file),
        })
    }
}

impl Counters {
    /// Decodes one CPU's 16-byte `{count, bytes}`.
    pub fn parse(v: &[u8]) -> Result<Counters, SizeError> {
        check("counters", v, &[16])?;
        Ok(Counters {
            packets: u64le(v, 0),
            bytes: u64le(v, 8),
        })
    }

    /// Sums the per-CPU values.
    pub fn sum(vals: &[Vec<u8>]) -> Result<Counters, SizeError> {
        let mut sum = Counters::default();
        for v in vals {
            let c = Counters::parse(v)?;
            sum.packets = sum.packets.wrapping_add(c.packets);
            sum.bytes = sum.bytes.wrapping_add(c.bytes);
        }
        Ok(sum)
    }

    /// `packets=3 bytes=180`.
    pub fn text(&self) -> String {
        format!("packets={} bytes={}", self.packets, self.bytes)
    }

    /// The fields.
    pub fn json(&self) -> serde_json::Value {
        json!({ "packets": self.packets, "bytes": self.bytes })
    }
}
