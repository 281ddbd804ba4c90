//! Per-endpoint policy maps (`cilium_policy_%05d` in 1.16, `cilium_policy_v2_%05d` in 1.17+) and the 1.18 rule
//! counters (`cilium_policystats`).

use crate::metrics::Counters;
use crate::names;
use crate::version::{PolicyFormat, Version};
use crate::wire::*;
use serde_json::json;

/// Bits of the key before protocol/port: the remote identity and the direction byte.
pub const STATIC_PREFIX: u32 = 40;
/// `POLICY_FULL_PREFIX`: identity + direction + protocol + port.
pub const FULL_PREFIX: u32 = 64;

/// `struct policy_key` (an LPM key).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PolicyKey {
    /// Prefix past the static 40 bits: 0 (any protocol), 8 (protocol only), 8+n (port masked to n bits).
    pub p: u8,
    /// Remote security identity (0 = any).
    pub identity: u32,
    /// Egress (else ingress) rule.
    pub egress: bool,
    /// L4 protocol.
    pub proto: u8,
    /// Destination port (ICMP type for ICMP).
    pub dport: u16,
}

impl PolicyKey {
    /// Decodes a 12-byte key.
    pub fn parse(b: &[u8]) -> Result<PolicyKey, SizeError> {
        check("policy key", b, &[12])?;
        Ok(PolicyKey {
            p: u32le(b, 0).saturating_sub(STATIC_PREFIX).min(24) as u8,
            identity: u32le(b, 4),
            egress: b[8] & 1 != 0,
            proto: b[9],
            dport: be16(b, 10),
        })
    }

    /// A full-length lookup key.
    pub fn lookup_bytes(identity: u32, egress: bool, proto: u8, dport: u16) -> Vec<u8> {
        let mut b = FULL_PREFIX.to_le_bytes().to_vec();
        b.extend(identity.to_le_bytes());
        b.push(egress as u8);
        b.push(proto);
        b.extend(dport.to_be_bytes());
        b
    }

    /// `ANY`, `TCP`, `80/TCP`, `80-81/TCP`: what the rule matches, read with the entry's layout.
    pub fn port_text(&self, e: &PolicyEntry) -> String {
        let proto = names::proto(self.proto);
        match e.format {
            PolicyFormat::Wildcard if e.wildcard_proto() => "ANY".into(),
            PolicyFormat::Wildcard if e.wildcard_dport() => proto,
            PolicyFormat::Wildcard => format!("{}/{proto}", self.dport),
            PolicyFormat::PrefixLen => self.prefix_port_text(),
        }
    }

    /// What the rule matches, read from the key's prefix length.
    fn prefix_port_text(&self) -> String {
        let proto = names::proto(self.proto);
        if self.p == 0 {
            "ANY".into()
        } else if self.p <= 8 {
            proto
        } else if self.p >= 24 {
            format!("{}/{proto}", self.dport)
        } else {
            let n = self.p - 8;
            let end = self.dport as u32 + (0xffffu32 >> n);
            format!("{}-{end}/{proto}", self.dport)
        }
    }

    /// `Ingress identity=12345 80/TCP` (for a key shown without its entry).
    pub fn text(&self) -> String {
        format!(
            "{} identity={} {}",
            direction(self.egress),
            self.identity,
            self.prefix_port_text()
        )
    }

    /// The fields.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "identity": names::identity_json(self.identity), "direction": direction(self.egress),
            "proto": names::proto(self.proto), "dport": self.dport, "prefix": self.p,
        })
    }
}

/// `Egress` or `Ingress`.
pub fn direction(egress: bool) -> &'static str {
    if egress { "Egress" } else { "Ingress" }
}

/// `struct policy_entry`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyEntry {
    /// Which 1.16 flavour the flags byte has.
    pub format: PolicyFormat,
    /// Host order.
    pub proxy_port: u16,
    /// Flags byte: deny bit, then wildcard bits (1.16.0–3) or the LPM prefix length (1.16.4+).
    pub flags: u8,
    /// Auth byte: type (1.17+: 7 bits + explicit bit).
    pub auth_raw: u8,
    /// 1.17+.
    pub proxy_port_priority: u8,
    /// ≤ 1.17 (1.18 keeps counters in `cilium_policystats`).
    pub packets: Option<u64>,
    /// Bytes counter (≤ 1.17).
    pub bytes: Option<u64>,
    /// The release whose layout it was decoded with.
    pub version: Version,
}

impl PolicyEntry {
    /// Decodes the release's entry (24 bytes up to 1.17, 8 in 1.18).
    pub fn parse(b: &[u8], v: Version, format: PolicyFormat) -> Result<PolicyEntry, SizeError> {
        check(
            "policy entry",
            b,
            &[if v == Version::V1_18 { 8 } else { 24 }],
        )?;
        let counters = b.len() == 24;
        Ok(PolicyEntry {
            format,
            proxy_port: be16(b, 0),
            flags: b[2],
            auth_raw: b[3],
            proxy_port_priority: if v >= Version::V1_17 { b[4] } else { 0 },
            packets: counters.then(|| u64le(b, 8)),
            bytes: counters.then(|| u64le(b, 16)),
            version: v,
        })
    }

