//! Load-balancer maps: `cilium_lb{4,6}_services_v2`, `_backends_v3`, `_reverse_nat`, `_source_range` and
//! `_affinity`.

use crate::names;
use crate::version::Version;
use crate::wire::*;
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `lb4_key` / `lb6_key`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SvcKey {
    /// Frontend address (the VIP).
    pub addr: IpAddr,
    /// Frontend port.
    pub dport: u16,
    /// 0 for the service's master entry, else a backend slot.
    pub slot: u16,
    /// L4 protocol (1.17+; 0 = any), 0 in 1.16.
    pub proto: u8,
    /// 0 external, 1 internal.
    pub scope: u8,
}

impl SvcKey {
    /// Decodes a 12-byte (IPv4) or 24-byte (IPv6) key.
    pub fn parse(b: &[u8]) -> Result<SvcKey, SizeError> {
        check("lb service key", b, &[12, 24])?;
        let v6 = b.len() == 24;
        let a = if v6 { 16 } else { 4 };
        Ok(SvcKey {
            addr: ip(b, 0, v6),
            dport: be16(b, a),
            slot: u16le(b, a + 2),
            proto: b[a + 4],
            scope: b[a + 5],
        })
    }

    /// The key bytes, for lookups.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = ip_bytes(&self.addr);
        b.extend(self.dport.to_be_bytes());
        b.extend(self.slot.to_le_bytes());
        b.push(self.proto);
        b.push(self.scope);
        b.extend([0, 0]);
        b
    }

    /// `10.96.0.1:443 (1)` (1.16) / `10.96.0.1:443/TCP (1)` (1.17+), `/i` for the internal scope.
    pub fn text(&self, v: Version) -> String {
        let mut s = host_port(&self.addr, self.dport);
        if v >= Version::V1_17 {
            s.push('/');
            s.push_str(&names::proto(self.proto));
        }
        if self.scope == 1 {
            s.push_str("/i");
        }
        format!("{s} ({})", self.slot)
    }

    /// The fields, protocol and scope by name.
    pub fn json(&self) -> serde_json::Value {
        json!({ "addr": self.addr, "port": self.dport, "proto": names::proto(self.proto),
                "scope": if self.scope == 1 { "internal" } else { "external" }, "slot": self.slot })
    }
}

/// `lb4_service` / `lb6_service` (12 bytes for both families).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SvcValue {
    /// backend_id on slot entries; affinity timeout / LB algorithm / L7 proxy port on the master.
    pub union: u32,
    /// Number of backend slots (master entry).
    pub count: u16,
    /// Host order.
    pub rev_nat: u16,
    /// `flags` byte (service type bits).
    pub flags: u8,
    /// `flags2` byte.
    pub flags2: u8,
    /// Quarantined backends (1.17+).
    pub qcount: u16,
}

impl SvcValue {
    /// Decodes a 12-byte value; `v` tells whether bytes 10–11 are `qcount` (1.17+) or padding.
    pub fn parse(b: &[u8], v: Version) -> Result<SvcValue, SizeError> {
        check("lb service value", b, &[12])?;
        Ok(SvcValue {
            union: u32le(b, 0),
            count: u16le(b, 4),
            rev_nat: be16(b, 6),
            flags: b[8],
            flags2: b[9],
            qcount: if v >= Version::V1_17 { u16le(b, 10) } else { 0 },
        })
    }

    /// `flags | flags2 << 8`, Go's `ServiceFlags`.
    pub fn all_flags(&self) -> u16 {
        self.flags as u16 | (self.flags2 as u16) << 8
    }

