//! Which Cilium release wrote the maps, and the map catalog (pin name, kernel type, key/value sizes) per release.

use crate::bpf::map_type::*;
use std::fmt;

/// A Cilium release line whose map layouts we know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Version {
    /// 1.16.x (both the 1.16.0–3 and the 1.16.4+ policy entry).
    #[serde(rename = "1.16")]
    V1_16,
    /// 1.17.x.
    #[serde(rename = "1.17")]
    V1_17,
    /// 1.18.x.
    #[serde(rename = "1.18")]
    V1_18,
}

impl Version {
    /// Every supported release, newest first.
    pub const ALL: [Version; 3] = [Version::V1_18, Version::V1_17, Version::V1_16];
}

/// A release name that is not one we support.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported Cilium version {0:?} (supported: 1.16, 1.17, 1.18)")]
pub struct UnsupportedVersion(String);

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
    type Err = UnsupportedVersion;
    /// `1.17`, `v1.17.4`, …
    fn from_str(s: &str) -> Result<Self, UnsupportedVersion> {
        let s = s.trim_start_matches('v');
        if s.starts_with("1.16") {
            Ok(Version::V1_16)
        } else if s.starts_with("1.17") {
            Ok(Version::V1_17)
        } else if s.starts_with("1.18") {
            Ok(Version::V1_18)
        } else {
            Err(UnsupportedVersion(s.to_string()))
        }
    }
}

/// The kinds of map we decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MapKind {
    /// `cilium_ct4_global`: IPv4 TCP conntrack.
    Ct4,
    /// `cilium_ct_any4_global`: IPv4 non-TCP conntrack.
    CtAny4,
    /// `cilium_ct6_global`: IPv6 TCP conntrack.
    Ct6,
    /// `cilium_ct_any6_global`: IPv6 non-TCP conntrack.
    CtAny6,
    /// `cilium_snat_v4_external`.
    Nat4,
    /// `cilium_snat_v6_external`.
    Nat6,
    /// `cilium_lb4_services_v2`.
    Lb4Services,
    /// `cilium_lb6_services_v2`.
    Lb6Services,
    /// `cilium_lb4_backends_v3`.
    Lb4Backends,
    /// `cilium_lb6_backends_v3`.
    Lb6Backends,
    /// `cilium_lb4_reverse_nat`.
    Lb4RevNat,
    /// `cilium_lb6_reverse_nat`.
    Lb6RevNat,
    /// `cilium_ipcache` (≤1.17) / `cilium_ipcache_v2` (1.18).
    Ipcache,
    /// `cilium_lxc`: local endpoints.
    Lxc,
    /// `cilium_metrics`.
    Metrics,
    /// `cilium_policystats` (1.18).
    PolicyStats,
    /// A per-endpoint policy map; its name carries the endpoint ID.
    Policy,
    /// `cilium_node_map_v2`: node IDs.
    NodeMap,
    /// `cilium_tunnel_map` (≤1.17).
    Tunnel,
    /// `cilium_auth_map`.
    Auth,
    /// `cilium_lb4_source_range`.
    Lb4SrcRange,
    /// `cilium_lb6_source_range`.
    Lb6SrcRange,
    /// `cilium_lb4_affinity`.
    Lb4Affinity,
    /// `cilium_lb6_affinity`.
    Lb6Affinity,
}

/// How a release creates a map: kernel type(s) and key/value sizes.
pub struct Spec {
    /// Accepted kernel map types (`bpf::map_type`); the first is the one Cilium uses by default.
    pub types: &'static [u32],
    /// Key size in bytes.
    pub key: u32,
    /// Value size in bytes (of one CPU's slot for per-CPU maps).
    pub value: u32,
}

/// Kernel map names are cut to this many characters (`BPF_OBJ_NAME_LEN` − 1).
const KERNEL_NAME_LEN: usize = 15;

impl MapKind {
    /// The conntrack maps in cilium-dbg's listing order.
    pub const CT: [MapKind; 4] = [MapKind::Ct4, MapKind::CtAny4, MapKind::Ct6, MapKind::CtAny6];

    /// Every kind with a single, fixed pin name (all but [`MapKind::Policy`]).
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

impl MapKind {
    /// Whether `name` is this kind's pin name in release `v`, or the kernel's name for it (cut to 15 characters).
    pub fn is_named(self, name: &str, v: Version) -> bool {
        let pin = self.pin_name(v);
        let cut = name.len() == KERNEL_NAME_LEN;
        if self == MapKind::Policy {
            // `cilium_policy_v2_00012`, or cut: `cilium_policy_v`, `cilium_policy_0`.
            let digits = |rest: &str| rest.bytes().all(|b| b.is_ascii_digit());
            return is_policy_name(name, pin)
                || (cut && (pin.starts_with(name) || name.strip_prefix(pin).is_some_and(digits)));
        }
        name == pin || (cut && pin.starts_with(name))
    }

