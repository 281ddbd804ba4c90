//! Load-balancer maps: `cilium_lb{4,6}_services_v2`, `_backends_v3`, `_reverse_nat`.

use crate::names;
use crate::version::Version;
use crate::wire::*;
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `lb4_key` / `lb6_key`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SvcKey {
    pub addr: IpAddr,
    pub dport: u16,
    pub slot: u16,
    pub proto: u8,
    /// 0 external, 1 internal.
    pub scope: u8,
}

impl SvcKey {
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
}

/// `lb4_service` / `lb6_service` (12 bytes for both families).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SvcValue {
    /// backend_id on slot entries; affinity timeout / LB algorithm / L7 proxy port on the master.
    pub union: u32,
    pub count: u16,
    /// Host order.
    pub rev_nat: u16,
    pub flags: u8,
    pub flags2: u8,
    /// Quarantined backends (1.17+).
    pub qcount: u16,
}

impl SvcValue {
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

    pub fn is_l7lb(&self) -> bool {
        self.flags2 & (1 << 2) != 0
    }

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
    pub addr: IpAddr,
    pub port: u16,
    pub proto: u8,
    pub flags: u8,
    pub cluster_id: u16,
    pub zone: u8,
}

impl Backend {
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
    pub addr: IpAddr,
    pub port: u16,
}

impl RevNat {
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

pub fn revnat_key(b: &[u8]) -> Result<u16, SizeError> {
    check("lb reverse nat key", b, &[2])?;
    Ok(be16(b, 0))
}

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