    /// `ClusterIP, non-routable` — `ServiceFlags.String()`.
    pub fn flags_text(&self, v: Version) -> String {
        let f = self.all_flags();
        let bit = |n: u16| f & (1 << n) != 0;
        let ty = if bit(0) {
            "ExternalIPs"
        } else if bit(1) {
            "NodePort"
        } else if bit(5) {
            "LoadBalancer"
        } else if bit(3) {
            "HostPort"
        } else if bit(8) {
            "LocalRedirect"
        } else {
            "ClusterIP"
        };
        let mut out = vec![ty.to_string()];
        let mut push = |s: &str| out.push(s.to_string());
        if bit(2) {
            push("Local");
        }
        if bit(12) {
            push("InternalLocal");
        }
        if bit(13) {
            push("two-scopes");
        }
        if bit(4) {
            push("sessionAffinity");
        }
        if !bit(6) {
            push("non-routable");
        }
        if bit(7) {
            push("check source-range");
            if v >= Version::V1_17 && bit(14) {
                push("deny");
            }
        }
        if bit(9) {
            push("46x64");
        }
        if bit(10) {
            push("l7-load-balancer");
        }
        if bit(11) {
            if v == Version::V1_18 && !bit(3) {
                push("delegate-if-local");
            } else {
                push("loopback");
            }
        }
        if v >= Version::V1_17 && bit(14) && !bit(7) {
            push("quarantined");
        }
        if v >= Version::V1_17 && bit(15) {
            push("dsr");
        }
        out.join(", ")
    }

    /// Whether the service is redirected to an L7 proxy (the union then holds the proxy port).
    pub fn is_l7lb(&self) -> bool {
        self.flags2 & (1 << 2) != 0
    }

    /// The value without the backend it points to, for entries shown alone: `backend=3 revnat=5` on a slot,
    /// `count=2 revnat=5 [ClusterIP]` on a master entry (`key.slot == 0`).
    pub fn text(&self, key: &SvcKey, v: Version) -> String {
        if key.slot != 0 {
            return format!("backend={} revnat={}", self.union, self.rev_nat);
        }
        let mut s = format!("count={}", self.count);
        if self.qcount != 0 {
            s.push_str(&format!(" qcount={}", self.qcount));
        }
        s.push_str(&format!(
            " revnat={} [{}]",
            self.rev_nat,
            self.flags_text(v)
        ));
        if self.is_l7lb() {
            s.push_str(&format!(
                " l7-proxy-port={}",
                (self.union as u16).swap_bytes()
            ));
        }
        s
    }

    /// The fields, flags by name.
    pub fn json(&self, v: Version) -> serde_json::Value {
        json!({
            "union": self.union, "count": self.count, "qcount": self.qcount, "rev_nat": self.rev_nat,
            "flags": self.flags, "flags2": self.flags2, "flag_names": self.flags_text(v),
        })
    }
}

const BACKEND_STATES: [&str; 4] = ["active", "terminating", "quarantined", "maintenance"];

/// `lb4_backend` / `lb6_backend`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    /// Backend address.
    pub addr: IpAddr,
    /// Backend port.
    pub port: u16,
    /// L4 protocol (0 before 1.17).
    pub proto: u8,
    /// State: 0 active, 1 terminating, 2 quarantined, 3 maintenance.
    pub flags: u8,
    /// Cluster ID (clustermesh).
    pub cluster_id: u16,
    /// Topology zone.
    pub zone: u8,
}

impl Backend {
    /// Decodes a 12-byte (IPv4) or 24-byte (IPv6) backend.
    pub fn parse(b: &[u8]) -> Result<Backend, SizeError> {
        check("lb backend", b, &[12, 24])?;
        let v6 = b.len() == 24;
        let a = if v6 { 16 } else { 4 };
        Ok(Backend {
            addr: ip(b, 0, v6),
            port: be16(b, a),
            proto: b[a + 2],
            flags: b[a + 3],
            cluster_id: u16le(b, a + 4),
            zone: b[a + 6],
        })
    }

    /// `active`, `terminating`, `quarantined`, `maintenance`.
    pub fn state(&self) -> String {
        BACKEND_STATES
            .get(self.flags as usize)
            .map(|s| s.to_string())
            .unwrap_or_else(|| format!("state({})", self.flags))
    }

