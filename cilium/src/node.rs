//! A node's Cilium state as pinned in bpffs: where the maps are, which release wrote them, maps opened with their
//! layout checked, and typed dumps.

use crate::bpf::{self, Map, map_type};
use crate::ct::{CtEntry, CtTuple};
use crate::endpoint::{EndpointInfo, EndpointKey};
use crate::error::{Error, Result};
use crate::ipcache::{IpcacheKey, IpcacheValue};
use crate::lb::{Backend, RevNat, SvcKey, SvcValue};
use crate::metrics::{Counters, MetricsKey};
use crate::policy::{PolicyEntry, PolicyKey};
use crate::version::{self, MapKind, PolicyFormat, Version};
use crate::wire::SizeError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A conntrack key and entry.
pub type CtPair = (CtTuple, CtEntry);

/// How the release was established.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionSource {
    /// From the pin names present.
    Names,
    /// Given by the caller.
    Override,
}

/// The `tc/globals` directory of a node's bpffs and the release that wrote it.
#[derive(Debug)]
pub struct Node {
    /// The `tc/globals` directory.
    pub dir: PathBuf,
    /// The release whose layouts the maps are decoded with.
    pub version: Version,
    /// How `version` was established.
    pub version_source: VersionSource,
    /// Pin names present in `dir`, sorted.
    pub names: Vec<String>,
}

/// The `tc/globals` directory under a bpffs root (or the root itself if the maps are directly in it), checked to
/// be on a bpffs.
pub fn globals_dir(bpffs: Option<&Path>) -> Result<PathBuf> {
    let root = match bpffs {
        Some(p) => p.to_path_buf(),
        None => bpf::default_bpffs_root().ok_or(Error::NoBpffs)?,
    };
    let globals = root.join("tc/globals");
    let dir = match std::fs::metadata(&globals) {
        Ok(m) if m.is_dir() => globals,
        // A bpffs mounted with mode 0700 (as /sys/fs/bpf is) hides it from other users: that is not "missing".
        Err(source) if bpf::is_denied(&source) => {
            return Err(Error::List {
                path: globals,
                source,
            });
        }
        _ if bpffs.is_some() && root.join("cilium_lxc").exists() => root,
        _ => return Err(Error::NoGlobals(globals)),
    };
    match bpf::is_on_bpffs(&dir) {
        Ok(true) => Ok(dir),
        Ok(false) => Err(Error::NotBpffs(dir)),
        Err(source) => Err(Error::List { path: dir, source }),
    }
}

/// Pin names in `dir`, sorted.
pub fn pin_names(dir: &Path) -> Result<Vec<String>> {
    let list = |source| Error::List {
        path: dir.to_path_buf(),
        source,
    };
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir).map_err(list)? {
        if let Ok(name) = e.map_err(list)?.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

fn decode_err(map: &Map) -> impl Fn(SizeError) -> Error + '_ {
    |error| Error::Decode {
        map: map.path.display().to_string(),
        error,
    }
}

impl Node {
    /// Finds the maps (`bpffs` root, default: the first bpffs in `/proc/self/mountinfo`) and the release that wrote
    /// them (`version`, default: told from the pin names).
    pub fn open(bpffs: Option<&Path>, version: Option<Version>) -> Result<Node> {
        let dir = globals_dir(bpffs)?;
        let names = pin_names(&dir)?;
        let (version, version_source) = match version {
            Some(v) => (v, VersionSource::Override),
            None => (
                version::detect_from_names(&names)
                    .ok_or_else(|| Error::UnknownVersion(dir.clone()))?,
                VersionSource::Names,
            ),
        };
        Ok(Node {
            dir,
            version,
            version_source,
            names,
        })
    }

    /// Whether a pin of that name exists.
    pub fn has(&self, name: &str) -> bool {
        self.names
            .binary_search_by(|n| n.as_str().cmp(name))
            .is_ok()
    }

    /// Opens a map by pin name and checks it has the layout the release uses.
    fn open_checked(&self, name: &str, kind: MapKind) -> Result<Option<Map>> {
        if !self.has(name) {
            return Ok(None);
        }
        let map = Map::open(&self.dir.join(name))?;
        if let Some(expected) = layout_mismatch(kind, self.version, &map.info) {
            let i = &map.info;
            return Err(Error::Layout {
                name: name.to_string(),
                version: self.version,
                ty: map_type::name(i.map_type).to_string(),
                key: i.key_size,
                value: i.value_size,
                expected,
            });
        }
        Ok(Some(map))
    }

