//! The smaller maps: node IDs (`cilium_node_map_v2`), tunnel endpoints (`cilium_tunnel_map`, ≤1.17), mutual-auth
//! state (`cilium_auth_map`), load-balancer source ranges and session affinity.

use crate::names;
use crate::wire::*;
use serde_json::json;
use std::net::IpAddr;

fn family_ip(b: &[u8], o: usize, family: u8) -> IpAddr {
    ip(b, o, family == 2)
}

/// `node_key` → `node_value` (v2): node ID and IPsec SPI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeEntry {
    pub addr: IpAddr,
    pub id: u16,
    pub spi: u8,
}

impl NodeEntry {
    pub fn parse(k: &[u8], v: &[u8]) -> Result<NodeEntry, SizeError> {
        check("node key", k, &[20])?;
        check("node value", v, &[4])?;
        Ok(NodeEntry {
            addr: family_ip(k, 4, k[3]),
            id: u16le(v, 0),
            spi: v[2],
        })
    }
}

/// `bpf nodeid list`: one row per node ID with its addresses.
pub fn nodeid_rows(entries: &[NodeEntry]) -> Vec<[String; 3]> {
    let mut ids: Vec<(u16, u8)> = entries.iter().map(|e| (e.id, e.spi)).collect();
    ids.sort();
    ids.dedup_by_key(|x| x.0);
    ids.iter()
        .map(|&(id, spi)| {
            let mut addrs: Vec<IpAddr> = entries
                .iter()
                .filter(|e| e.id == id)
                .map(|e| e.addr)
                .collect();
            addrs.sort();
            let addrs: Vec<String> = addrs.iter().map(go_ip).collect();
            [format!("0x{id:x}"), addrs.join(","), spi.to_string()]
        })
        .collect()
}

/// `cilium_tunnel_map`: remote prefix → tunnel endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelEntry {
    pub prefix: IpAddr,
    pub cluster_id: u16,
    pub endpoint: IpAddr,
    pub key: u8,
}

impl TunnelEntry {
    pub fn parse(k: &[u8], v: &[u8]) -> Result<TunnelEntry, SizeError> {
        check("tunnel key", k, &[20])?;
        check("tunnel value", v, &[20])?;
        Ok(TunnelEntry {
            prefix: family_ip(k, 0, k[16]),
            cluster_id: u16le(k, 18),
            endpoint: family_ip(v, 0, v[16]),
            key: v[17],
        })
    }

    /// (`TUNNEL`, `VALUE`) cells: `10.0.1.0` → `192.168.1.2:0`.
    pub fn cells(&self) -> (String, String) {
        let cid = if self.cluster_id != 0 {
            format!("@{}", self.cluster_id)
        } else {
            String::new()
        };
        (
            format!("{}{cid}", go_ip(&self.prefix)),
            format!("{}:{}", go_ip(&self.endpoint), self.key),
        )
    }
}

/// `cilium_auth_map`: (local identity, remote identity, remote node, auth type) → expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthEntry {
    pub local: u32,
    pub remote: u32,
    pub remote_node_id: u16,
    pub auth_type: u8,
    /// Unix time in ns (stored in 512 ns units).
    pub expiration_ns: u64,
}

impl AuthEntry {
    pub fn parse(k: &[u8], v: &[u8]) -> Result<AuthEntry, SizeError> {
        check("auth key", k, &[12])?;
        check("auth value", v, &[8])?;
        Ok(AuthEntry {
            local: u32le(k, 0),
            remote: u32le(k, 4),
            remote_node_id: u16le(k, 8),
            auth_type: k[10],
            expiration_ns: u64le(v, 0).saturating_mul(512),
        })
    }

    pub fn cells(&self) -> [String; 5] {
        [
            names::identity_label(self.local),
            names::identity_label(self.remote),
            self.remote_node_id.to_string(),
            crate::policy::auth_name(self.auth_type),
            rfc3339(self.expiration_ns),
        ]
    }
}