    /// A deny rule.
    pub fn deny(&self) -> bool {
        self.flags & 1 != 0
    }
    /// 1.16.0–3: the protocol is wildcarded.
    pub fn wildcard_proto(&self) -> bool {
        self.flags & 2 != 0
    }
    /// 1.16.0–3: the port is wildcarded.
    pub fn wildcard_dport(&self) -> bool {
        self.flags & 4 != 0
    }
    /// The entry's own prefix length past the identity (1.16.4+ layout).
    pub fn lpm_prefix_length(&self) -> u8 {
        self.flags >> 3
    }
    /// The authentication type the rule requires (0 none).
    pub fn auth_type(&self) -> u8 {
        if self.version >= Version::V1_17 {
            self.auth_raw & 0x7f
        } else {
            self.auth_raw
        }
    }
    /// 1.17+: the rule sets its auth type itself (else it inherits a stricter one from the other lookup).
    pub fn has_explicit_auth(&self) -> bool {
        self.version >= Version::V1_17 && self.auth_raw & 0x80 != 0
    }
    /// Specificity in the 1.16.0–3 scheme: 2 port, 1 protocol only, 0 nothing.
    pub(crate) fn wildcard_rank(&self) -> u8 {
        if self.wildcard_proto() {
            0
        } else if self.wildcard_dport() {
            1
        } else {
            2
        }
    }
}

impl PolicyEntry {
    /// Counters stored in the entry (≤ 1.17) or given from `cilium_policystats` (1.18).
    pub fn counters(&self, stats: Option<Counters>) -> Option<Counters> {
        match (self.packets, self.bytes) {
            (Some(packets), Some(bytes)) => Some(Counters { packets, bytes }),
            _ => stats,
        }
    }

    /// `Allow proxy-port=NONE auth=disabled packets=10 bytes=1000`, for an entry shown alone.
    pub fn text(&self) -> String {
        let mut s = format!(
            "{} proxy-port={} auth={}",
            if self.deny() { "Deny" } else { "Allow" },
            if self.proxy_port == 0 {
                "NONE".to_string()
            } else {
                self.proxy_port.to_string()
            },
            names::auth_type(self.auth_type())
        );
        if let Some(c) = self.counters(None) {
            s.push(' ');
            s.push_str(&c.text());
        }
        s
    }

    /// The rule `k` with this entry as one JSON object (counters from `stats` in 1.18).
    pub fn json(&self, k: &PolicyKey, stats: Option<Counters>) -> serde_json::Value {
        let mut j = k.json();
        j["verdict"] = if self.deny() { "Deny" } else { "Allow" }.into();
        j["port"] = k.port_text(self).into();
        j["proxy_port"] = self.proxy_port.into();
        j["auth_type"] = names::auth_type(self.auth_type()).into();
        j["proxy_port_priority"] = self.proxy_port_priority.into();
        let c = self.counters(stats);
        j["packets"] = json!(c.map(|c| c.packets));
        j["bytes"] = json!(c.map(|c| c.bytes));
        j
    }
}

/// `cilium_policystats` key (1.18): one endpoint's rule, protocol and port already masked to the prefix.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PolicyStatsKey {
    /// The endpoint whose policy map holds the rule.
    pub endpoint: u16,
    /// The rule's key.
    pub rule: PolicyKey,
}

impl PolicyStatsKey {
    /// The counters key of endpoint `ep`'s rule `k`.
    pub fn of_rule(ep: u16, k: &PolicyKey) -> PolicyStatsKey {
        PolicyStatsKey {
            endpoint: ep,
            rule: k.clone(),
        }
    }

    /// Decodes a 12-byte key (endpoint_id u16, pad, prefix_len u8, sec_label, egress, protocol, dport be16).
    pub fn parse(b: &[u8]) -> Result<PolicyStatsKey, SizeError> {
        check("policy stats key", b, &[12])?;
        Ok(PolicyStatsKey {
            endpoint: u16le(b, 0),
            rule: PolicyKey {
                p: b[3].min(24),
                identity: u32le(b, 4),
                egress: b[8] & 1 != 0,
                proto: b[9],
                dport: be16(b, 10),
            },
        })
    }

    /// The key bytes, for lookups.
    pub fn to_bytes(&self) -> Vec<u8> {
        let k = &self.rule;
        let mut b = self.endpoint.to_le_bytes().to_vec();
        b.extend([0, k.p]);
        b.extend(k.identity.to_le_bytes());
        b.extend([k.egress as u8, k.proto]);
        b.extend(k.dport.to_be_bytes());
        b
    }

    /// `endpoint 2001 Ingress identity=12345 8080/TCP`.
    pub fn text(&self) -> String {
        format!("endpoint {} {}", self.endpoint, self.rule.text())
    }

    /// The fields.
    pub fn json(&self) -> serde_json::Value {
        let mut j = self.rule.json();
        j["endpoint"] = self.endpoint.into();
        j
    }
}

/// Tells the 1.16.0–3 entry layout from 1.16.4+ by the data (both are 24 bytes): the new layout stores the key's
/// prefix length in flags bits 3–7, the old one has wildcard bits 1–2 there instead.
pub fn detect_format(entries: &[(PolicyKey, u8)]) -> PolicyFormat {
    let (mut new, mut old) = (0usize, 0usize);
    for (k, flags) in entries {
        let plen = flags >> 3;
        if plen == k.p && flags & 6 == 0 && (k.p != 0 || k.proto == 0) {
            new += 1;
        } else if plen == 0 && flags & 6 != 0 {
            old += 1;
        } else if plen == 0 && k.p == 24 {
            // An old-layout entry with protocol and port: no wildcard bits, no prefix length.
            old += 1;
        }
    }
    if old > new {
        PolicyFormat::Wildcard
    } else {
        PolicyFormat::PrefixLen
    }
}
