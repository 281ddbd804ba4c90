//! A packet's 5-tuple and the user-facing spellings of tuples, services and ports.

use crate::names;
use std::net::IpAddr;

/// A packet's 5-tuple as seen on the wire (original or reply direction).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    /// Source address.
    pub saddr: IpAddr,
    /// Destination address.
    pub daddr: IpAddr,
    /// Source port (ICMP: echo ID; 0 = any in user spellings).
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// IP protocol.
    pub proto: u8,
}

impl From<&event::Tuple> for FlowKey {
    fn from(t: &event::Tuple) -> FlowKey {
        FlowKey {
            saddr: t.saddr,
            daddr: t.daddr,
            sport: t.sport,
            dport: t.dport,
            proto: t.proto,
        }
    }
}

impl FlowKey {
    /// The reply direction's tuple.
    pub fn reversed(&self) -> FlowKey {
        FlowKey {
            saddr: self.daddr,
            daddr: self.saddr,
            sport: self.dport,
            dport: self.sport,
            proto: self.proto,
        }
    }
}

impl std::fmt::Display for FlowKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} -> {}/{}",
            crate::wire::host_port(&self.saddr, self.sport),
            crate::wire::host_port(&self.daddr, self.dport),
            names::proto(self.proto)
        )
    }
}

/// A tuple, service or port the user spelled in a way we cannot read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cannot parse {what} {input:?}: {why}")]
pub struct ParseError {
    what: &'static str,
    input: String,
    why: &'static str,
}

fn err(what: &'static str, input: &str, why: &'static str) -> ParseError {
    ParseError {
        what,
        input: input.to_string(),
        why,
    }
}

/// `10.0.0.1:80`, `[f00d::1]:80`, `10.0.0.1` (port 0), `f00d::1`.
pub fn parse_host_port(s: &str, what: &'static str) -> Result<(IpAddr, u16), ParseError> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok((ip, 0));
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest
            .split_once("]:")
            .ok_or_else(|| err(what, s, "expected [IPv6]:PORT"))?;
        (h, p)
    } else {
        s.rsplit_once(':')
            .ok_or_else(|| err(what, s, "expected IP:PORT"))?
    };
    let ip = host.parse().map_err(|_| err(what, s, "bad IP address"))?;
    let port = port.parse().map_err(|_| err(what, s, "bad port"))?;
    Ok((ip, port))
}

fn split_proto<'a>(s: &'a str, what: &'static str) -> Result<(&'a str, u8), ParseError> {
    let (rest, p) = s
        .rsplit_once('/')
        .ok_or_else(|| err(what, s, "missing /PROTO (tcp, udp, icmp, sctp, …)"))?;
    Ok((
        rest,
        names::parse_proto(p).ok_or_else(|| err(what, s, "unknown protocol"))?,
    ))
}

/// `10.244.1.5:43210->10.96.0.10:53/udp`.
pub fn parse_tuple(s: &str) -> Result<FlowKey, ParseError> {
    let (rest, proto) = split_proto(s.trim(), "tuple")?;
    let (a, b) = rest
        .split_once("->")
        .ok_or_else(|| err("tuple", s, "expected SRC->DST/PROTO"))?;
    let (saddr, sport) = parse_host_port(a.trim(), "tuple")?;
    let (daddr, dport) = parse_host_port(b.trim(), "tuple")?;
    if saddr.is_ipv4() != daddr.is_ipv4() {
        return Err(err("tuple", s, "mixed IPv4 and IPv6"));
    }
    Ok(FlowKey {
        saddr,
        daddr,
        sport,
        dport,
        proto,
    })
}

/// `10.96.0.10:53/udp`.
pub fn parse_service(s: &str) -> Result<(IpAddr, u16, u8), ParseError> {
    let (rest, proto) = split_proto(s.trim(), "service")?;
    let (ip, port) = parse_host_port(rest, "service")?;
    Ok((ip, port, proto))
}

/// `80/tcp`, `tcp` (port 0), `8/icmp` (ICMP type).
pub fn parse_port(s: &str) -> Result<(u16, u8), ParseError> {
    match s.split_once('/') {
        Some((p, proto)) => Ok((
            p.parse().map_err(|_| err("port", s, "bad port"))?,
            names::parse_proto(proto).ok_or_else(|| err("port", s, "unknown protocol"))?,
        )),
        None => Ok((
            0,
            names::parse_proto(s).ok_or_else(|| err("port", s, "expected PORT/PROTO"))?,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing() {
        let t = parse_tuple("10.244.1.5:43210->10.96.0.10:53/udp").unwrap();
        assert_eq!(t.to_string(), "10.244.1.5:43210 -> 10.96.0.10:53/UDP");
        let t = parse_tuple("[f00d::1]:1->[f00d::2]:2/tcp").unwrap();
        assert_eq!(t.to_string(), "[f00d::1]:1 -> [f00d::2]:2/TCP");
        assert!(parse_tuple("10.0.0.1:1->f00d::2/tcp").is_err());
        assert!(parse_tuple("10.0.0.1:1->10.0.0.2:2").is_err());
        assert_eq!(
            parse_service("10.96.0.10:53/udp").unwrap(),
            ("10.96.0.10".parse().unwrap(), 53, 17)
        );
        assert_eq!(parse_port("80/tcp").unwrap(), (80, 6));
        assert_eq!(parse_port("icmp").unwrap(), (0, 1));
        assert!(parse_port("80/xyz").is_err());
    }
}
