//! The verdict the datapath reaches for a packet against an endpoint's policy map: `__policy_can_access` of each
//! release over kernel LPM lookups.

use crate::bpf::{BpfError, Map};
use crate::names;
use crate::policy::{PolicyEntry, PolicyKey};
use crate::version::{PolicyFormat, Version};
use serde_json::json;

/// The datapath's decision for one packet against one endpoint's policy map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// `None` = allowed; otherwise the Cilium drop code (133, 181, 189).
    pub drop: Option<u8>,
    /// The proxy port an allowed packet is redirected to (0: none).
    pub proxy_port: u16,
    /// The authentication type that made it `AUTH_REQUIRED` (189).
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
    /// `ALLOWED: matched …`, `DENIED: POLICY_DENIED (133, Policy denied): no matching entry`.
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
                    format!(", auth {}", names::auth_type(e.auth_type()))
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

    /// The decision, its code and the entry that decided.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "allowed": self.drop.is_none(),
            "drop_code": self.drop,
            "drop_reason": self.drop.and_then(names::drop_name),
            "proxy_port": self.proxy_port,
            "auth_type": names::auth_type(self.auth_type),
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

/// The verdict of an opened policy map (`format` from [`Node::policy_format`](crate::node::Node::policy_format)).
pub fn verdict_on(
    v: Version,
    map: &Map,
    format: PolicyFormat,
    remote_id: u32,
    egress: bool,
    proto: u8,
    dport: u16,
) -> Result<Verdict, BpfError> {
    let mut err = None;
    let mut lookup = |key: &[u8]| -> Option<PolicyEntry> {
        match map.lookup(key) {
            Ok(Some(val)) => PolicyEntry::parse(&val[0], v, format).ok(),
            Ok(None) => None,
            Err(e) => {
                err = Some(e);
                None
            }
        }
    };
    let verdict = verdict(v, &mut lookup, remote_id, egress, proto, dport);
    match err {
        Some(e) => Err(e),
        None => Ok(verdict),
    }
}
