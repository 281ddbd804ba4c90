//! `cilium_tunnel_map` (up to 1.17): the tunnel endpoint of each remote prefix.

use crate::wire::*;
use serde_json::json;
use std::net::IpAddr;

/// `struct tunnel_key`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TunnelKey {
    /// The remote prefix's address.
    pub prefix: IpAddr,
    /// Cluster ID (clustermesh).
    pub cluster_id: u16,
}

/// `struct tunnel_value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelValue {
    /// The node to tunnel to.
    pub endpoint: IpAddr,
    /// IPsec key index.
    pub key: u8,
}

impl TunnelKey {
    /// Decodes a 20-byte key (`ip[16]`, family, pad, cluster_id u16).
    pub fn parse(k: &[u8]) -> Result<TunnelKey, SizeError> {
        check("tunnel key", k, &[20])?;
        Ok(TunnelKey {
            prefix: ip(k, 0, k[16] == 2),
            cluster_id: u16le(k, 18),
        })
    }

    /// `10.0.1.0[@cid]` as `bpf tunnel list` prints it.
    pub fn text(&self) -> String {
        let cid = if self.cluster_id != 0 {
            format!("@{}", self.cluster_id)
        } else {
            String::new()
        };
        format!("{}{cid}", go_ip(&self.prefix))
    }
}

impl TunnelValue {
    /// Decodes a 20-byte value (`ip[16]`, family, key, pad).
    pub fn parse(v: &[u8]) -> Result<TunnelValue, SizeError> {
        check("tunnel value", v, &[20])?;
        Ok(TunnelValue {
            endpoint: ip(v, 0, v[16] == 2),
            key: v[17],
        })
    }

    /// `192.168.1.2:0` (endpoint and key) as `bpf tunnel list` prints it.
    pub fn text(&self) -> String {
        format!("{}:{}", go_ip(&self.endpoint), self.key)
    }

    /// The fields.
    pub fn json(&self) -> serde_json::Value {
        json!({ "endpoint": self.endpoint, "key": self.key })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tests::hex;

    #[test]
    fn tunnel_entry() {
        const Z12: &str = "000000000000000000000000";
        let k = TunnelKey::parse(&hex(&["0a000100", Z12, "01000000"])).unwrap();
        let v = TunnelValue::parse(&hex(&["c0a80102", Z12, "01000000"])).unwrap();
        assert_eq!(
            (k.text(), v.text()),
            ("10.0.1.0".into(), "192.168.1.2:0".into())
        );
    }
}
