//! `cilium_lxc`: local endpoints (and the host's own addresses) by IP.

use crate::version::Version;
use crate::wire::*;
use serde_json::json;
use std::net::IpAddr;

/// `endpoint_info.flags`: the entry is one of the host's own addresses.
pub const ENDPOINT_F_HOST: u32 = 1;

/// `struct endpoint_key`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointKey {
    /// The endpoint's address.
    pub addr: IpAddr,
    /// IPsec key index (0).
    pub key: u8,
    /// Cluster ID.
    pub cluster_id: u16,
}

impl EndpointKey {
    /// Decodes a 20-byte key.
    pub fn parse(b: &[u8]) -> Result<EndpointKey, SizeError> {
        check("endpoint key", b, &[20])?;
        Ok(EndpointKey {
            addr: ip(b, 0, b[16] == 2),
            key: b[17],
            cluster_id: u16le(b, 18),
        })
    }

    /// The key of `addr`, for lookups.
    pub fn lookup_bytes(addr: &IpAddr) -> Vec<u8> {
        let mut b = ip_bytes(addr);
        b.resize(16, 0);
        b.push(if addr.is_ipv4() { 1 } else { 2 });
        b.extend([0, 0, 0]);
        b
    }

    /// `10.0.1.5:0` (`ip[@cid]:key`).
    pub fn text(&self) -> String {
        let cid = if self.cluster_id != 0 {
            format!("@{}", self.cluster_id)
        } else {
            String::new()
        };
        format!("{}{cid}:{}", self.addr, self.key)
    }

    /// The fields.
    pub fn json(&self) -> serde_json::Value {
        json!({ "key": self.text(), "addr": self.addr })
    }
}

/// `struct endpoint_info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointInfo {
    /// The endpoint's interface (host side of its veth).
    pub ifindex: u32,
    /// Endpoint ID.
    pub lxc_id: u16,
    /// `ENDPOINT_F_*` bits.
    pub flags: u32,
    /// The endpoint's MAC.
    pub mac: [u8; 6],
    /// The node-side MAC.
    pub node_mac: [u8; 6],
    /// Security identity.
    pub sec_id: u32,
    /// 1.17+.
    pub parent_ifindex: u32,
}

fn mac(b: &[u8], o: usize) -> [u8; 6] {
    b[o..o + 6].try_into().unwrap()
}

/// `0A:1B:2C:3D:4E:5F` (uppercase, as cilium-dbg).
pub fn mac_text(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl EndpointInfo {
    /// Decodes a 48-byte value; `v` tells whether bytes 36–39 are `parent_ifindex` (1.17+).
    pub fn parse(b: &[u8], v: Version) -> Result<EndpointInfo, SizeError> {
        check("endpoint info", b, &[48])?;
        Ok(EndpointInfo {
            ifindex: u32le(b, 0),
            lxc_id: u16le(b, 6),
            flags: u32le(b, 8),
            mac: mac(b, 16),
            node_mac: mac(b, 24),
            sec_id: u32le(b, 32),
            parent_ifindex: if v >= Version::V1_17 { u32le(b, 36) } else { 0 },
        })
    }

    /// Whether this is one of the host's own addresses (not a pod).
    pub fn is_host(&self) -> bool {
        self.flags & ENDPOINT_F_HOST != 0
    }

    /// The value as `bpf endpoint list` prints it.
    pub fn text(&self, v: Version) -> String {
        if self.is_host() {
            return "(localhost)".into();
        }
        let mut s = format!(
            "id={:<5} sec_id={:<5} flags=0x{:04X} ifindex={:<3} mac={} nodemac={}",
            self.lxc_id,
            self.sec_id,
            self.flags,
            self.ifindex,
            mac_text(&self.mac),
            mac_text(&self.node_mac)
        );
        if v >= Version::V1_17 {
            s.push_str(&format!(" parent_ifindex={:<3}", self.parent_ifindex));
        }
        s
    }

    /// The fields.
    pub fn json(&self, v: Version) -> serde_json::Value {
        let mut j = json!({
            "host": self.is_host(), "id": self.lxc_id, "sec_id": self.sec_id, "flags": self.flags,
            "ifindex": self.ifindex, "mac": mac_text(&self.mac), "node_mac": mac_text(&self.node_mac),
        });
        if v >= Version::V1_17 {
            j["parent_ifindex"] = self.parent_ifindex.into();
        }
        j
    }
}