    /// `bpf lb list --backends` value: `TCP://10.244.1.5[@cid][[zone]]` (no port, as cilium-dbg).
    pub fn list_text(&self) -> String {
        let mut s = format!("{}://{}", names::proto(self.proto), self.addr);
        if self.cluster_id != 0 {
            s.push_str(&format!("@{}", self.cluster_id));
        }
        if self.zone != 0 {
            s.push_str(&format!("[{}]", self.zone));
        }
        s
    }

    /// `10.244.1.5:8080/TCP active` (with `@cluster` and `[zone]` when set), for entries shown alone.
    pub fn text(&self) -> String {
        let mut s = format!(
            "{}/{} {}",
            host_port(&self.addr, self.port),
            names::proto(self.proto),
            self.state()
        );
        if self.cluster_id != 0 {
            s.push_str(&format!(" cluster={}", self.cluster_id));
        }
        if self.zone != 0 {
            s.push_str(&format!(" zone={}", self.zone));
        }
        s
    }

    /// The fields of backend `id`.
    pub fn json(&self, id: u32) -> serde_json::Value {
        json!({
            "id": id, "addr": self.addr, "port": self.port, "proto": names::proto(self.proto),
            "state": self.state(), "cluster_id": self.cluster_id, "zone": self.zone,
        })
    }
}

/// `lb4_reverse_nat` / `lb6_reverse_nat`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevNat {
    /// The service address replies are rewritten to.
    pub addr: IpAddr,
    /// The service port.
    pub port: u16,
}

impl RevNat {
    /// Decodes a 6-byte (IPv4) or 18-byte (IPv6) value.
    pub fn parse(b: &[u8]) -> Result<RevNat, SizeError> {
        check("lb reverse nat", b, &[6, 18])?;
        let v6 = b.len() == 18;
        let a = if v6 { 16 } else { 4 };
        Ok(RevNat {
            addr: ip(b, 0, v6),
            port: be16(b, a),
        })
    }
}

impl RevNat {
    /// `10.96.0.10:53`.
    pub fn text(&self) -> String {
        host_port(&self.addr, self.port)
    }

    /// The fields.
    pub fn json(&self) -> serde_json::Value {
        json!({ "addr": self.addr, "port": self.port })
    }
}

/// Decodes a reverse-NAT key (the rev-NAT ID, big-endian).
pub fn revnat_key(b: &[u8]) -> Result<u16, SizeError> {
    check("lb reverse nat key", b, &[2])?;
    Ok(be16(b, 0))
}

/// Decodes a backends key (the backend ID).
pub fn backend_key(b: &[u8]) -> Result<u32, SizeError> {
    check("lb backend key", b, &[4])?;
    Ok(u32le(b, 0))
}

/// The `bpf lb list` value column for one service entry.
pub fn service_value_text(
    key: &SvcKey,
    val: &SvcValue,
    backend: Option<&Backend>,
    v: Version,
) -> String {
    if key.slot != 0 {
        let id = val.union;
        match backend {
            None => format!("backend {id} not found"),
            Some(b) => {
                let proto = if v >= Version::V1_17 {
                    format!("/{}", names::proto(b.proto))
                } else {
                    String::new()
                };
                format!(
                    "{}{proto} ({}) ({})",
                    host_port(&b.addr, b.port),
                    val.rev_nat,
                    key.slot
                )
            }
        }
    } else {
        let zero = match key.addr {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let head = format!(
            "{} ({}) (0) [{}]",
            host_port(&zero, 0),
            val.rev_nat,
            val.flags_text(v)
        );
        if val.is_l7lb() {
            format!(
                "{head} (L7LB Proxy Port: {})",
                (val.union as u16).swap_bytes()
            )
        } else {
            format!("{head} ")
        }
    }
}

/// `lb4_src_range_key` / `lb6_src_range_key` (LPM: 32 static bits of rev_nat_id + pad); the value is a flag byte.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SourceRange {
    /// The service's rev-NAT ID.
    pub rev_nat: u16,
    /// Allowed source prefix address.
    pub addr: IpAddr,
    /// Its length.
    pub prefix: u8,
}

