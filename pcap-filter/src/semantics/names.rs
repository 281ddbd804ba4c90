//! Names a filter may use for numbers: services, IP protocols, EtherTypes and OSI protocols.

use super::*;
use crate::{protocols, services};

/// Look a service name up: (port, ip protocol or None for both tcp and udp).
pub fn name_to_port(name: &str) -> Option<(u32, Option<u32>)> {
    if let Ok(n) = name.parse::<u32>() {
        return if n <= 65535 { Some((n, None)) } else { None };
    }
    let (_, tcp, udp, _) = services::SERVICES.iter().find(|s| s.0 == name)?;
    match (*tcp, *udp) {
        (0, 0) => None,
        (t, 0) => Some((t as u32, Some(6))),
        (0, u) => Some((u as u32, Some(17))),
        (t, u) if t == u => Some((t as u32, None)),
        (t, _) => Some((t as u32, Some(6))),
    }
}

pub fn name_to_proto(name: &str) -> Option<u32> {
    protocols::PROTOCOLS
        .iter()
        .find(|p| p.0 == name)
        .map(|p| p.1 as u32)
}

pub fn name_to_eproto(name: &str) -> Option<u32> {
    Some(match name {
        "aarp" => ETH_AARP,
        "arp" => ETH_ARP,
        "atalk" => ETH_ATALK,
        "decnet" => ETH_DN,
        "ip" => ETH_IP,
        "ip6" => ETH_IPV6,
        "lat" => ETH_LAT,
        "loopback" => ETH_LOOPBACK,
        "mopdl" => ETH_MOPDL,
        "moprc" => ETH_MOPRC,
        "rarp" => ETH_REVARP,
        "sca" => ETH_SCA,
        "iso" => LLCSAP_ISONS,
        "stp" => LLCSAP_8021D,
        "ipx" => LLCSAP_IPX,
        "netbeui" => LLCSAP_NETBEUI,
        _ => return None,
    })
}

pub fn name_to_iso(name: &str) -> Option<u32> {
    Some(match name {
        "esis" => ISO9542_ESIS,
        "isis" => ISO10589_ISIS,
        "clnp" => ISO8473_CLNP,
        _ => return None,
    })
}