    /// The kind and release of the map named `name` (a pin name or the kernel's cut one) whose key and value have
    /// these sizes (`None`: not checked). Releases are tried from `preferred` on, so a map the release renamed
    /// (a lingering `cilium_ipcache` beside 1.18's `cilium_ipcache_v2`) still decodes with its own layout.
    pub fn identify(
        name: &str,
        key_size: usize,
        value_size: Option<usize>,
        preferred: Version,
    ) -> Option<(MapKind, Version)> {
        let versions =
            std::iter::once(preferred).chain(Version::ALL.into_iter().filter(|&v| v != preferred));
        for v in versions {
            for kind in MapKind::GLOBAL.into_iter().chain([MapKind::Policy]) {
                let Some(spec) = kind.spec(v) else { continue };
                if kind.is_named(name, v)
                    && spec.key as usize == key_size
                    && value_size.is_none_or(|s| s == spec.value as usize)
                {
                    return Some((kind, v));
                }
            }
        }
        None
    }

    /// The map whose pin name in release `v` is exactly `name` (whatever its sizes). A cut kernel name is not
    /// enough: other maps share its first 15 characters.
    pub fn named(name: &str, v: Version) -> Option<MapKind> {
        MapKind::GLOBAL
            .into_iter()
            .find(|k| k.spec(v).is_some() && k.pin_name(v) == name)
            .or_else(|| {
                is_policy_name(name, MapKind::Policy.pin_name(v)).then_some(MapKind::Policy)
            })
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

/// Whether `name` is a policy map name with `prefix` (`cilium_policy_00123` for prefix `cilium_policy_`).
pub fn is_policy_name(name: &str, prefix: &str) -> bool {
    policy_endpoint(name, prefix).is_some()
}

/// The endpoint ID of a policy map name with `prefix`.
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

    #[test]
    fn names_of_maps() {
        use Version::*;
        let id = |n: &str, k, v, pref| MapKind::identify(n, k, v, pref);
        assert_eq!(
            id("cilium_ct4_global", 14, Some(56), V1_18),
            Some((MapKind::Ct4, V1_18))
        );
        // The kernel's names are cut to 15 characters.
        assert_eq!(
            id("cilium_ct4_glob", 14, None, V1_17),
            Some((MapKind::Ct4, V1_17))
        );
        assert_eq!(
            id("cilium_ct_any6_", 38, Some(56), V1_17),
            Some((MapKind::CtAny6, V1_17))
        );
        assert_eq!(
            id("cilium_lb4_reve", 2, Some(6), V1_18),
            Some((MapKind::Lb4RevNat, V1_18))
        );
        // Same cut name, other sizes: `cilium_lb4_reverse_sk`, which we do not decode.
        assert_eq!(id("cilium_lb4_reve", 16, Some(8), V1_18), None);
        assert_eq!(id("cilium_snat_v4_", 4, Some(4), V1_18), None);
        // A 1.17 ipcache lingering on a 1.18 node decodes with its own layout.
        assert_eq!(
            id("cilium_ipcache", 24, Some(12), V1_18),
            Some((MapKind::Ipcache, V1_17))
        );
        assert_eq!(
            id("cilium_ipcache_", 24, Some(24), V1_18),
            Some((MapKind::Ipcache, V1_18))
        );
        assert_eq!(
            id("cilium_policy_v2_00012", 12, Some(8), V1_18),
            Some((MapKind::Policy, V1_18))
        );
        assert_eq!(
            id("cilium_policy_v", 12, Some(24), V1_17),
            Some((MapKind::Policy, V1_17))
        );
        assert_eq!(
            id("cilium_policy_0", 12, Some(24), V1_16),
            Some((MapKind::Policy, V1_16))
        );
        assert_eq!(
            id("cilium_policyst", 12, Some(16), V1_18),
            Some((MapKind::PolicyStats, V1_18))
        );
        assert_eq!(id("cilium_policy_v2_0001x", 12, Some(8), V1_18), None);
        assert_eq!(id("my_map", 14, Some(56), V1_18), None);
        assert_eq!(MapKind::named("cilium_lxc", V1_18), Some(MapKind::Lxc));
        assert_eq!(MapKind::named("cilium_tunnel_map", V1_18), None);
        assert_eq!(MapKind::named("cilium_lb4_reve", V1_18), None);
        assert_eq!(
            MapKind::named("cilium_policy_v2_00012", V1_18),
            Some(MapKind::Policy)
        );
    }
}
