//! IP protocol numbers and their short names, and TCP flag names: one table for every output (the text tuple,
//! JSON, the TUI) and for every parser of user input that names a protocol.

use std::borrow::Cow;

/// IPPROTO_* numbers with the names pwru and tcpdump print for them.
const NAMES: &[(u8, &str)] = &[
    (1, "icmp"),
    (2, "igmp"),
    (6, "tcp"),
    (17, "udp"),
    (47, "gre"),
    (50, "esp"),
    (58, "icmp6"),
    (132, "sctp"),
];

/// The short name of IP protocol `p` (`tcp`, `icmp6`), if it has one.
pub fn name(p: u8) -> Option<&'static str> {
    NAMES.iter().find(|(n, _)| *n == p).map(|(_, s)| *s)
}

/// The short name of `p`, or its number when it has no name (`132` is `sctp`, `253` stays `253`).
pub fn display(p: u8) -> Cow<'static, str> {
    match name(p) {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(p.to_string()),
    }
}

/// The protocol number for a name, in any case; `icmpv6` is accepted for `icmp6`. Numbers are not parsed here.
pub fn number(s: &str) -> Option<u8> {
    let s = s.to_ascii_lowercase();
    let s = if s == "icmpv6" { "icmp6" } else { s.as_str() };
    NAMES.iter().find(|(_, n)| *n == s).map(|(p, _)| *p)
}

/// TCP flag names, bit 0 first.
const FLAGS: [&str; 8] = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];

/// The flags byte of a [`tcp_flags`] string (`SYN|ACK` → 0x12); unknown names count for nothing.
pub fn parse_tcp_flags(s: &str) -> u8 {
    s.split('|')
        .filter_map(|n| FLAGS.iter().position(|f| *f == n))
        .fold(0, |acc, i| acc | 1 << i)
}

/// `SYN|ACK`: the names of the set TCP flags, FIN (bit 0) to CWR (bit 7); empty for 0.
pub fn tcp_flags(f: u8) -> String {
    let mut s = String::new();
    for (i, n) in FLAGS.iter().enumerate() {
        if f & (1 << i) != 0 {
            if !s.is_empty() {
                s.push('|');
            }
            s.push_str(n);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_agree() {
        for (p, n) in NAMES {
            assert_eq!(name(*p), Some(*n));
            assert_eq!(number(n), Some(*p));
            assert_eq!(number(&n.to_uppercase()), Some(*p));
        }
        assert_eq!(number("ICMPv6"), Some(58));
        assert_eq!(number("6"), None);
        assert_eq!(display(253), "253");
        assert_eq!(display(17), "udp");
    }

    #[test]
    fn flags() {
        assert_eq!(tcp_flags(0), "");
        assert_eq!(tcp_flags(0x12), "SYN|ACK");
        assert_eq!(tcp_flags(0xff), "FIN|SYN|RST|PSH|ACK|URG|ECE|CWR");
        for f in 0..=255u8 {
            assert_eq!(parse_tcp_flags(&tcp_flags(f)), f);
        }
    }
}
