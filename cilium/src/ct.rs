//! Conntrack entries (`cilium_ct{4,6,_any4,_any6}_global`): the tuple key (shared with the NAT maps) and
//! `struct ct_entry`.

use crate::clock::{Clock, Relative};
use crate::names;
use crate::version::Version;
use crate::wire::*;
use serde_json::json;
use std::net::IpAddr;

/// Tuple flags: an entry created by an egress packet.
pub const TUPLE_F_OUT: u8 = 0;
/// Tuple flags: an entry created by an ingress packet.
pub const TUPLE_F_IN: u8 = 1;
/// Tuple flags: an ICMP error related to a connection.
pub const TUPLE_F_RELATED: u8 = 2;
/// Tuple flags: a service (load-balancer) entry.
pub const TUPLE_F_SERVICE: u8 = 4;

/// `ipv4_ct_tuple` / `ipv6_ct_tuple` with the C field names (ports in host order here). The address fields are
/// stored reversed for OUT/IN entries (see cilium-maps.md §1.1); the NAT maps use the same tuple in packet order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CtTuple {
    /// `daddr` field.
    pub daddr: IpAddr,
    /// `saddr` field.
    pub saddr: IpAddr,
    /// `dport` field.
    pub dport: u16,
    /// `sport` field.
    pub sport: u16,
    /// IP protocol.
    pub nexthdr: u8,
    /// `TUPLE_F_*` bits.
    pub flags: u8,
}

impl CtTuple {
    /// Decodes a 14-byte (IPv4) or 38-byte (IPv6) tuple.
    pub fn parse(b: &[u8]) -> Result<CtTuple, SizeError> {
        check("ct tuple", b, &[14, 38])?;
        let v6 = b.len() == 38;
        let a = if v6 { 16 } else { 4 };
        Ok(CtTuple {
            daddr: ip(b, 0, v6),
            saddr: ip(b, a, v6),
            dport: be16(b, 2 * a),
            sport: be16(b, 2 * a + 2),
            nexthdr: b[2 * a + 4],
            flags: b[2 * a + 5],
        })
    }

    /// The key bytes, for lookups.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = ip_bytes(&self.daddr);
        b.extend(ip_bytes(&self.saddr));
        b.extend(self.dport.to_be_bytes());
        b.extend(self.sport.to_be_bytes());
        b.push(self.nexthdr);
        b.push(self.flags);
        b
    }

    fn dir(&self) -> &'static str {
        if self.flags & TUPLE_F_SERVICE != 0 {
            "SVC"
        } else if self.flags & TUPLE_F_IN != 0 {
            "IN"
        } else {
            "OUT"
        }
    }

    /// `TCP OUT 10.0.0.1:1234 -> 10.0.0.2:80 [related ]` as `bpf ct list` prints the key.
    pub fn ct_text(&self) -> String {
        let (a, pa, b, pb) = if self.flags & TUPLE_F_SERVICE != 0 {
            (self.saddr, self.dport, self.daddr, self.sport)
        } else {
            (self.daddr, self.sport, self.saddr, self.dport)
        };
        let mut s = format!(
            "{} {} {}:{pa} -> {}:{pb} ",
            names::proto(self.nexthdr),
            self.dir(),
            go_ip(&a),
            go_ip(&b)
        );
        if self.flags & TUPLE_F_RELATED != 0 {
            s.push_str("related ");
        }
        s
    }

    /// The fields, protocol name included.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "daddr": self.daddr, "saddr": self.saddr, "dport": self.dport, "sport": self.sport,
            "proto": names::proto(self.nexthdr), "nexthdr": self.nexthdr, "flags": self.flags,
        })
    }
}

const CT_FLAG_NAMES: [&str; 11] = [
    "RxClosing",
    "TxClosing",
    "Nat64",
    "LBLoopback",
    "SeenNonSyn",
    "NodePort",
    "ProxyRedirect",
    "DSRInternal",
    "FromL7LB",
    "Reserved1",
    "FromTunnel",
];

/// `struct ct_entry` (56 bytes in every supported release).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtEntry {
    /// The backend a service entry selected.
    pub backend_id: u64,
    /// Packets seen.
    pub packets: u64,
    /// Bytes seen.
    pub bytes: u64,
    /// Expiry time in the clock's units.
    pub lifetime: u32,
    /// Flag bits (`RxClosing`, …, LSB first).
    pub flags: u16,
    /// Host order (stored big-endian).
    pub rev_nat_index: u16,
    /// 1.16/1.17 only (reserved in 1.18).
    pub ifindex: u16,
    /// TCP flags ORed over egress/service lookups.
    pub tx_flags_seen: u8,
    /// TCP flags ORed over ingress lookups.
    pub rx_flags_seen: u8,
    /// Security identity of the source.
    pub src_sec_id: u32,
    /// Last egress monitor report.
    pub last_tx_report: u32,
    /// Last ingress monitor report.
    pub last_rx_report: u32,
}

