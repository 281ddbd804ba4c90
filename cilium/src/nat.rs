//! SNAT entries (`cilium_snat_v{4,6}_external`): keys are conntrack tuples in packet orientation.

use crate::clock::Clock;
use crate::ct::{CtTuple, TUPLE_F_IN, TUPLE_F_RELATED, TUPLE_F_SERVICE};
use crate::names;
use crate::wire::*;
use serde_json::json;
use std::net::IpAddr;

impl CtTuple {
    /// A NAT key as `bpf nat list` prints it (packet orientation): `TCP OUT saddr:sport -> daddr:dport `.
    pub fn nat_text(&self) -> String {
        let dir = if self.flags & TUPLE_F_IN != 0 {
            "IN"
        } else {
            "OUT"
        };
        // The NAT dump brackets every address of the IPv6 map (as `cilium-dbg bpf nat list` does).
        let mut s = format!(
            "{} {dir} {} -> {} ",
            names::proto(self.nexthdr),
            host_port(&self.saddr, self.sport),
            host_port(&self.daddr, self.dport)
        );
        if self.flags & TUPLE_F_RELATED != 0 {
            s.push_str("related ");
        }
        if self.flags & TUPLE_F_SERVICE != 0 {
            s.push_str("service ");
        }
        s
    }
}

/// `ipv4_nat_entry` / `ipv6_nat_entry`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatEntry {
    /// Creation time in the clock's units.
    pub created: u64,
    /// Whether the translated flow also needs a CT entry.
    pub needs_ct: bool,
    /// Translated address (source for OUT keys, destination for IN keys).
    pub to_addr: IpAddr,
    /// Translated port.
    pub to_port: u16,
}

impl NatEntry {
    /// Decodes a 40-byte (IPv4) or 56-byte (IPv6) entry.
    pub fn parse(b: &[u8]) -> Result<NatEntry, SizeError> {
        check("nat entry", b, &[40, 56])?;
        let v6 = b.len() == 56;
        let a = if v6 { 16 } else { 4 };
        Ok(NatEntry {
            created: u64le(b, 0),
            needs_ct: u64le(b, 8) & 1 != 0,
            to_addr: ip(b, 32, v6),
            to_port: be16(b, 32 + a),
        })
    }

    /// The entry as `bpf nat list` prints it after the key of `key`: `XLATE_SRC 192.168.1.10:40000 Created=12sec
    /// ago NeedsCT=1`.
    pub fn text(&self, key: &CtTuple, clock: Option<&Clock>) -> String {
        let which = if key.flags & TUPLE_F_IN != 0 {
            "XLATE_DST"
        } else {
            "XLATE_SRC"
        };
        let created = match clock.map(|c| c.since(self.created)) {
            Some(Some(secs)) => format!("{secs}sec ago"),
            Some(None) => format!("{} ({})", self.created, crate::ct::NOT_THIS_CLOCK),
            None => self.created.to_string(),
        };
        format!(
            "{which} {} Created={created} NeedsCT={}",
            host_port(&self.to_addr, self.to_port),
            self.needs_ct as u8
        )
    }
}

/// One `bpf nat list` line: `TCP OUT 10.0.1.5:40000 -> 1.1.1.1:443 XLATE_SRC 192.168.1.10:40000 Created=12sec ago NeedsCT=1`.
pub fn nat_line(key: &CtTuple, e: &NatEntry, clock: Option<&Clock>) -> String {
    format!("{}{}", key.nat_text(), e.text(key, clock))
}

/// A NAT key and entry as one JSON object.
pub fn nat_json(key: &CtTuple, e: &NatEntry, clock: Option<&Clock>) -> serde_json::Value {
    let mut j = key.json();
    let ingress = key.flags & TUPLE_F_IN != 0;
    j["direction"] = if ingress { "IN" } else { "OUT" }.into();
    j["xlate"] = if ingress { "dst" } else { "src" }.into();
    j["to_addr"] = json!(e.to_addr);
    j["to_port"] = e.to_port.into();
    j["created"] = e.created.into();
    j["needs_ct"] = e.needs_ct.into();
    if let Some(c) = clock {
        j["created_secs_ago"] = json!(c.since(e.created));
    }
    j
}
