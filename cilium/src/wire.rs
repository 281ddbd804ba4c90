//! Fixed-offset readers for Cilium's map structs (host order is little-endian on every platform we ship; fields
//! marked `be` in the layouts are network order).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A map key or value whose size does not match the layout of the detected Cilium version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {got} bytes, expected {want}")]
pub struct SizeError {
    /// Which field (`ct entry`).
    pub what: &'static str,
    /// Its size in bytes.
    pub got: usize,
    /// The sizes it may have (`14 or 38`).
    pub want: String,
}

pub(crate) fn check(what: &'static str, b: &[u8], sizes: &[usize]) -> Result<(), SizeError> {
    if sizes.contains(&b.len()) {
        Ok(())
    } else {
        let want = sizes
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(" or ");
        Err(SizeError {
            what,
            got: b.len(),
            want,
        })
    }
}

pub(crate) fn u16le(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
pub(crate) fn be16(b: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([b[o], b[o + 1]])
}
pub(crate) fn u32le(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
pub(crate) fn u64le(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}
pub(crate) fn ip4(b: &[u8], o: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[o], b[o + 1], b[o + 2], b[o + 3])
}
pub(crate) fn ip6(b: &[u8], o: usize) -> Ipv6Addr {
    let a: [u8; 16] = b[o..o + 16].try_into().unwrap();
    Ipv6Addr::from(a)
}
/// An address of `len` bytes (4 or 16) at `o`.
pub(crate) fn ip(b: &[u8], o: usize, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(ip6(b, o))
    } else {
        IpAddr::V4(ip4(b, o))
    }
}
pub(crate) fn ip_bytes(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}
/// An address as Go's `net.IP.String()` prints it (IPv4-mapped IPv6 as a dotted quad, as NAT46x64 entries hold).
pub(crate) fn go_ip(a: &IpAddr) -> String {
    match a {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// `ip:port`, IPv6 in brackets (Go `net.JoinHostPort`).
pub(crate) fn host_port(a: &IpAddr, port: u16) -> String {
    match a {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(_) => format!("[{}]:{port}", go_ip(a)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    /// Bytes from hex pieces.
    pub(crate) fn hex(parts: &[&str]) -> Vec<u8> {
        let s: String = parts.concat();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
