//! `cilium_node_map_v2`: the ID (and IPsec SPI) of every node address.

use crate::wire::*;
use serde_json::json;
use std::net::IpAddr;

/// `struct node_key`: a node's address.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct NodeKey {
    /// The address.
    pub addr: IpAddr,
}

/// `struct node_value` (v2).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct NodeValue {
    /// Node ID.
    pub id: u16,
    /// IPsec SPI.
    pub spi: u8,
}

impl NodeKey {
    /// Decodes a 20-byte key (pad u16, pad u8, family, `ip[16]`).
    pub fn parse(k: &[u8]) -> Result<NodeKey, SizeError> {
        check("node key", k, &[20])?;
        Ok(NodeKey {
            addr: ip(k, 4, k[3] == 2),
        })
    }
}

impl NodeValue {
    /// Decodes a 4-byte value (id u16, spi u8, pad).
    pub fn parse(v: &[u8]) -> Result<NodeValue, SizeError> {
        check("node value", v, &[4])?;
        Ok(NodeValue {
            id: u16le(v, 0),
            spi: v[2],
        })
    }

    /// `id=0x3 spi=0`.
    pub fn text(&self) -> String {
        format!("id=0x{:x} spi={}", self.id, self.spi)
    }

    /// The fields.
    pub fn json(&self) -> serde_json::Value {
        json!({ "id": self.id, "spi": self.spi })
    }
}

/// One node with all its addresses, as a row of `bpf nodeid list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRow {
    /// Node ID and SPI.
    pub node: NodeValue,
    /// Its addresses, sorted.
    pub addrs: Vec<IpAddr>,
}

/// Groups the entries by node ID, as `bpf nodeid list` does.
pub fn by_node(entries: &[(NodeKey, NodeValue)]) -> Vec<NodeRow> {
    let mut ids: Vec<NodeValue> = entries.iter().map(|(_, v)| v.clone()).collect();
    ids.sort();
    ids.dedup_by_key(|v| v.id);
    ids.into_iter()
        .map(|node| {
            let mut addrs: Vec<IpAddr> = entries
                .iter()
                .filter(|(_, v)| v.id == node.id)
                .map(|(k, _)| k.addr)
                .collect();
            addrs.sort();
            NodeRow { node, addrs }
        })
        .collect()
}

impl NodeRow {
    /// Cells of `NODE ID`, `IP ADDRESSES`, `SPI`.
    pub fn cells(&self) -> [String; 3] {
        let addrs: Vec<String> = self.addrs.iter().map(go_ip).collect();
        [
            format!("0x{:x}", self.node.id),
            addrs.join(","),
            self.node.spi.to_string(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_group_addresses() {
        let k = |a: &str| NodeKey {
            addr: a.parse().unwrap(),
        };
        let v = NodeValue { id: 3, spi: 2 };
        let key4 = crate::wire::tests::hex(&["00000001", "c0a8010b", "000000000000000000000000"]);
        assert_eq!(NodeKey::parse(&key4).unwrap(), k("192.168.1.11"));
        assert_eq!(NodeValue::parse(&[3, 0, 2, 0]).unwrap(), v);
        let rows = by_node(&[(k("fd00::11"), v.clone()), (k("192.168.1.11"), v)]);
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0].cells(),
            ["0x3", "192.168.1.11,fd00::11", "2"].map(String::from)
        );
    }
}
