//! Which Cilium release wrote the maps, and the map catalog (pin name, kernel type, key/value sizes) per release.

use crate::bpf::map_type::*;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Version {
    #[serde(rename = "1.16")]
    V1_16,
    #[serde(rename = "1.17")]
    V1_17,
    #[serde(rename = "1.18")]
    V1_18,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Version::V1_16 => "1.16",
            Version::V1_17 => "1.17",
            Version::V1_18 => "1.18",
        })
    }
}

impl std::str::FromStr for Version {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim_start_matches('v');
        if s.starts_with("1.16") {
            Ok(Version::V1_16)
        } else if s.starts_with("1.17") {
            Ok(Version::V1_17)
        } else if s.starts_with("1.18") {
            Ok(Version::V1_18)
        } else {
            Err(format!(
                "unsupported Cilium version {s:?} (supported: 1.16, 1.17, 1.18)"
            ))
        }
    }
}

/// The kinds of map we decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapKind {
    Ct4,
    CtAny4,
    Ct6,
    CtAny6,
    Nat4,
    Nat6,
    Lb4Services,
    Lb6Services,
    Lb4Backends,
    Lb6Backends,
    Lb4RevNat,
    Lb6RevNat,
    Ipcache,
    Lxc,
    Metrics,
    PolicyStats,
    /// A per-endpoint policy map; its name carries the endpoint ID.
    Policy,
    NodeMap,
    Tunnel,
    Auth,
    Lb4SrcRange,
    Lb6SrcRange,
    Lb4Affinity,
    Lb6Affinity,
}

pub struct Spec {
    pub types: &'static [u32],
    pub key: u32,
    pub value: u32,
}

impl MapKind {
    pub const GLOBAL: [MapKind; 23] = [
        MapKind::Ct4,
        MapKind::CtAny4,
        MapKind::Ct6,
        MapKind::CtAny6,
        MapKind::Nat4,
        MapKind::Nat6,
        MapKind::Lb4Services,
        MapKind::Lb6Services,
        MapKind::Lb4Backends,
        MapKind::Lb6Backends,
        MapKind::Lb4RevNat,
        MapKind::Lb6RevNat,
        MapKind::Ipcache,
        MapKind::Lxc,
        MapKind::Metrics,
        MapKind::PolicyStats,
        MapKind::NodeMap,
        MapKind::Tunnel,
        MapKind::Auth,
        MapKind::Lb4SrcRange,
        MapKind::Lb6SrcRange,
        MapKind::Lb4Affinity,
        MapKind::Lb6Affinity,
    ];

    /// Pin name under `tc/globals` (for `Policy`, the prefix before the 5-digit endpoint ID).
    pub fn pin_name(self, v: Version) -> &'static str {
        use MapKind::*;
        match self {
            Ct4 => "cilium_ct4_global",
            CtAny4 => "cilium_ct_any4_global",
            Ct6 => "cilium_ct6_global",
            CtAny6 => "cilium_ct_any6_global",
            Nat4 => "cilium_snat_v4_external",
            Nat6 => "cilium_snat_v6_external",
            Lb4Services => "cilium_lb4_services_v2",
            Lb6Services => "cilium_lb6_services_v2",
            Lb4Backends => "cilium_lb4_backends_v3",
            Lb6Backends => "cilium_lb6_backends_v3",
            Lb4RevNat => "cilium_lb4_reverse_nat",
            Lb6RevNat => "cilium_lb6_reverse_nat",
            Ipcache if v == Version::V1_18 => "cilium_ipcache_v2",
            Ipcache => "cilium_ipcache",
            Lxc => "cilium_lxc",
            Metrics => "cilium_metrics",
            PolicyStats => "cilium_policystats",
            Policy if v == Version::V1_16 => "cilium_policy_",
            Policy => "cilium_policy_v2_",
            NodeMap => "cilium_node_map_v2",
            Tunnel => "cilium_tunnel_map",
            Auth => "cilium_auth_map",
            Lb4SrcRange => "cilium_lb4_source_range",
            Lb6SrcRange => "cilium_lb6_source_range",
            Lb4Affinity => "cilium_lb4_affinity",
            Lb6Affinity => "cilium_lb6_affinity",
        }
    }

    /// Kernel type(s) and sizes Cilium creates this map with in release `v`; `None` if the release has no such map.
    pub fn spec(self, v: Version) -> Option<Spec> {
        use MapKind::*;
        const CT: &[u32] = &[LRU_HASH, HASH];
        let s = |types, key, value| Some(Spec { types, key, value });
        match self {
            Ct4 | CtAny4 => s(CT, 14, 56),
            Ct6 | CtAny6 => s(CT, 38, 56),
            Nat4 => s(CT, 14, 40),
            Nat6 => s(CT, 38, 56),
            Lb4Services => s(&[HASH], 12, 12),
            Lb6Services => s(&[HASH], 24, 12),
            Lb4Backends => s(&[HASH], 4, 12),
            Lb6Backends => s(&[HASH], 4, 24),
            Lb4RevNat => s(&[HASH], 2, 6),
            Lb6RevNat => s(&[HASH], 2, 18),
            Ipcache if v == Version::V1_18 => s(&[LPM_TRIE], 24, 24),
            Ipcache => s(&[LPM_TRIE], 24, 12),
            Lxc => s(&[HASH], 20, 48),
            Metrics => s(&[PERCPU_HASH], 8, 16),
            PolicyStats if v == Version::V1_18 => s(&[LRU_PERCPU_HASH], 12, 16),
            PolicyStats => None,
            Policy if v == Version::V1_18 => s(&[LPM_TRIE], 12, 8),
            Policy => s(&[LPM_TRIE], 12, 24),
            NodeMap => s(&[HASH], 20, 4),
            Tunnel if v == Version::V1_18 => None,
            Tunnel => s(&[HASH], 20, 20),
            Auth => s(&[HASH], 12, 8),
            Lb4SrcRange => s(&[LPM_TRIE], 12, 1),
            Lb6SrcRange => s(&[LPM_TRIE], 24, 1),
            Lb4Affinity => s(&[LRU_HASH, HASH], 16, 16),
            Lb6Affinity => s(&[LRU_HASH, HASH], 24, 16),
        }
    }
}

