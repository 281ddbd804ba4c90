//! Any entry of Cilium's maps decoded from the map's name and the raw key/value bytes, for traces of BPF map
//! operations (`--output-bpfmap`), where nothing else is known about the map.
//!
//! ```
//! let key = [10, 244, 2, 7, 10, 244, 1, 5, 0, 80, 0xa8, 0xca, 6, 0]; // daddr, saddr, dport, sport, TCP, OUT
//! let e = cilium::entry::decode("cilium_ct4_glob", &key, None, cilium::Version::V1_18).unwrap().unwrap();
//! assert_eq!(e.to_string(), "TCP OUT 10.244.2.7:43210 -> 10.244.1.5:80");
//! assert_eq!(e.json()["key"]["proto"], "TCP");
//! ```

use crate::auth::{AuthKey, AuthValue};
use crate::ct::{CtEntry, CtTuple};
use crate::endpoint::{EndpointInfo, EndpointKey};
use crate::ipcache::{IpcacheKey, IpcacheValue};
use crate::lb::{AffinityKey, AffinityValue, Backend, RevNat, SourceRange, SvcKey, SvcValue};
use crate::metrics::{Counters, MetricsKey};
use crate::nat::NatEntry;
use crate::nodeid::{NodeKey, NodeValue};
use crate::policy::{PolicyEntry, PolicyKey, PolicyStatsKey};
use crate::tunnel::{TunnelKey, TunnelValue};
use crate::version::{MapKind, PolicyFormat, Version};
use crate::wire::{SizeError, check, go_ip};
use serde_json::json;
use std::fmt;

/// A decoded key of one of Cilium's maps, with its value when one was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Conntrack tuple (stored orientation) and entry.
    Ct(CtTuple, Option<CtEntry>),
    /// NAT tuple (packet orientation) and mapping.
    Nat(CtTuple, Option<NatEntry>),
    /// Service frontend or slot.
    Service(SvcKey, Option<SvcValue>),
    /// Backend ID and backend.
    Backend(u32, Option<Backend>),
    /// Reverse-NAT ID and the service address.
    RevNat(u16, Option<RevNat>),
    /// IP prefix and its identity.
    Ipcache(IpcacheKey, Option<IpcacheValue>),
    /// Local endpoint address and endpoint.
    Endpoint(EndpointKey, Option<EndpointInfo>),
    /// Policy rule and verdict entry.
    Policy(PolicyKey, Option<PolicyEntry>),
    /// 1.18 rule counters (one CPU's slot).
    PolicyStats(PolicyStatsKey, Option<Counters>),
    /// Datapath counters (one CPU's slot).
    Metrics(MetricsKey, Option<Counters>),
    /// Node address and ID.
    Node(NodeKey, Option<NodeValue>),
    /// Remote prefix and tunnel endpoint.
    Tunnel(TunnelKey, Option<TunnelValue>),
    /// Authenticated identity pair and expiry.
    Auth(AuthKey, Option<AuthValue>),
    /// LoadBalancerSourceRanges prefix and flag byte.
    SourceRange(SourceRange, Option<u8>),
    /// Session-affinity client and backend.
    Affinity(AffinityKey, Option<AffinityValue>),
}

/// One entry (or a key alone, as a lookup or delete passes it) of one of Cilium's maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The map's name as given.
    pub name: String,
    /// Which map it is.
    pub kind: MapKind,
    /// The release whose layout decoded it.
    pub version: Version,
    /// Key and value.
    pub decoded: Decoded,
}

/// Key and value sizes that are not the layout of any release of the map with that name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{name}: key {key} bytes{} is not a layout of Cilium's {kind:?} map (expected key {want_key} bytes, value {want_value} bytes)",
    value.map(|v| format!(", value {v} bytes")).unwrap_or_default()
)]
pub struct LayoutError {
    /// The map's name.
    pub name: String,
    /// The map it names.
    pub kind: MapKind,
    /// Key size given.
    pub key: usize,
    /// Value size given.
    pub value: Option<usize>,
    /// Key size of the preferred release.
    pub want_key: u32,
    /// Value size of the preferred release.
    pub want_value: u32,
}

/// Decodes an entry of the map called `name` (its pin name, or the kernel's name cut to 15 characters); `value`
/// is one CPU's slot for per-CPU maps, `None` for a key alone. `version` is the node's release, tried first; a map
/// whose sizes match another release's layout (a pin left over by an upgrade) decodes with that one.
///
/// `None` when no map of Cilium we decode has that name and these sizes (a cut name shared with a map we do not
/// decode, like `cilium_lb4_reve` for `cilium_lb4_reverse_sk`, is `None` too); an error when the name is exactly
/// one of our maps' pin names but the sizes fit no release.
pub fn decode(
    name: &str,
    key: &[u8],
    value: Option<&[u8]>,
    version: Version,
) -> Option<Result<Entry, LayoutError>> {
    let Some((kind, v)) = MapKind::identify(name, key.len(), value.map(<[u8]>::len), version)
    else {
        let kind = MapKind::named(name, version)?;
        let spec = kind.spec(version)?;
        return Some(Err(LayoutError {
            name: name.to_string(),
            kind,
            key: key.len(),
            value: value.map(<[u8]>::len),
            want_key: spec.key,
            want_value: spec.value,
        }));
    };
    // The sizes were checked against the release's layout, so the decoders accept them.
    let decoded = decode_pair(kind, key, value, v).ok()?;
    Some(Ok(Entry {
        name: name.to_string(),
        kind,
        version: v,
        decoded,
    }))
}