impl SourceRange {
    /// Decodes a 12-byte (IPv4) or 24-byte (IPv6) key.
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

    /// The fields.
    pub fn json(&self) -> serde_json::Value {
        json!({ "rev_nat": self.rev_nat, "cidr": format!("{}/{}", self.addr, self.prefix) })
    }
}

/// `lb4_affinity_key` / `lb6_affinity_key`: a client of a service.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AffinityKey {
    /// The service's rev-NAT ID.
    pub rev_nat: u16,
    /// The client address, or `None` for a netns-cookie client.
    pub client: Option<IpAddr>,
    /// The client's netns cookie (socket-LB affinity).
    pub netns_cookie: Option<u64>,
}

/// `lb_affinity_val`: the backend the client sticks to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AffinityValue {
    /// Last use, in the clock's units.
    pub last_used: u64,
    /// The backend.
    pub backend_id: u32,
}

impl AffinityKey {
    /// Decodes a 16-byte (IPv4) or 24-byte (IPv6) key.
    pub fn parse(k: &[u8]) -> Result<AffinityKey, SizeError> {
        check("lb affinity key", k, &[16, 24])?;
        let v6 = k.len() == 24;
        let a = if v6 { 16 } else { 8 };
        let cookie = k[a + 2] & 1 != 0;
        Ok(AffinityKey {
            client: (!cookie).then(|| ip(k, 0, v6)),
            netns_cookie: cookie.then(|| u64le(k, 0)),
            rev_nat: be16(k, a),
        })
    }

    /// The client: its address or `netns-cookie:N`.
    pub fn client_text(&self) -> String {
        match (self.client, self.netns_cookie) {
            (Some(a), _) => go_ip(&a),
            (None, Some(c)) => format!("netns-cookie:{c}"),
            _ => "?".into(),
        }
    }

    /// `10.244.1.5 revnat=5`.
    pub fn text(&self) -> String {
        format!("{} revnat={}", self.client_text(), self.rev_nat)
    }

    /// The fields.
    pub fn json(&self) -> serde_json::Value {
        json!({ "client": self.client, "netns_cookie": self.netns_cookie, "rev_nat": self.rev_nat })
    }
}

impl AffinityValue {
    /// Decodes a 16-byte value.
    pub fn parse(v: &[u8]) -> Result<AffinityValue, SizeError> {
        check("lb affinity value", v, &[16])?;
        Ok(AffinityValue {
            last_used: u64le(v, 0),
            backend_id: u32le(v, 8),
        })
    }

    /// `backend=3 last_used=100`.
    pub fn text(&self) -> String {
        format!("backend={} last_used={}", self.backend_id, self.last_used)
    }

    /// The fields.
    pub fn json(&self) -> serde_json::Value {
        json!({ "backend_id": self.backend_id, "last_used": self.last_used })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tests::hex;

    #[test]
    fn source_range_and_affinity() {
        // lb4_src_range_key {prefixlen 32+8, rev_nat_id be 5, pad, addr}
        let r = SourceRange::parse(&hex(&["28000000", "0005", "0000", "0a000000"])).unwrap();
        assert_eq!(r.text(), "10.0.0.0/8 (5)");
        // lb4_affinity_key {client_id 8 B, rev_nat_id be, netns_cookie bit, pad, pad2} → {last_used, backend_id, pad}
        let k = AffinityKey::parse(&hex(&[
            "0af40105", "00000000", "0005", "00", "00", "00000000",
        ]))
        .unwrap();
        let v = AffinityValue::parse(&hex(&["6400000000000000", "03000000", "00000000"])).unwrap();
        assert_eq!(
            (k.text(), v.text()),
            (
                "10.244.1.5 revnat=5".into(),
                "backend=3 last_used=100".into()
            )
        );
        let cookie =
            AffinityKey::parse(&hex(&["2a00000000000000", "0005", "01", "00", "00000000"]))
                .unwrap();
        assert_eq!(cookie.client_text(), "netns-cookie:42");
    }
}