/// Policy entry flavour inside the same 24-byte value (1.16.0–3 wildcard bits vs 1.16.4+ prefix length).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum PolicyFormat {
    /// 1.16.0–1.16.3: bit1 wildcard_protocol, bit2 wildcard_dport.
    Wildcard,
    /// 1.16.4+ and later: bits 3–7 hold the LPM prefix length past the identity.
    PrefixLen,
}

/// Infers the release from the pin names present in `tc/globals` (see cilium-maps.md §6).
pub fn detect_from_names(names: &[String]) -> Option<Version> {
    let has = |n: &str| names.iter().any(|x| x == n);
    let policy_v2 = names.iter().any(|n| is_policy_name(n, "cilium_policy_v2_"));
    let policy_v1 = names.iter().any(|n| is_policy_name(n, "cilium_policy_"));
    if has("cilium_ipcache_v2") || has("cilium_policystats") {
        Some(Version::V1_18)
    } else if policy_v2 {
        Some(Version::V1_17)
    } else if policy_v1 {
        Some(Version::V1_16)
    } else {
        None
    }
}

/// `cilium_policy_00123` for prefix `cilium_policy_`; returns the endpoint ID.
pub fn is_policy_name(name: &str, prefix: &str) -> bool {
    policy_endpoint(name, prefix).is_some()
}

pub fn policy_endpoint(name: &str, prefix: &str) -> Option<u16> {
    let rest = name.strip_prefix(prefix)?;
    if rest.len() == 5 && rest.bytes().all(|b| b.is_ascii_digit()) {
        rest.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection() {
        let n = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            detect_from_names(&n(&["cilium_ipcache_v2", "cilium_policy_v2_00012"])),
            Some(Version::V1_18)
        );
        assert_eq!(
            detect_from_names(&n(&["cilium_ipcache", "cilium_policy_v2_00012"])),
            Some(Version::V1_17)
        );
        assert_eq!(
            detect_from_names(&n(&["cilium_ipcache", "cilium_policy_00012"])),
            Some(Version::V1_16)
        );
        assert_eq!(
            detect_from_names(&n(&["cilium_ipcache", "cilium_policystats"])),
            Some(Version::V1_18)
        );
        assert_eq!(detect_from_names(&n(&["cilium_ipcache"])), None);
        assert_eq!(
            policy_endpoint("cilium_policy_v2_00012", "cilium_policy_v2_"),
            Some(12)
        );
        assert_eq!(
            policy_endpoint("cilium_policy_v2_00012", "cilium_policy_"),
            None
        );
        assert_eq!("v1.17.4".parse::<Version>(), Ok(Version::V1_17));
    }
}
