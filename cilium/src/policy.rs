//! Per-endpoint policy maps (`cilium_policy_%05d` in 1.16, `cilium_policy_v2_%05d` in 1.17+) and the verdict
//! the datapath reaches for a (remote identity, direction, protocol, port).

use crate::names;
use crate::version::{PolicyFormat, Version};
use crate::wire::*;
use serde_json::json;

/// Bits of the key before protocol/port: the remote identity and the direction byte.
pub const STATIC_PREFIX: u32 = 40;
/// `POLICY_FULL_PREFIX`: identity + direction + protocol + port.
pub const FULL_PREFIX: u32 = 64;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PolicyKey {
    /// Prefix past the static 40 bits: 0 (any protocol), 8 (protocol only), 8+n (port masked to n bits).
    pub p: u8,
    pub identity: u32,
    pub egress: bool,
    pub proto: u8,
    pub dport: u16,
}

impl PolicyKey {
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

    /// `ANY`, `TCP`, `80/TCP`, `80-81/TCP`.
    pub fn port_text(&self, e: &PolicyEntry) -> String {
        let proto = names::proto(self.proto);
        match e.format {
            PolicyFormat::Wildcard => {
                if e.wildcard_proto() {
                    "ANY".into()
                } else if e.wildcard_dport() {
                    proto
                } else {
                    format!("{}/{proto}", self.dport)
                }
            }
            PolicyFormat::PrefixLen => {
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
        }
    }

    pub fn json(&self) -> serde_json::Value {
        json!({
            "identity": names::identity_json(self.identity), "direction": direction(self.egress),
            "proto": names::proto(self.proto), "dport": self.dport, "prefix": self.p,
        })
    }
}

pub fn direction(egress: bool) -> &'static str {
    if egress { "Egress" } else { "Ingress" }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyEntry {
    pub format: PolicyFormat,
    /// Host order.
    pub proxy_port: u16,
    pub flags: u8,
    pub auth_raw: u8,
    /// 1.17+.
    pub proxy_port_priority: u8,
    /// ≤ 1.17 (1.18 keeps counters in `cilium_policystats`).
    pub packets: Option<u64>,
    pub bytes: Option<u64>,
    pub version: Version,
}

impl PolicyEntry {
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

