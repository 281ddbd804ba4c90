//! `cilium_metrics`: per-CPU packet/byte counters by (reason, direction, source line, source file).

use crate::names;
use crate::wire::*;
use serde_json::json;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricsKey {
    pub reason: u8,
    pub dir: u8,
    pub line: u16,
    pub file: u8,
}

impl MetricsKey {
    pub fn parse(b: &[u8]) -> Result<MetricsKey, SizeError> {
        check("metrics key", b, &[8])?;
        Ok(MetricsKey {
            reason: b[0],
            dir: b[1] & 3,
            line: u16le(b, 2),
            file: b[4],
        })
    }

    pub fn is_drop(&self) -> bool {
        names::is_drop(self.reason)
    }

    /// Cells in `bpf metrics list` order (REASON, DIRECTION, PACKETS, BYTES, LINE, FILE).
    pub fn cells(&self, packets: u64, bytes: u64) -> [String; 6] {
        [
            names::reason_desc(self.reason),
            names::direction(self.dir).into(),
            packets.to_string(),
            bytes.to_string(),
            self.line.to_string(),
            names::bpf_file(self.file),
        ]
    }

    pub fn json(&self, packets: u64, bytes: u64) -> serde_json::Value {
        json!({
            "reason": self.reason, "reason_name": names::drop_name(self.reason),
            "description": names::reason_desc(self.reason), "drop": self.is_drop(),
            "direction": names::direction(self.dir), "line": self.line, "file": names::bpf_file(self.file),
            "packets": packets, "bytes": bytes,
        })
    }
}

/// Sums the per-CPU `{count, bytes}` values.
pub fn sum_per_cpu(vals: &[Vec<u8>]) -> Result<(u64, u64), SizeError> {
    let (mut p, mut b) = (0u64, 0u64);
    for v in vals {
        check("metrics value", v, &[16])?;
        p = p.wrapping_add(u64le(v, 0));
        b = b.wrapping_add(u64le(v, 8));
    }
    Ok((p, b))
}
