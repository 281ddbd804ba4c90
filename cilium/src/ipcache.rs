//! `cilium_ipcache` (1.16/1.17, 12-byte value) and `cilium_ipcache_v2` (1.18, 24-byte value): IP prefix → identity.

use crate::names;
use crate::version::Version;
use crate::wire::*;
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};

/// Bits of the key before the IP: cluster_id, pad, family (`IPCACHE_PREFIX_LEN`).
pub const STATIC_PREFIX: u32 = 32;

/// `struct ipcache_key`: an IP prefix (LPM key).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpcacheKey {
    /// Prefix address.
    pub addr: IpAddr,
    /// IP prefix length (the key's prefixlen minus the 32 static bits).
    pub prefix: u8,
    /// Cluster ID (nonzero only with cluster-aware addressing).
    pub cluster_id: u16,
}

impl IpcacheKey {
    /// Decodes a 24-byte key.
    pub fn parse(b: &[u8]) -> Result<IpcacheKey, SizeError> {
        check("ipcache key", b, &[24])?;
        let family = b[7];
        let v6 = family == 2;
        let plen = u32le(b, 0);
        Ok(IpcacheKey {
            addr: ip(b, 8, v6),
            prefix: plen
                .saturating_sub(STATIC_PREFIX)
                .min(if v6 { 128 } else { 32 }) as u8,
            cluster_id: u16le(b, 4),
        })
    }

    /// Key for a longest-prefix lookup of a single address.
    pub fn lookup_bytes(addr: &IpAddr, cluster_id: u16) -> Vec<u8> {
        let (plen, family) = match addr {
            IpAddr::V4(_) => (STATIC_PREFIX + 32, 1u8),
            IpAddr::V6(_) => (STATIC_PREFIX + 128, 2u8),
        };
        let mut b = plen.to_le_bytes().to_vec();
        b.extend(cluster_id.to_le_bytes());
        b.push(0);
        b.push(family);
        let mut a = ip_bytes(addr);
        a.resize(16, 0);
        b.extend(a);
        b
    }

    /// `10.0.0.4/32[@cid]`
    pub fn text(&self) -> String {
        let mut s = format!("{}/{}", self.addr, self.prefix);
        if self.cluster_id != 0 {
            s.push_str(&format!("@{}", self.cluster_id));
        }
        s
    }

    /// The fields.
    pub fn json(&self) -> serde_json::Value {
        json!({ "prefix": self.text(), "addr": self.addr, "prefix_len": self.prefix, "cluster_id": self.cluster_id })
    }
}

/// `struct remote_endpoint_info` (12 bytes up to 1.17, 24 in 1.18).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpcacheValue {
    /// Security identity of the prefix.
    pub identity: u32,
    /// The node to tunnel to (0.0.0.0 when none).
    pub tunnel_endpoint: IpAddr,
    /// IPsec key index.
    pub encrypt_key: u8,
    /// Flag bits (`skiptunnel`, and from 1.18 `hastunnel`, `ipv6tunnel`, `remotecluster`).
    pub flags: u8,
}

const FLAGS_V2: [&str; 4] = ["skiptunnel", "hastunnel", "ipv6tunnel", "remotecluster"];

impl IpcacheValue {
    /// Decodes the release's value layout.
    pub fn parse(b: &[u8], v: Version) -> Result<IpcacheValue, SizeError> {
        if v == Version::V1_18 {
            check("ipcache_v2 value", b, &[24])?;
            let flags = b[23];
            Ok(IpcacheValue {
                identity: u32le(b, 0),
                tunnel_endpoint: ip(b, 4, flags & 4 != 0),
                encrypt_key: b[22],
                flags,
            })
        } else {
            check("ipcache value", b, &[12])?;
            Ok(IpcacheValue {
                identity: u32le(b, 0),
                tunnel_endpoint: IpAddr::V4(ip4(b, 4)),
                encrypt_key: b[10],
                flags: b[11],
            })
        }
    }

    /// Names of the set flag bits.
    pub fn flag_names(&self, v: Version) -> Vec<&'static str> {
        let n = if v == Version::V1_18 {
            FLAGS_V2.len()
        } else {
            1
        };
        (0..n)
            .filter(|i| self.flags & (1 << i) != 0)
            .map(|i| FLAGS_V2[i])
            .collect()
    }

    /// `identity=61928 encryptkey=0 tunnelendpoint=192.168.1.2, flags=<none>` (the comma only in 1.16).
    pub fn text(&self, v: Version) -> String {
        let names = self.flag_names(v);
        let flags = if names.is_empty() {
            "<none>".to_string()
        } else {
            names.join(",")
        };
        let comma = if v == Version::V1_16 { "," } else { "" };
        format!(
            "identity={} encryptkey={} tunnelendpoint={}{comma} flags={flags}",
            self.identity, self.encrypt_key, self.tunnel_endpoint
        )
    }

    /// The fields, identity with its reserved name.
    pub fn json(&self, v: Version) -> serde_json::Value {
        let tunnel = if self.tunnel_endpoint == IpAddr::V4(Ipv4Addr::UNSPECIFIED) {
            None
        } else {
            Some(self.tunnel_endpoint)
        };
        json!({
            "identity": names::identity_json(self.identity), "encrypt_key": self.encrypt_key,
            "tunnel_endpoint": tunnel, "flags": self.flag_names(v),
        })
    }
}
