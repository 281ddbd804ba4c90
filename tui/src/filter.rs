//! The display filter typed after `/`: narrows which kept packets are shown, without touching the probes.
//!
//! Syntax: whitespace-separated terms that must all match; a leading `!` negates a term.
//! `addr:10.0.0.1` (or a bare address), `port:53` (or a bare number), `proto:udp` (or bare `tcp`/`udp`/`icmp`/
//! `icmp6`), `if:veth0`, `func:netif_rx` (substring), `reason:NO_SOCKET` (substring), `fate:dropped` (or bare
//! `dropped`/`delivered`/`transmitted`/`inflight`). Any other bare word matches an interface, function or reason
//! containing it. Matching is case-insensitive; a packet matches if any of its events does (NAT changes tuples).

use crate::fate::Fate;
use crate::model::Packet;
use std::net::IpAddr;

/// Why a display filter does not parse; the value is the offending word.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    /// `addr:` with something that is not an IP address.
    #[error("bad address '{0}'")]
    Address(String),
    /// `port:` with something that is not a port number.
    #[error("bad port '{0}'")]
    Port(String),
    /// `proto:` with an unknown protocol.
    #[error("unknown protocol '{0}' (tcp, udp, icmp, icmp6, sctp or a number)")]
    Proto(String),
    /// `fate:` with an unknown fate.
    #[error("unknown fate '{0}' (dropped, delivered, transmitted, inflight)")]
    Fate(String),
    /// `key:value` with an unknown key.
    #[error("unknown key '{0}' (addr, port, proto, if, func, reason, fate)")]
    Key(String),
    /// `key:` with nothing after it.
    #[error("empty value for '{0}'")]
    Empty(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Term {
    Addr(IpAddr),
    Port(u16),
    Proto(u8),
    Iface(String),
    Func(String),
    Reason(String),
    Fate(FateKind),
    Text(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FateKind {
    Dropped,
    Delivered,
    Transmitted,
    InFlight,
}

/// A parsed display filter (see the module's syntax); the empty filter shows everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DisplayFilter {
    /// (negated, term)
    terms: Vec<(bool, Term)>,
    text: String,
}

impl DisplayFilter {
    /// Parses what the user typed.
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        let mut terms = Vec::new();
        for word in text.split_whitespace() {
            let (neg, word) = match word.strip_prefix('!') {
                Some(w) => (true, w),
                None => (false, word),
            };
            if word.is_empty() {
                continue;
            }
            terms.push((neg, parse_term(word)?));
        }
        Ok(Self {
            terms,
            text: text.trim().to_string(),
        })
    }

    /// Whether it has no terms (shows every packet).
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The text it was parsed from, trimmed.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether packet `p` is shown: every term matches one of its events (a `!` term none).
    pub fn matches(&self, p: &Packet) -> bool {
        self.terms.iter().all(|(neg, t)| term_matches(t, p) != *neg)
    }
}

fn parse_term(word: &str) -> Result<Term, FilterError> {
    if let Some((key, value)) = word.split_once(':') {
        // IPv6 addresses contain ':' too; a word that parses as an address is one.
        if let Ok(a) = word.parse::<IpAddr>() {
            return Ok(Term::Addr(a));
        }
        if value.is_empty() {
            return Err(FilterError::Empty(key.into()));
        }
        return match key.to_ascii_lowercase().as_str() {
            "addr" | "host" | "ip" => value
                .parse()
                .map(Term::Addr)
                .map_err(|_| FilterError::Address(value.into())),
            "port" => value
                .parse()
                .map(Term::Port)
                .map_err(|_| FilterError::Port(value.into())),
            "proto" => proto_number(value)
                .map(Term::Proto)
                .ok_or_else(|| FilterError::Proto(value.into())),
            "if" | "iface" | "dev" => Ok(Term::Iface(value.to_ascii_lowercase())),
            "func" | "fn" => Ok(Term::Func(value.to_ascii_lowercase())),
            "reason" => Ok(Term::Reason(value.to_ascii_lowercase())),
            "fate" => fate_kind(value)
                .map(Term::Fate)
                .ok_or_else(|| FilterError::Fate(value.into())),
            _ => Err(FilterError::Key(key.into())),
        };
    }
    if let Ok(a) = word.parse::<IpAddr>() {
        return Ok(Term::Addr(a));
    }
    if let Ok(p) = word.parse::<u16>() {
        return Ok(Term::Port(p));
    }
    if let Some(p) = event::proto::number(word) {
        return Ok(Term::Proto(p));
    }
    if let Some(f) = fate_kind(word) {
        return Ok(Term::Fate(f));
    }
    Ok(Term::Text(word.to_ascii_lowercase()))
}

fn proto_number(s: &str) -> Option<u8> {
    event::proto::number(s).or_else(|| s.parse().ok())
}

fn fate_kind(s: &str) -> Option<FateKind> {
    match s.to_ascii_lowercase().as_str() {
        "dropped" | "drop" => Some(FateKind::Dropped),
        "delivered" => Some(FateKind::Delivered),
        "transmitted" | "xmit" => Some(FateKind::Transmitted),
        "inflight" => Some(FateKind::InFlight),
        _ => None,
    }
}

fn contains_ci(hay: &str, needle_lower: &str) -> bool {
    hay.to_ascii_lowercase().contains(needle_lower)
}

fn term_matches(t: &Term, p: &Packet) -> bool {
    let evs = p.events();
    match t {
        Term::Addr(a) => evs
            .iter()
            .filter_map(|e| e.tuple.as_ref())
            .any(|t| t.saddr == *a || t.daddr == *a),
        Term::Port(n) => evs
            .iter()
            .filter_map(|e| e.tuple.as_ref())
            .any(|t| t.sport == *n || t.dport == *n),
        Term::Proto(n) => evs
            .iter()
            .filter_map(|e| e.tuple.as_ref())
            .any(|t| t.proto == *n),
        Term::Iface(name) => evs.iter().any(|e| iface_is(e, name)),
        Term::Func(f) => evs.iter().any(|e| contains_ci(&e.func, f)),
        Term::Reason(r) => reason_matches(p, r),
        Term::Fate(k) => {
            let f = p.fate();
            matches!(
                (k, f),
                (FateKind::Dropped, Fate::Dropped { .. })
                    | (FateKind::Delivered, Fate::Delivered(_))
                    | (FateKind::Transmitted, Fate::Transmitted { .. })
                    | (FateKind::InFlight, Fate::InFlight)
            )
        }
        Term::Text(s) => {
            evs.iter()
                .any(|e| iface_is(e, s) || contains_ci(&e.func, s))
                || reason_matches(p, s)
        }
    }
}

fn iface_is(e: &event::Event, name_lower: &str) -> bool {
    e.ifname
        .as_deref()
        .is_some_and(|n| n.eq_ignore_ascii_case(name_lower))
        || (e.ifindex != 0 && e.ifindex.to_string() == name_lower)
}

fn reason_matches(p: &Packet, r: &str) -> bool {
    p.events()
        .iter()
        .filter_map(|e| e.drop_reason.as_ref())
        .any(|d| contains_ci(&crate::fate::reason_text(d), r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_terms_and_reports_errors() {
        let f = DisplayFilter::parse(
            "10.0.0.1 port:53 udp !dropped if:veth0 func:netif reason:no_sock fe80::1",
        )
        .unwrap();
        assert_eq!(f.terms.len(), 8);
        assert_eq!(f.terms[0], (false, Term::Addr("10.0.0.1".parse().unwrap())));
        assert_eq!(f.terms[1], (false, Term::Port(53)));
        assert_eq!(f.terms[2], (false, Term::Proto(17)));
        assert_eq!(f.terms[3], (true, Term::Fate(FateKind::Dropped)));
        assert_eq!(f.terms[7], (false, Term::Addr("fe80::1".parse().unwrap())));
        assert!(DisplayFilter::parse("").unwrap().is_empty());
        assert_eq!(
            DisplayFilter::parse("port:x"),
            Err(FilterError::Port("x".into()))
        );
        assert_eq!(
            DisplayFilter::parse("addr:1.2.3"),
            Err(FilterError::Address("1.2.3".into()))
        );
        assert_eq!(
            DisplayFilter::parse("colour:red"),
            Err(FilterError::Key("colour".into()))
        );
        assert_eq!(
            DisplayFilter::parse("proto:xyz"),
            Err(FilterError::Proto("xyz".into()))
        );
        assert_eq!(
            DisplayFilter::parse("fate:"),
            Err(FilterError::Empty("fate".into()))
        );
    }
}