    /// The global map of that kind, `None` if it is not pinned.
    pub fn map(&self, kind: MapKind) -> Result<Option<Map>> {
        self.open_checked(kind.pin_name(self.version), kind)
    }

    /// The global map of that kind; an error if it is not pinned.
    pub fn require(&self, kind: MapKind) -> Result<Map> {
        self.map(kind)?.ok_or_else(|| {
            Error::Missing(kind.pin_name(self.version).to_string(), self.dir.clone())
        })
    }

    /// Endpoint IDs that have a policy map.
    pub fn policy_endpoints(&self) -> Vec<u16> {
        let prefix = MapKind::Policy.pin_name(self.version);
        self.names
            .iter()
            .filter_map(|n| version::policy_endpoint(n, prefix))
            .collect()
    }

    /// Pin name of endpoint `ep`'s policy map.
    pub fn policy_map_name(&self, ep: u16) -> String {
        format!("{}{ep:05}", MapKind::Policy.pin_name(self.version))
    }

    /// Endpoint `ep`'s policy map; an error if it has none.
    pub fn policy_map(&self, ep: u16) -> Result<Map> {
        let name = self.policy_map_name(ep);
        self.open_checked(&name, MapKind::Policy)?
            .ok_or_else(|| Error::Missing(name, self.dir.clone()))
    }

    /// Decodes every entry of the pinned maps among `kinds` with `f(key, per-CPU values)`; a map that is not pinned
    /// is skipped, an entry of the wrong size is an error naming its map.
    pub fn dump<T>(
        &self,
        kinds: &[MapKind],
        f: impl Fn(&[u8], &[Vec<u8>]) -> std::result::Result<T, SizeError>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for &kind in kinds {
            if let Some(map) = self.map(kind)? {
                out.extend(dump_map(&map, &f)?);
            }
        }
        Ok(out)
    }

    /// [`dump`](Self::dump) for maps whose values are not per-CPU: `f(key, value)`.
    pub fn dump_pairs<T>(
        &self,
        kinds: &[MapKind],
        f: impl Fn(&[u8], &[u8]) -> std::result::Result<T, SizeError>,
    ) -> Result<Vec<T>> {
        self.dump(kinds, |k, v| f(k, first(v)?))
    }

    /// All CT entries of the global maps, per map in cilium-dbg's order (TCP v4, any v4, TCP v6, any v6). Entries
    /// with protocol 0 are skipped, as cilium-dbg does.
    pub fn ct_entries(&self) -> Result<Vec<(MapKind, Vec<CtPair>)>> {
        let mut out = Vec::new();
        for kind in MapKind::CT {
            let Some(map) = self.map(kind)? else { continue };
            let mut entries = dump_map(&map, |k, v| {
                Ok((CtTuple::parse(k)?, CtEntry::parse(first(v)?)?))
            })?;
            entries.retain(|(k, _)| k.nexthdr != 0);
            out.push((kind, entries));
        }
        Ok(out)
    }

    /// Service entries (frontends and slots) of both families.
    pub fn services(&self) -> Result<Vec<(SvcKey, SvcValue)>> {
        let v = self.version;
        self.dump(&[MapKind::Lb4Services, MapKind::Lb6Services], |k, val| {
            Ok((SvcKey::parse(k)?, SvcValue::parse(first(val)?, v)?))
        })
    }

    /// Backends by (family is IPv6, backend ID).
    pub fn backends(&self) -> Result<BTreeMap<(bool, u32), Backend>> {
        let mut out = BTreeMap::new();
        for (v6, kind) in [(false, MapKind::Lb4Backends), (true, MapKind::Lb6Backends)] {
            out.extend(self.dump(&[kind], |k, v| {
                Ok(((v6, crate::lb::backend_key(k)?), Backend::parse(first(v)?)?))
            })?);
        }
        Ok(out)
    }

    /// Reverse-NAT entries by (family is IPv6, rev-NAT ID).
    pub fn revnats(&self) -> Result<BTreeMap<(bool, u16), RevNat>> {
        let mut out = BTreeMap::new();
        for (v6, kind) in [(false, MapKind::Lb4RevNat), (true, MapKind::Lb6RevNat)] {
            out.extend(self.dump(&[kind], |k, v| {
                Ok(((v6, crate::lb::revnat_key(k)?), RevNat::parse(first(v)?)?))
            })?);
        }
        Ok(out)
    }