/// `2026-11-23T20:00:00Z` from Unix ns (UTC, whole seconds).
pub fn rfc3339(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let (days, rem) = (secs / 86400, secs % 86400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `lb4_src_range_key` / `lb6_src_range_key` (LPM: 32 static bits of rev_nat_id + pad).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SourceRange {
    pub rev_nat: u16,
    pub addr: IpAddr,
    pub prefix: u8,
}

impl SourceRange {
    pub fn parse(k: &[u8]) -> Result<SourceRange, SizeError> {
        check("lb source range key", k, &[12, 24])?;
        let v6 = k.len() == 24;
        Ok(SourceRange {
            rev_nat: be16(k, 4),
            addr: ip(k, 8, v6),
            prefix: u32le(k, 0)
                .saturating_sub(32)
                .min(if v6 { 128 } else { 32 }) as u8,
        })
    }

    /// `10.0.0.0/8 (5)` as `bpf lb list --source-ranges`.
    pub fn text(&self) -> String {
        format!("{}/{} ({})", go_ip(&self.addr), self.prefix, self.rev_nat)
    }
}

/// `lb4_affinity_key` / `lb6_affinity_key` → `lb_affinity_val`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Affinity {
    /// The client address, or `None` for a netns-cookie client.
    pub client: Option<IpAddr>,
    pub netns_cookie: Option<u64>,
    pub rev_nat: u16,
    pub last_used: u64,
    pub backend_id: u32,
}

impl Affinity {
    pub fn parse(k: &[u8], v: &[u8]) -> Result<Affinity, SizeError> {
        check("lb affinity key", k, &[16, 24])?;
        check("lb affinity value", v, &[16])?;
        let v6 = k.len() == 24;
        let a = if v6 { 16 } else { 8 };
        let cookie = k[a + 2] & 1 != 0;
        Ok(Affinity {
            client: (!cookie).then(|| ip(k, 0, v6)),
            netns_cookie: cookie.then(|| u64le(k, 0)),
            rev_nat: be16(k, a),
            last_used: u64le(v, 0),
            backend_id: u32le(v, 8),
        })
    }

    pub fn cells(&self) -> [String; 4] {
        let client = match (self.client, self.netns_cookie) {
            (Some(a), _) => go_ip(&a),
            (None, Some(c)) => format!("netns-cookie:{c}"),
            _ => "?".into(),
        };
        [
            client,
            self.rev_nat.to_string(),
            self.backend_id.to_string(),
            self.last_used.to_string(),
        ]
    }

    pub fn json(&self) -> serde_json::Value {
        json!({ "client": self.client, "netns_cookie": self.netns_cookie, "rev_nat": self.rev_nat,
                "backend_id": self.backend_id, "last_used": self.last_used })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes from hex pieces.
    fn x(parts: &[&str]) -> Vec<u8> {
        let s: String = parts.concat();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
    const Z12: &str = "000000000000000000000000";

    #[test]
    fn small_maps() {
        // node_key {pad u16, pad u8, family, ip[16]} → node_value {id u16, spi u8, pad}
        let n = NodeEntry::parse(&x(&["00000001", "c0a8010b", Z12]), &x(&["03000200"])).unwrap();
        let m = NodeEntry::parse(
            &x(&["00000002", "fd000000", "00000000", "00000000", "00000011"]),
            &x(&["03000200"]),
        )
        .unwrap();
        assert_eq!(
            nodeid_rows(&[m, n]),
            [[
                "0x3".to_string(),
                "192.168.1.11,fd00::11".into(),
                "2".into()
            ]]
        );
        // tunnel_key {ip[16], family, pad, cluster_id} → tunnel_value {ip[16], family, key, pad}
        let t = TunnelEntry::parse(
            &x(&["0a000100", Z12, "01000000"]),
            &x(&["c0a80102", Z12, "01000000"]),
        )
        .unwrap();
        assert_eq!(t.cells(), ("10.0.1.0".into(), "192.168.1.2:0".into()));
        // auth_key {local 12345, remote 34567, remote_node_id 3, auth_type 1 (spire), pad}
        let exp = 1_795_464_000u64 * 1_000_000_000 / 512;
        let key = x(&["39300000", "07870000", "0300", "01", "00"]);
        let a = AuthEntry::parse(&key, &exp.to_le_bytes()).unwrap();
        assert_eq!(
            a.cells(),
            ["12345", "34567", "3", "spire", "2026-11-23T20:00:00Z"].map(String::from)
        );
        assert!(AuthEntry::parse(&key, &[0; 7]).is_err());
        // lb4_src_range_key {prefixlen 32+8, rev_nat_id be 5, pad, addr}
        let r = SourceRange::parse(&x(&["28000000", "0005", "0000", "0a000000"])).unwrap();
        assert_eq!(r.text(), "10.0.0.0/8 (5)");
        // lb4_affinity_key {client_id 8 B, rev_nat_id be, netns_cookie bit, pad, pad2} → {last_used, backend_id, pad}
        let af = Affinity::parse(
            &x(&["0af40105", "00000000", "0005", "00", "00", "00000000"]),
            &x(&["6400000000000000", "03000000", "00000000"]),
        )
        .unwrap();
        assert_eq!(
            af.cells(),
            ["10.244.1.5", "5", "3", "100"].map(String::from)
        );
        let cookie = Affinity::parse(
            &x(&["2a00000000000000", "0005", "01", "00", "00000000"]),
            &x(&["6400000000000000", "03000000", "00000000"]),
        )
        .unwrap();
        assert_eq!(cookie.cells()[0], "netns-cookie:42");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400 * 1_000_000_000), "2000-02-29T00:00:00Z");
    }
}
