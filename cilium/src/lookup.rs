//! Point lookups the datapath itself performs (hash and LPM lookups in the kernel maps), shared by the
//! `pwru cilium …` lookups and the trace correlator.

use crate::bpf::Map;
use crate::ct::{CtEntry, CtTuple, TUPLE_F_IN, TUPLE_F_OUT, TUPLE_F_SERVICE};
use crate::endpoint::{EndpointInfo, EndpointKey};
use crate::error::Result;
use crate::flow::FlowKey;
use crate::ipcache::{IpcacheKey, IpcacheValue};
use crate::lb::{Backend, RevNat, SvcKey, SvcValue};
use crate::nat::NatEntry;
use crate::node::Node;
use crate::version::{MapKind, Version};
use crate::wire::u32le;
use serde_json::json;
use std::collections::HashMap;
use std::net::IpAddr;

/// The global maps of a node, opened once.
#[derive(Debug)]
pub struct Maps {
    /// The release whose layouts the maps have.
    pub version: Version,
    maps: HashMap<MapKind, Map>,
}

/// A service frontend and its backends as the datapath would resolve them.
#[derive(Clone, Debug)]
pub struct ServiceHit {
    /// The master entry's key.
    pub key: SvcKey,
    /// The master entry.
    pub value: SvcValue,
    /// (slot, backend ID, backend if found).
    pub backends: Vec<(u16, u32, Option<Backend>)>,
    /// The service's reverse-NAT entry.
    pub revnat: Option<RevNat>,
}

impl ServiceHit {
    /// The frontend, flags, reverse NAT and backends.
    pub fn json(&self, v: Version) -> serde_json::Value {
        let mut frontend = self.key.json();
        if let Some(o) = frontend.as_object_mut() {
            o.remove("slot");
        }
        json!({
            "frontend": frontend,
            "rev_nat": self.value.rev_nat,
            "flags": self.value.flags_text(v),
            "revnat_addr": self.revnat.as_ref().map(RevNat::text),
            "backends": self.backends.iter().map(|(slot, id, b)| json!({
                "slot": slot, "id": id, "backend": b.as_ref().map(|b| b.json(*id)) })).collect::<Vec<_>>(),
        })
    }
}

impl Maps {
    /// Opens every global map the node has pinned (layouts checked).
    pub fn open(node: &Node) -> Result<Maps> {
        let mut maps = HashMap::new();
        for kind in MapKind::GLOBAL {
            if let Some(m) = node.map(kind)? {
                maps.insert(kind, m);
            }
        }
        Ok(Maps {
            version: node.version,
            maps,
        })
    }

    /// The opened map of that kind, if pinned.
    pub fn get(&self, kind: MapKind) -> Option<&Map> {
        self.maps.get(&kind)
    }

    fn lookup(&self, kind: MapKind, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.maps.get(&kind) {
            None => Ok(None),
            Some(m) => Ok(m.lookup(key)?.and_then(|mut v| v.drain(..).next())),
        }
    }

    /// Longest-prefix identity lookup, as `lookup_ip4_remote_endpoint` does.
    pub fn ipcache(&self, addr: &IpAddr) -> Result<Option<IpcacheValue>> {
        let v = self.lookup(MapKind::Ipcache, &IpcacheKey::lookup_bytes(addr, 0))?;
        Ok(v.and_then(|v| IpcacheValue::parse(&v, self.version).ok()))
    }

    /// The local endpoint (or host address) `addr` is, from `cilium_lxc`.
    pub fn endpoint(&self, addr: &IpAddr) -> Result<Option<EndpointInfo>> {
        let v = self.lookup(MapKind::Lxc, &EndpointKey::lookup_bytes(addr))?;
        Ok(v.and_then(|v| EndpointInfo::parse(&v, self.version).ok()))
    }

