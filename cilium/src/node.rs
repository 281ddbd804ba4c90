//! A node's Cilium state as pinned in bpffs: where the maps are, which release wrote them, and typed dumps.

use crate::bpf::{self, BpfError, Map, map_type};
use crate::ct::{CtEntry, CtTuple, NatEntry};
use crate::endpoint::{EndpointInfo, EndpointKey};
use crate::ipcache::{IpcacheKey, IpcacheValue};
use crate::lb::{Backend, RevNat, SvcKey, SvcValue};
use crate::metrics::{MetricsKey, sum_per_cpu};
use crate::policy::{PolicyEntry, PolicyKey};
use crate::version::{self, MapKind, PolicyFormat, Version};
use crate::wire::SizeError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no bpf filesystem is mounted (none in /proc/self/mountinfo); pass --bpffs DIR")]
    NoBpffs,
    #[error(
        "{0} does not exist: is Cilium running on this node? (pass --bpffs DIR to read another bpffs)"
    )]
    NoGlobals(PathBuf),
    #[error(
        "cannot tell the Cilium version from the maps in {0} (no cilium_ipcache_v2, cilium_policystats or \
         cilium_policy_* pins); pass --cilium-version"
    )]
    UnknownVersion(PathBuf),
    #[error(
        "{name}: unknown layout for Cilium {version}: {ty}, key {key} bytes, value {value} bytes (expected {expected})"
    )]
    Layout {
        name: String,
        version: Version,
        ty: String,
        key: u32,
        value: u32,
        expected: String,
    },
    #[error("map {0} is not pinned in {1}")]
    Missing(String, PathBuf),
    #[error("{map}: {source}")]
    Decode { map: String, source: SizeError },
    #[error(transparent)]
    Bpf(#[from] BpfError),
}

pub type Result<T> = std::result::Result<T, Error>;
pub type CtPair = (CtTuple, CtEntry);
pub type NatPair = (CtTuple, NatEntry);
/// (map path, key, first value).
pub type NamedPair = (String, Vec<u8>, Vec<u8>);

/// How the version was established (for `pwru cilium maps`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionSource {
    Names,
    Override,
}

pub struct Node {
    /// The `tc/globals` directory.
    pub dir: PathBuf,
    pub version: Version,
    pub version_source: VersionSource,
    /// Pin names present in `dir`, sorted.
    pub names: Vec<String>,
}

/// The `tc/globals` directory under a bpffs root (or the root itself if the maps are directly in it).
pub fn globals_dir(bpffs: Option<&Path>) -> Result<PathBuf> {
    let root = match bpffs {
        Some(p) => p.to_path_buf(),
        None => bpf::default_bpffs_root().ok_or(Error::NoBpffs)?,
    };
    let dir = root.join("tc/globals");
    if dir.is_dir() {
        return Ok(dir);
    }
    if bpffs.is_some() && root.join("cilium_lxc").exists() {
        return Ok(root);
    }
    Err(Error::NoGlobals(dir))
}

fn decode<T>(map: &Map, r: std::result::Result<T, SizeError>) -> Result<T> {
    r.map_err(|source| Error::Decode {
        map: map.path.display().to_string(),
        source,
    })
}