/// The key, and the value if given, each with its decoder.
fn pair<K, V>(
    key: &[u8],
    value: Option<&[u8]>,
    k: impl Fn(&[u8]) -> Result<K, SizeError>,
    v: impl Fn(&[u8], &K) -> Result<V, SizeError>,
) -> Result<(K, Option<V>), SizeError> {
    let k = k(key)?;
    let v = value.map(|b| v(b, &k)).transpose()?;
    Ok((k, v))
}

fn decode_pair(
    kind: MapKind,
    k: &[u8],
    val: Option<&[u8]>,
    v: Version,
) -> Result<Decoded, SizeError> {
    use MapKind::*;
    Ok(match kind {
        Ct4 | CtAny4 | Ct6 | CtAny6 => {
            let (k, e) = pair(k, val, CtTuple::parse, |b, _| CtEntry::parse(b))?;
            Decoded::Ct(k, e)
        }
        Nat4 | Nat6 => {
            let (k, e) = pair(k, val, CtTuple::parse, |b, _| NatEntry::parse(b))?;
            Decoded::Nat(k, e)
        }
        Lb4Services | Lb6Services => {
            let (k, e) = pair(k, val, SvcKey::parse, |b, _| SvcValue::parse(b, v))?;
            Decoded::Service(k, e)
        }
        Lb4Backends | Lb6Backends => {
            let (k, e) = pair(k, val, crate::lb::backend_key, |b, _| Backend::parse(b))?;
            Decoded::Backend(k, e)
        }
        Lb4RevNat | Lb6RevNat => {
            let (k, e) = pair(k, val, crate::lb::revnat_key, |b, _| RevNat::parse(b))?;
            Decoded::RevNat(k, e)
        }
        Ipcache => {
            let (k, e) = pair(k, val, IpcacheKey::parse, |b, _| IpcacheValue::parse(b, v))?;
            Decoded::Ipcache(k, e)
        }
        Lxc => {
            let (k, e) = pair(k, val, EndpointKey::parse, |b, _| EndpointInfo::parse(b, v))?;
            Decoded::Endpoint(k, e)
        }
        Metrics => {
            let (k, e) = pair(k, val, MetricsKey::parse, |b, _| Counters::parse(b))?;
            Decoded::Metrics(k, e)
        }
        PolicyStats => {
            let (k, e) = pair(k, val, PolicyStatsKey::parse, |b, _| Counters::parse(b))?;
            Decoded::PolicyStats(k, e)
        }
        Policy => {
            let (k, e) = pair(k, val, PolicyKey::parse, |b, k| {
                // 1.16.0–3 and 1.16.4+ entries have one size; a lone entry tells its layout by its own flags.
                let format = match v {
                    Version::V1_16 => {
                        crate::policy::detect_format(&[(k.clone(), b.get(2).copied().unwrap_or(0))])
                    }
                    _ => PolicyFormat::PrefixLen,
                };
                PolicyEntry::parse(b, v, format)
            })?;
            Decoded::Policy(k, e)
        }
        NodeMap => {
            let (k, e) = pair(k, val, NodeKey::parse, |b, _| NodeValue::parse(b))?;
            Decoded::Node(k, e)
        }
        Tunnel => {
            let (k, e) = pair(k, val, TunnelKey::parse, |b, _| TunnelValue::parse(b))?;
            Decoded::Tunnel(k, e)
        }
        Auth => {
            let (k, e) = pair(k, val, AuthKey::parse, |b, _| AuthValue::parse(b))?;
            Decoded::Auth(k, e)
        }
        Lb4SrcRange | Lb6SrcRange => {
            let (k, e) = pair(k, val, SourceRange::parse, |b, _| {
                check("lb source range value", b, &[1]).map(|()| b[0])
            })?;
            Decoded::SourceRange(k, e)
        }
        Lb4Affinity | Lb6Affinity => {
            let (k, e) = pair(k, val, AffinityKey::parse, |b, _| AffinityValue::parse(b))?;
            Decoded::Affinity(k, e)
        }
    })
}