    pub fn deny(&self) -> bool {
        self.flags & 1 != 0
    }
    pub fn wildcard_proto(&self) -> bool {
        self.flags & 2 != 0
    }
    pub fn wildcard_dport(&self) -> bool {
        self.flags & 4 != 0
    }
    /// The entry's own prefix length past the identity (1.16.4+ layout).
    pub fn lpm_prefix_length(&self) -> u8 {
        self.flags >> 3
    }
    pub fn auth_type(&self) -> u8 {
        if self.version >= Version::V1_17 {
            self.auth_raw & 0x7f
        } else {
            self.auth_raw
        }
    }
    pub fn has_explicit_auth(&self) -> bool {
        self.version >= Version::V1_17 && self.auth_raw & 0x80 != 0
    }
    /// Specificity in the 1.16.0–3 scheme: 2 port, 1 protocol only, 0 nothing.
    fn wildcard_rank(&self) -> u8 {
        if self.wildcard_proto() {
            0
        } else if self.wildcard_dport() {
            1
        } else {
            2
        }
    }
}

pub fn auth_name(t: u8) -> String {
    match t {
        0 => "disabled".into(),
        1 => "spire".into(),
        2 => "test-always-fail".into(),
        n => format!("unknown({n})"),
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

/// One row of `bpf policy get` (cells in cilium-dbg column order).
pub fn row_cells(k: &PolicyKey, e: &PolicyEntry, stats: Option<(u64, u64)>) -> Vec<String> {
    let (bytes, packets) = match (e.bytes, e.packets, stats) {
        (Some(b), Some(p), _) => (b.to_string(), p.to_string()),
        (_, _, Some((p, b))) => (b.to_string(), p.to_string()),
        _ => ("-".into(), "-".into()),
    };
    vec![
        if e.deny() { "Deny" } else { "Allow" }.into(),
        direction(k.egress).into(),
        k.identity.to_string(),
        k.port_text(e),
        if e.proxy_port == 0 {
            "NONE".into()
        } else {
            e.proxy_port.to_string()
        },
        auth_name(e.auth_type()),
        bytes,
        packets,
        k.p.to_string(),
    ]
}

pub const HEADER: [&str; 9] = [
    "POLICY",
    "DIRECTION",
    "IDENTITY",
    "PORT/PROTO",
    "PROXY PORT",
    "AUTH TYPE",
    "BYTES",
    "PACKETS",
    "PREFIX",
];

/// cilium-dbg order: deny first, then direction, then identity; protocol/port/prefix make it total.
pub fn sort_key(k: &PolicyKey, e: &PolicyEntry) -> (bool, bool, u32, u8, u16, u8) {
    (!e.deny(), k.egress, k.identity, k.proto, k.dport, k.p)
}

pub fn entry_json(k: &PolicyKey, e: &PolicyEntry, stats: Option<(u64, u64)>) -> serde_json::Value {
    let mut j = k.json();
    j["verdict"] = if e.deny() { "Deny" } else { "Allow" }.into();
    j["port"] = k.port_text(e).into();
    j["proxy_port"] = e.proxy_port.into();
    j["auth_type"] = auth_name(e.auth_type()).into();
    j["proxy_port_priority"] = e.proxy_port_priority.into();
    let (p, b) = match (e.packets, e.bytes, stats) {
        (Some(p), Some(b), _) => (Some(p), Some(b)),
        (_, _, Some((p, b))) => (Some(p), Some(b)),
        _ => (None, None),
    };
    j["packets"] = json!(p);
    j["bytes"] = json!(b);
    j
}

/// The datapath's decision for one packet against one endpoint's policy map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// `None` = allowed; otherwise the Cilium drop code (133, 181, 189).
    pub drop: Option<u8>,
    pub proxy_port: u16,
    pub auth_type: u8,
    /// Which lookup decided: "identity" (L3-dependent entry) or "any" (L4-only entry), with its entry.
    pub matched: Option<(&'static str, PolicyEntry)>,
}

impl Verdict {
    /// The datapath's `match_type` (as in policy-verdict events): L3_ONLY, L3_L4, L4_ONLY, ALL, L3_PROTO, PROTO_ONLY.
    pub fn match_type(&self) -> Option<&'static str> {
        let (which, e) = self.matched.as_ref()?;
        let p = match e.format {
            PolicyFormat::PrefixLen => e.lpm_prefix_length(),
            PolicyFormat::Wildcard => [0, 8, 24][e.wildcard_rank() as usize],
        };
        Some(match (*which == "identity", p) {
            (true, p) if p > 8 => "L3_L4",
            (true, p) if p > 0 => "L3_PROTO",
            (true, _) => "L3_ONLY",
            (false, 0) => "ALL",
            (false, p) if p <= 8 => "PROTO_ONLY",
            (false, _) => "L4_ONLY",
        })
    }
}

impl Verdict {
    pub fn text(&self) -> String {
        let what = match self.drop {
            None if self.proxy_port != 0 => {
                format!("ALLOWED (redirect to proxy port {})", self.proxy_port)
            }
            None => "ALLOWED".into(),
            Some(code) => format!(
                "DENIED: {} ({code}, {})",
                names::drop_name(code).unwrap_or("?"),
                names::reason_desc(code)
            ),
        };
        let by = match &self.matched {
            None => "no matching entry".to_string(),
            Some((which, e)) => format!(
                "matched {} entry ({}{}, prefix {})",
                if *which == "identity" {
                    "L3-dependent"
                } else {
                    "L4-only (any identity)"
                },
                if e.deny() { "deny" } else { "allow" },
                if e.auth_type() != 0 {
                    format!(", auth {}", auth_name(e.auth_type()))
                } else {
                    String::new()
                },
                match e.format {
                    PolicyFormat::PrefixLen => e.lpm_prefix_length().to_string(),
                    PolicyFormat::Wildcard =>
                        ["proto *", "port *", "full"][e.wildcard_rank() as usize].to_string(),
                }
            ),
        };
        format!("{what}: {by}")
    }

    pub fn json(&self) -> serde_json::Value {
        json!({
            "allowed": self.drop.is_none(),
            "drop_code": self.drop,
            "drop_reason": self.drop.and_then(names::drop_name),
            "proxy_port": self.proxy_port,
            "auth_type": auth_name(self.auth_type),
            "matched": self.matched.as_ref().map(|(w, e)| json!({
                "lookup": w, "deny": e.deny(), "prefix": e.lpm_prefix_length(),
                "proxy_port_priority": e.proxy_port_priority,
            })),
            "match_type": self.match_type(),
            "text": self.text(),
        })
    }
}

/// `__policy_can_access` for the release: `lookup` is an LPM lookup of a full key in the endpoint's map.
pub fn verdict(
    v: Version,
    lookup: &mut dyn FnMut(&[u8]) -> Option<PolicyEntry>,
    remote_id: u32,
    egress: bool,
    proto: u8,
    dport: u16,
) -> Verdict {
    let pol = lookup(&PolicyKey::lookup_bytes(remote_id, egress, proto, dport));
    let l4 = if remote_id != 0 {
        lookup(&PolicyKey::lookup_bytes(0, egress, proto, dport))
    } else {
        None
    };
    let (chosen, other): (Option<(&'static str, PolicyEntry)>, Option<PolicyEntry>) =
        match (pol, l4) {
            (None, None) => (None, None),
            (Some(p), None) => (Some(("identity", p)), None),
            (None, Some(l)) => (Some(("any", l)), None),
            (Some(p), Some(l)) => {
                let take_l4 = if p.format == PolicyFormat::Wildcard {
                    // 1.16.0–3: more specific protocol/port wins; at equal specificity the identity entry wins.
                    l.wildcard_rank() > p.wildcard_rank()
                } else if v == Version::V1_16 {
                    // 1.16.4+: a full L3/L4 entry wins outright, else the longer prefix.
                    p.lpm_prefix_length() != 24 && l.lpm_prefix_length() > p.lpm_prefix_length()
                } else if p.deny() {
                    false
                } else {
                    l.deny()
                        || l.proxy_port_priority > p.proxy_port_priority
                        || (l.proxy_port_priority == p.proxy_port_priority
                            && l.lpm_prefix_length() > p.lpm_prefix_length())
                };
                if take_l4 {
                    (Some(("any", l)), Some(p))
                } else {
                    (Some(("identity", p)), Some(l))
                }
            }
        };
    let Some((which, e)) = chosen else {
        return Verdict {
            drop: Some(133),
            proxy_port: 0,
            auth_type: 0,
            matched: None,
        };
    };
    if e.deny() {
        return Verdict {
            drop: Some(181),
            proxy_port: 0,
            auth_type: 0,
            matched: Some((which, e)),
        };
    }
    let mut auth = e.auth_type();
    if v >= Version::V1_17
        && !e.has_explicit_auth()
        && let Some(o) = &other
        && o.auth_type() > auth
    {
        auth = o.auth_type();
    }
    if auth != 0 {
        return Verdict {
            drop: Some(189),
            proxy_port: 0,
            auth_type: auth,
            matched: Some((which, e)),
        };
    }
    Verdict {
        drop: None,
        proxy_port: e.proxy_port,
        auth_type: 0,
        matched: Some((which, e)),
    }
}

/// Userspace longest-prefix match over dumped entries, with the kernel LPM trie's semantics (prefix bits counted
/// from the first data byte's MSB). Used where the kernel map is not at hand (decoding dumps, unit tests).
pub fn lpm_lookup<'a, V>(entries: &'a [(Vec<u8>, V)], key: &[u8]) -> Option<&'a V> {
    let data = &key[4..];
    let mut best: Option<(u32, &V)> = None;
    for (k, v) in entries {
        let plen = u32le(k, 0);
        let kd = &k[4..];
        if kd.len() != data.len() || plen as usize > kd.len() * 8 {
            continue;
        }
        let matches =
            (0..plen as usize).all(|i| (kd[i / 8] ^ data[i / 8]) & (0x80 >> (i % 8)) == 0);
        if matches && best.is_none_or(|(b, _)| plen > b) {
            best = Some((plen, v));
        }
    }
    best.map(|(_, v)| v)
}