impl Node {
    pub fn open(bpffs: Option<&Path>, version: Option<Version>) -> Result<Node> {
        let dir = globals_dir(bpffs)?;
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| {
                Error::Bpf(BpfError::Open {
                    path: dir.clone(),
                    source: e,
                })
            })?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
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
        let Some(spec) = kind.spec(self.version) else {
            return Ok(Some(map));
        };
        let i = &map.info;
        if !spec.types.contains(&i.map_type) || i.key_size != spec.key || i.value_size != spec.value
        {
            let types = spec
                .types
                .iter()
                .map(|t| map_type::name(*t))
                .collect::<Vec<_>>()
                .join("/");
            return Err(Error::Layout {
                name: name.to_string(),
                version: self.version,
                ty: map_type::name(i.map_type).to_string(),
                key: i.key_size,
                value: i.value_size,
                expected: format!(
                    "{types}, key {} bytes, value {} bytes",
                    spec.key, spec.value
                ),
            });
        }
        Ok(Some(map))
    }

    pub fn map(&self, kind: MapKind) -> Result<Option<Map>> {
        self.open_checked(kind.pin_name(self.version), kind)
    }

    pub fn require(&self, kind: MapKind) -> Result<Map> {
        self.map(kind)?.ok_or_else(|| {
            Error::Missing(kind.pin_name(self.version).to_string(), self.dir.clone())
        })
    }

    /// Endpoint IDs that have a policy map.
    pub fn policy_endpoints(&self) -> Vec<u16> {
        let prefix = MapKind::Policy.pin_name(self.version);
        let mut ids: Vec<u16> = self
            .names
            .iter()
            .filter_map(|n| version::policy_endpoint(n, prefix))
            .collect();
        ids.sort();
        ids
    }

    pub fn policy_map_name(&self, ep: u16) -> String {
        format!("{}{ep:05}", MapKind::Policy.pin_name(self.version))
    }

    pub fn policy_map(&self, ep: u16) -> Result<Map> {
        let name = self.policy_map_name(ep);
        self.open_checked(&name, MapKind::Policy)?
            .ok_or_else(|| Error::Missing(name, self.dir.clone()))
    }

    /// All CT entries of the global maps, in cilium-dbg's map order (TCP v4, any v4, TCP v6, any v6).
    pub fn ct_entries(&self) -> Result<Vec<(MapKind, Vec<CtPair>)>> {
        let mut out = Vec::new();
        for kind in [MapKind::Ct4, MapKind::CtAny4, MapKind::Ct6, MapKind::CtAny6] {
            let Some(map) = self.map(kind)? else { continue };
            let mut entries = Vec::new();
            for (k, v) in map.entries()? {
                let key = decode(&map, CtTuple::parse(&k))?;
                if key.nexthdr == 0 {
                    continue;
                }
                entries.push((key, decode(&map, CtEntry::parse(&v[0]))?));
            }
            out.push((kind, entries));
        }
        Ok(out)
    }

    pub fn nat_entries(&self) -> Result<Vec<(MapKind, Vec<NatPair>)>> {
        let mut out = Vec::new();
        for kind in [MapKind::Nat4, MapKind::Nat6] {
            let Some(map) = self.map(kind)? else { continue };
            let mut entries = Vec::new();
            for (k, v) in map.entries()? {
                entries.push((
                    decode(&map, CtTuple::parse(&k))?,
                    decode(&map, NatEntry::parse(&v[0]))?,
                ));
            }
            out.push((kind, entries));
        }
        Ok(out)
    }

    pub fn services(&self) -> Result<Vec<(SvcKey, SvcValue)>> {
        let mut out = Vec::new();
        for kind in [MapKind::Lb4Services, MapKind::Lb6Services] {
            let Some(map) = self.map(kind)? else { continue };
            for (k, v) in map.entries()? {
                out.push((
                    decode(&map, SvcKey::parse(&k))?,
                    decode(&map, SvcValue::parse(&v[0], self.version))?,
                ));
            }
        }
        Ok(out)
    }

    /// Backends by ID, per family (`false` = v4).
    pub fn backends(&self) -> Result<BTreeMap<(bool, u32), Backend>> {
        let mut out = BTreeMap::new();
        for (v6, kind) in [(false, MapKind::Lb4Backends), (true, MapKind::Lb6Backends)] {
            let Some(map) = self.map(kind)? else { continue };
            for (k, v) in map.entries()? {
                out.insert(
                    (v6, decode(&map, crate::lb::backend_key(&k))?),
                    decode(&map, Backend::parse(&v[0]))?,
                );
            }
        }
        Ok(out)
    }

    pub fn revnats(&self) -> Result<BTreeMap<(bool, u16), RevNat>> {
        let mut out = BTreeMap::new();
        for (v6, kind) in [(false, MapKind::Lb4RevNat), (true, MapKind::Lb6RevNat)] {
            let Some(map) = self.map(kind)? else { continue };
            for (k, v) in map.entries()? {
                out.insert(
                    (v6, decode(&map, crate::lb::revnat_key(&k))?),
                    decode(&map, RevNat::parse(&v[0]))?,
                );
            }
        }
        Ok(out)
    }

    /// Raw (key, first value) pairs of one or more maps, skipping maps that are not pinned.
    pub fn raw_pairs(&self, kinds: &[MapKind]) -> Result<Vec<NamedPair>> {
        let mut out = Vec::new();
        for &kind in kinds {
            let Some(map) = self.map(kind)? else { continue };
            for (k, mut v) in map.entries()? {
                out.push((map.path.display().to_string(), k, v.swap_remove(0)));
            }
        }
        Ok(out)
    }

    /// Decodes every entry of `kinds` with `f`; a layout error names the map.
    pub fn decode_all<T>(
        &self,
        kinds: &[MapKind],
        f: impl Fn(&[u8], &[u8]) -> std::result::Result<T, SizeError>,
    ) -> Result<Vec<T>> {
        self.raw_pairs(kinds)?
            .into_iter()
            .map(|(map, k, v)| f(&k, &v).map_err(|source| Error::Decode { map, source }))
            .collect()
    }

    pub fn ipcache(&self) -> Result<Vec<(IpcacheKey, IpcacheValue)>> {
        let map = self.require(MapKind::Ipcache)?;
        let mut out = Vec::new();
        for (k, v) in map.entries()? {
            out.push((
                decode(&map, IpcacheKey::parse(&k))?,
                decode(&map, IpcacheValue::parse(&v[0], self.version))?,
            ));
        }
        Ok(out)
    }

    pub fn endpoints(&self) -> Result<Vec<(EndpointKey, EndpointInfo)>> {
        let map = self.require(MapKind::Lxc)?;
        let mut out = Vec::new();
        for (k, v) in map.entries()? {
            out.push((
                decode(&map, EndpointKey::parse(&k))?,
                decode(&map, EndpointInfo::parse(&v[0], self.version))?,
            ));
        }
        Ok(out)
    }

    pub fn metrics(&self) -> Result<Vec<(MetricsKey, u64, u64)>> {
        let map = self.require(MapKind::Metrics)?;
        let mut out = Vec::new();
        for (k, v) in map.entries()? {
            let key = decode(&map, MetricsKey::parse(&k))?;
            let (p, b) = decode(&map, sum_per_cpu(&v))?;
            out.push((key, p, b));
        }
        Ok(out)
    }

    /// The policy entry layout of an endpoint's map: fixed by the release from 1.17 on, read from the data in 1.16.
    pub fn policy_format(&self, raw: &[bpf::RawEntry]) -> PolicyFormat {
        if self.version != Version::V1_16 {
            return PolicyFormat::PrefixLen;
        }
        let sample: Vec<(PolicyKey, u8)> = raw
            .iter()
            .filter_map(|(k, v)| Some((PolicyKey::parse(k).ok()?, *v.first()?.get(2)?)))
            .collect();
        crate::policy::detect_format(&sample)
    }

    pub fn policy(&self, ep: u16) -> Result<(PolicyFormat, Vec<(PolicyKey, PolicyEntry)>)> {
        let map = self.policy_map(ep)?;
        let raw = map.entries()?;
        let format = self.policy_format(&raw);
        let mut out = Vec::new();
        for (k, v) in &raw {
            out.push((
                decode(&map, PolicyKey::parse(k))?,
                decode(&map, PolicyEntry::parse(&v[0], self.version, format))?,
            ));
        }
        Ok((format, out))
    }

    /// 1.18 per-rule counters from `cilium_policystats`: (packets, bytes).
    pub fn policy_stats(
        &self,
        ep: u16,
        k: &PolicyKey,
        stats: Option<&Map>,
    ) -> Result<Option<(u64, u64)>> {
        let Some(map) = stats else { return Ok(None) };
        let mut key = ep.to_le_bytes().to_vec();
        key.push(0);
        key.push(k.p);
        key.extend(k.identity.to_le_bytes());
        key.push(k.egress as u8);
        key.push(k.proto);
        key.extend(k.dport.to_be_bytes());
        match map.lookup(&key)? {
            None => Ok(None),
            Some(v) => Ok(Some(decode(map, sum_per_cpu(&v))?)),
        }
    }
}