    /// The ipcache (which must be pinned).
    pub fn ipcache(&self) -> Result<Vec<(IpcacheKey, IpcacheValue)>> {
        let v = self.version;
        dump_map(&self.require(MapKind::Ipcache)?, |k, val| {
            Ok((IpcacheKey::parse(k)?, IpcacheValue::parse(first(val)?, v)?))
        })
    }

    /// Local endpoints (`cilium_lxc`, which must be pinned).
    pub fn endpoints(&self) -> Result<Vec<(EndpointKey, EndpointInfo)>> {
        let v = self.version;
        dump_map(&self.require(MapKind::Lxc)?, |k, val| {
            Ok((EndpointKey::parse(k)?, EndpointInfo::parse(first(val)?, v)?))
        })
    }

    /// Datapath counters summed over CPUs (`cilium_metrics`, which must be pinned).
    pub fn metrics(&self) -> Result<Vec<(MetricsKey, Counters)>> {
        dump_map(&self.require(MapKind::Metrics)?, |k, v| {
            Ok((MetricsKey::parse(k)?, Counters::sum(v)?))
        })
    }

    /// The policy entry layout of an endpoint's map: fixed by the release from 1.17 on, read from the data in 1.16.
    pub fn policy_format(&self, map: &Map) -> Result<PolicyFormat> {
        if self.version != Version::V1_16 {
            return Ok(PolicyFormat::PrefixLen);
        }
        let sample: Vec<(PolicyKey, u8)> = map
            .entries()?
            .iter()
            .filter_map(|(k, v)| Some((PolicyKey::parse(k).ok()?, *v.first()?.get(2)?)))
            .collect();
        Ok(crate::policy::detect_format(&sample))
    }

    /// Endpoint `ep`'s policy entries and their layout.
    pub fn policy(&self, ep: u16) -> Result<(PolicyFormat, Vec<(PolicyKey, PolicyEntry)>)> {
        let map = self.policy_map(ep)?;
        let format = self.policy_format(&map)?;
        let v = self.version;
        let entries = dump_map(&map, |k, val| {
            Ok((
                PolicyKey::parse(k)?,
                PolicyEntry::parse(first(val)?, v, format)?,
            ))
        })?;
        Ok((format, entries))
    }

    /// 1.18 per-rule counters of endpoint `ep`'s rule `k` from `cilium_policystats` (`stats`, if pinned).
    pub fn policy_stats(
        &self,
        ep: u16,
        k: &PolicyKey,
        stats: Option<&Map>,
    ) -> Result<Option<Counters>> {
        let Some(map) = stats else { return Ok(None) };
        let key = crate::policy::PolicyStatsKey::of_rule(ep, k).to_bytes();
        match map.lookup(&key)? {
            None => Ok(None),
            Some(v) => Ok(Some(Counters::sum(&v).map_err(decode_err(map))?)),
        }
    }
}

/// What the release expects of a map of kind `kind` (`types, key N bytes, value M bytes`) when `info` differs
/// from it; `None` when it matches or the release has no such map.
pub fn layout_mismatch(kind: MapKind, v: Version, info: &bpf::MapInfo) -> Option<String> {
    let spec = kind.spec(v)?;
    if spec.types.contains(&info.map_type)
        && info.key_size == spec.key
        && info.value_size == spec.value
    {
        return None;
    }
    let types: Vec<&str> = spec.types.iter().map(|t| map_type::name(*t)).collect();
    Some(format!(
        "{}, key {} bytes, value {} bytes",
        types.join("/"),
        spec.key,
        spec.value
    ))
}

/// Decodes every entry of one map.
fn dump_map<T>(
    map: &Map,
    f: impl Fn(&[u8], &[Vec<u8>]) -> std::result::Result<T, SizeError>,
) -> Result<Vec<T>> {
    map.entries()?
        .iter()
        .map(|(k, v)| f(k, v).map_err(decode_err(map)))
        .collect()
}

/// The value of an ordinary (not per-CPU) map (empty if there were none, which the decoder then refuses).
fn first(values: &[Vec<u8>]) -> std::result::Result<&[u8], SizeError> {
    Ok(values.first().map_or(&[][..], Vec::as_slice))
}