    /// The local endpoints whose interface is `ifindex` (the lxc device a tc program runs on), from
    /// `cilium_lxc`: one entry per address of the endpoint, the host's own addresses left out.
    pub fn endpoints_on(&self, ifindex: u32) -> Result<Vec<(EndpointKey, EndpointInfo)>> {
        let Some(m) = self.maps.get(&MapKind::Lxc) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (k, vals) in m.entries()? {
            let (Ok(key), Some(Ok(info))) = (
                EndpointKey::parse(&k),
                vals.first().map(|v| EndpointInfo::parse(v, self.version)),
            ) else {
                continue;
            };
            if info.ifindex == ifindex && !info.is_host() {
                out.push((key, info));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    fn svc_kinds(addr: &IpAddr) -> (MapKind, MapKind, MapKind) {
        if addr.is_ipv4() {
            (
                MapKind::Lb4Services,
                MapKind::Lb4Backends,
                MapKind::Lb4RevNat,
            )
        } else {
            (
                MapKind::Lb6Services,
                MapKind::Lb6Backends,
                MapKind::Lb6RevNat,
            )
        }
    }

    /// `lb4_lookup_service`: the master entry for VIP:port (protocol-specific first from 1.17, then ANY), then each
    /// backend slot.
    pub fn service(&self, addr: &IpAddr, dport: u16, proto: u8) -> Result<Option<ServiceHit>> {
        let (svc, be, rn) = Self::svc_kinds(addr);
        let protos: &[u8] = if self.version >= Version::V1_17 {
            &[proto, 0]
        } else {
            &[0]
        };
        let mut found = None;
        'outer: for &p in protos {
            for scope in [0u8, 1] {
                let key = SvcKey {
                    addr: *addr,
                    dport,
                    slot: 0,
                    proto: p,
                    scope,
                };
                if let Some(v) = self.lookup(svc, &key.to_bytes())?
                    && let Ok(val) = SvcValue::parse(&v, self.version)
                {
                    found = Some((key, val));
                    break 'outer;
                }
            }
        }
        let Some((key, value)) = found else {
            return Ok(None);
        };
        let mut backends = Vec::new();
        for slot in 1..=value.count.saturating_add(value.qcount) {
            let sk = SvcKey {
                slot,
                ..key.clone()
            };
            let Some(v) = self.lookup(svc, &sk.to_bytes())? else {
                continue;
            };
            let Ok(sv) = SvcValue::parse(&v, self.version) else {
                continue;
            };
            let b = self
                .lookup(be, &sv.union.to_le_bytes())?
                .and_then(|b| Backend::parse(&b).ok());
            backends.push((slot, sv.union, b));
        }
        let revnat = self
            .lookup(rn, &value.rev_nat.to_be_bytes())?
            .and_then(|b| RevNat::parse(&b).ok());
        Ok(Some(ServiceHit {
            key,
            value,
            backends,
            revnat,
        }))
    }

    /// Backend `id` of the family.
    pub fn backend(&self, v6: bool, id: u32) -> Result<Option<Backend>> {
        let kind = if v6 {
            MapKind::Lb6Backends
        } else {
            MapKind::Lb4Backends
        };
        Ok(self
            .lookup(kind, &id.to_le_bytes())?
            .and_then(|b| Backend::parse(&b).ok()))
    }

    /// Reverse-NAT entry `id` of the family.
    pub fn revnat(&self, v6: bool, id: u16) -> Result<Option<RevNat>> {
        let kind = if v6 {
            MapKind::Lb6RevNat
        } else {
            MapKind::Lb4RevNat
        };
        Ok(self
            .lookup(kind, &id.to_be_bytes())?
            .and_then(|b| RevNat::parse(&b).ok()))
    }

    /// The CT map a packet of `flow` is tracked in (TCP or not, per family).
    pub fn ct_kind(&self, flow: &FlowKey) -> MapKind {
        match (flow.saddr.is_ipv4(), flow.proto == 6) {
            (true, true) => MapKind::Ct4,
            (true, false) => MapKind::CtAny4,
            (false, true) => MapKind::Ct6,
            (false, false) => MapKind::CtAny6,
        }
    }

    /// The connection entries a packet of `flow` can hit, whichever direction it travels: OUT/IN entries for the
    /// flow and for its reverse, and the service entry when the destination is a VIP.
    pub fn ct(&self, flow: &FlowKey) -> Result<Vec<(CtTuple, CtEntry)>> {
        let kind = self.ct_kind(flow);
        let mut out = Vec::new();
        let mut keys = Vec::new();
        for f in [flow.clone(), flow.reversed()] {
            for flags in [TUPLE_F_OUT, TUPLE_F_IN] {
                keys.push(CtTuple {
                    daddr: f.saddr,
                    saddr: f.daddr,
                    dport: f.dport,
                    sport: f.sport,
                    nexthdr: f.proto,
                    flags,
                });
            }
        }
        keys.push(CtTuple {
            daddr: flow.daddr,
            saddr: flow.saddr,
            dport: flow.sport,
            sport: flow.dport,
            nexthdr: flow.proto,
            flags: TUPLE_F_SERVICE,
        });
        for k in keys {
            if out.iter().any(|(o, _)| *o == k) {
                continue;
            }
            if let Some(v) = self.lookup(kind, &k.to_bytes())?
                && let Ok(e) = CtEntry::parse(&v)
            {
                out.push((k, e));
            }
        }
        Ok(out)
    }

    /// SNAT entries for the packet: egress mapping of the flow and the ingress (reply) mapping.
    pub fn nat(&self, flow: &FlowKey) -> Result<Vec<(CtTuple, NatEntry)>> {
        let kind = if flow.saddr.is_ipv4() {
            MapKind::Nat4
        } else {
            MapKind::Nat6
        };
        let mut out = Vec::new();
        for (f, flags) in [
            (flow, TUPLE_F_OUT),
            (flow, TUPLE_F_IN),
            (&flow.reversed(), TUPLE_F_OUT),
            (&flow.reversed(), TUPLE_F_IN),
        ] {
            let k = CtTuple {
                daddr: f.daddr,
                saddr: f.saddr,
                dport: f.dport,
                sport: f.sport,
                nexthdr: f.proto,
                flags,
            };
            if out.iter().any(|(o, _)| *o == k) {
                continue;
            }
            if let Some(v) = self.lookup(kind, &k.to_bytes())?
                && let Ok(e) = NatEntry::parse(&v)
            {
                out.push((k, e));
            }
        }
        Ok(out)
    }
}

/// Userspace longest-prefix match over dumped entries, with the kernel LPM trie's semantics (prefix bits counted
/// from the first data byte's MSB). Used where the kernel map is not at hand (decoding dumps, unit tests).
/// Keys are `prefixlen u32` followed by the data; keys shorter than that never match.
pub fn lpm_lookup<'a, V>(entries: &'a [(Vec<u8>, V)], key: &[u8]) -> Option<&'a V> {
    let data = key.get(4..)?;
    let mut best: Option<(u32, &V)> = None;
    for (k, v) in entries {
        let Some(kd) = k.get(4..) else { continue };
        let plen = u32le(k, 0);
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