impl Entry {
    /// The key on one line: `TCP OUT 10.244.1.5:43210 -> 10.244.2.7:80`, `10.96.0.10:53/UDP (1)`, `10.0.0.4/32`.
    pub fn key_text(&self) -> String {
        let v = self.version;
        let s = match &self.decoded {
            Decoded::Ct(k, _) => k.ct_text(),
            Decoded::Nat(k, _) => k.nat_text(),
            Decoded::Service(k, _) => k.text(v),
            Decoded::Backend(id, _) => format!("id={id}"),
            Decoded::RevNat(id, _) => format!("id={id}"),
            Decoded::Ipcache(k, _) => k.text(),
            Decoded::Endpoint(k, _) => k.text(),
            Decoded::Policy(k, _) => k.text(),
            Decoded::PolicyStats(k, _) => k.text(),
            Decoded::Metrics(k, _) => k.text(),
            Decoded::Node(k, _) => go_ip(&k.addr),
            Decoded::Tunnel(k, _) => k.text(),
            Decoded::Auth(k, _) => k.text(),
            Decoded::SourceRange(k, _) => k.text(),
            Decoded::Affinity(k, _) => k.text(),
        };
        s.trim_end().to_string()
    }

    /// The value on one line (timestamps raw: no clock is assumed), `None` for a key alone.
    pub fn value_text(&self) -> Option<String> {
        let v = self.version;
        let s = match &self.decoded {
            Decoded::Ct(_, e) => e.as_ref()?.text(v, None),
            Decoded::Nat(k, e) => e.as_ref()?.text(k, None),
            Decoded::Service(k, e) => e.as_ref()?.text(k, v),
            Decoded::Backend(_, b) => b.as_ref()?.text(),
            Decoded::RevNat(_, r) => r.as_ref()?.text(),
            Decoded::Ipcache(_, e) => e.as_ref()?.text(v),
            Decoded::Endpoint(_, e) => e.as_ref()?.text(v),
            Decoded::Policy(_, e) => e.as_ref()?.text(),
            Decoded::PolicyStats(_, c) | Decoded::Metrics(_, c) => c.as_ref()?.text(),
            Decoded::Node(_, n) => n.as_ref()?.text(),
            Decoded::Tunnel(_, t) => {
                let t = t.as_ref()?;
                format!("endpoint={} key={}", go_ip(&t.endpoint), t.key)
            }
            Decoded::Auth(_, a) => a.as_ref()?.text(),
            Decoded::SourceRange(_, f) => format!("flag={}", f.as_ref()?),
            Decoded::Affinity(_, a) => a.as_ref()?.text(),
        };
        Some(s.trim_end().to_string())
    }

    /// `{"map": …, "kind": …, "version": …, "key": {…}, "value": {…} or null}`.
    pub fn json(&self) -> serde_json::Value {
        let v = self.version;
        fn opt<T>(x: &Option<T>, f: impl Fn(&T) -> serde_json::Value) -> serde_json::Value {
            x.as_ref().map_or(serde_json::Value::Null, f)
        }
        let (key, value) = match &self.decoded {
            Decoded::Ct(k, e) => (k.json(), opt(e, |e| e.json(v, None))),
            Decoded::Nat(k, e) => (k.json(), opt(e, |e| crate::nat::nat_json(k, e, None))),
            Decoded::Service(k, e) => (k.json(), opt(e, |e| e.json(v))),
            Decoded::Backend(id, b) => (json!({ "id": id }), opt(b, |b| b.json(*id))),
            Decoded::RevNat(id, r) => (json!({ "id": id }), opt(r, RevNat::json)),
            Decoded::Ipcache(k, e) => (k.json(), opt(e, |e| e.json(v))),
            Decoded::Endpoint(k, e) => (k.json(), opt(e, |e| e.json(v))),
            Decoded::Policy(k, e) => (k.json(), opt(e, |e| e.json(k, None))),
            Decoded::PolicyStats(k, c) => (k.json(), opt(c, Counters::json)),
            Decoded::Metrics(k, c) => (k.json(), opt(c, Counters::json)),
            Decoded::Node(k, n) => (json!({ "addr": k.addr }), opt(n, NodeValue::json)),
            Decoded::Tunnel(k, t) => (
                json!({ "prefix": k.prefix, "cluster_id": k.cluster_id }),
                opt(t, TunnelValue::json),
            ),
            Decoded::Auth(k, a) => (
                k.json(),
                opt(
                    a,
                    |a| json!({ "expiration": crate::auth::rfc3339(a.expiration_ns) }),
                ),
            ),
            Decoded::SourceRange(k, f) => (k.json(), opt(f, |f| json!({ "flag": f }))),
            Decoded::Affinity(k, a) => (k.json(), opt(a, AffinityValue::json)),
        };
        json!({ "map": self.name, "kind": format!("{:?}", self.kind), "version": v, "key": key, "value": value })
    }
}

impl fmt::Display for Entry {
    /// The key, then the value if there is one: one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key_text())?;
        if let Some(v) = self.value_text() {
            write!(f, " {v}")?;
        }
        Ok(())
    }
}