impl CtEntry {
    /// Decodes a 56-byte entry.
    pub fn parse(b: &[u8]) -> Result<CtEntry, SizeError> {
        check("ct entry", b, &[56])?;
        Ok(CtEntry {
            backend_id: u64le(b, 8),
            packets: u64le(b, 16),
            bytes: u64le(b, 24),
            lifetime: u32le(b, 32),
            flags: u16le(b, 36),
            rev_nat_index: be16(b, 38),
            ifindex: u16le(b, 40),
            tx_flags_seen: b[42],
            rx_flags_seen: b[43],
            src_sec_id: u32le(b, 44),
            last_tx_report: u32le(b, 48),
            last_rx_report: u32le(b, 52),
        })
    }

    /// Names of the set flag bits, as cilium-dbg prints them.
    pub fn flag_names(&self) -> Vec<&'static str> {
        // cilium-dbg never prints the placeholder bit 9 (Reserved1).
        (0..CT_FLAG_NAMES.len())
            .filter(|&i| i != 9 && self.flags & (1 << i) != 0)
            .map(|i| CT_FLAG_NAMES[i])
            .collect()
    }

    /// `Flags=0x0013 [ RxClosing TxClosing SeenNonSyn ]`
    pub fn flags_text(&self) -> String {
        let mut s = format!("Flags={} [ ", go_hex(self.flags as u64, 4));
        for n in self.flag_names() {
            s.push_str(n);
            s.push(' ');
        }
        let unknown = self.flags & !((1u16 << CT_FLAG_NAMES.len()) - 1);
        if unknown != 0 {
            s.push_str(&format!("Unknown={} ", go_hex(unknown as u64, 4)));
        }
        s.push(']');
        s
    }

    /// The entry as `bpf ct list` prints it after the key (with the remaining time when the clock is known).
    pub fn text(&self, v: Version, clock: Option<&Clock>) -> String {
        let remaining = match clock.map(|c| c.until(self.lifetime)) {
            None => String::new(),
            Some(Relative::In(n)) => format!(" (remaining: {n} sec(s))"),
            Some(Relative::Ago(n)) => format!(" (expired {n} sec(s) ago)"),
            Some(Relative::BeforeBoot) => format!(" ({NOT_THIS_CLOCK})"),
        };
        let ifindex = if v == Version::V1_18 {
            String::new()
        } else {
            format!("IfIndex={} ", self.ifindex)
        };
        format!(
            "expires={}{remaining} Packets={} Bytes={} RxFlagsSeen={} LastRxReport={} TxFlagsSeen={} LastTxReport={} {} RevNAT={} SourceSecurityID={} {ifindex}BackendID={} ",
            self.lifetime,
            self.packets,
            self.bytes,
            go_hex(self.rx_flags_seen as u64, 2),
            self.last_rx_report,
            go_hex(self.tx_flags_seen as u64, 2),
            self.last_tx_report,
            self.flags_text(),
            self.rev_nat_index,
            self.src_sec_id,
            self.backend_id,
        )
    }

    /// The fields; with a clock also `remaining_secs` and `expired`.
    pub fn json(&self, v: Version, clock: Option<&Clock>) -> serde_json::Value {
        let mut j = json!({
            "expires": self.lifetime, "packets": self.packets, "bytes": self.bytes,
            "rx_flags_seen": self.rx_flags_seen, "tx_flags_seen": self.tx_flags_seen,
            "last_rx_report": self.last_rx_report, "last_tx_report": self.last_tx_report,
            "flags": self.flags, "flag_names": self.flag_names(), "rev_nat": self.rev_nat_index,
            "src_sec_id": self.src_sec_id, "backend_id": self.backend_id,
        });
        if v != Version::V1_18 {
            j["ifindex"] = self.ifindex.into();
        }
        if let Some(c) = clock {
            let (remaining, expired) = match c.until(self.lifetime) {
                Relative::In(n) => (Some(n), Some(false)),
                Relative::Ago(_) => (Some(0), Some(true)),
                Relative::BeforeBoot => (None, None),
            };
            j["remaining_secs"] = remaining.into();
            j["expired"] = expired.into();
        }
        j
    }
}

/// Said of a timestamp the clock cannot have produced (before its boot value, or after now for a creation time):
/// the entries were stamped with another clock.
pub const NOT_THIS_CLOCK: &str = "not a time on this clock";

/// Go's `%#0Nx`: N zero-padded hex digits after `0x`.
fn go_hex(v: u64, digits: usize) -> String {
    format!("0x{v:0digits$x}")
}

/// One `bpf ct list global` line (without the newline).
pub fn ct_line(key: &CtTuple, e: &CtEntry, v: Version, clock: Option<&Clock>) -> String {
    format!("{}{}", key.ct_text(), e.text(v, clock))
}
