//! Tokens of the pcap-filter(7) language, split the way libpcap's scanner splits them:
//! longest match wins, and on a tie the earlier rule (keyword, MAC, number, IPv4, IPv6,
//! named constant, identifier) wins. So `25-53` is one identifier and `tcp-syn` a number.

use crate::FilterError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    /// A reserved word (`host`, `tcp`, `and`, ...), kept as written.
    Kw(&'static str),
    Num(u32),
    /// Dotted IPv4 form with 2 to 4 parts: `10.244`, `1.2.3.4`.
    Hid(String),
    Hid6(String),
    /// Ethernet address.
    Eid(String),
    Id(String),
    /// Punctuation and operators: `( ) [ ] : + - * / % & | ^ = > < ! >= <= != << >>`.
    Op(&'static str),
    Eof,
}

#[derive(Clone, Debug)]
pub struct Token {
    pub tok: Tok,
    /// 1-based column of the first character.
    pub col: usize,
    pub text: String,
}

/// Reserved words, mapped to a canonical spelling where libpcap has synonyms.
fn keyword(s: &str) -> Option<&'static str> {
    Some(match s {
        "dst" => "dst",
        "src" => "src",
        "link" | "ether" | "ppp" | "slip" | "fddi" | "tr" | "wlan" => "link",
        "arp" => "arp",
        "rarp" => "rarp",
        "ip" => "ip",
        "sctp" => "sctp",
        "tcp" => "tcp",
        "udp" => "udp",
        "icmp" => "icmp",
        "igmp" => "igmp",
        "igrp" => "igrp",
        "pim" => "pim",
        "vrrp" => "vrrp",
        "carp" => "carp",
        "radio" => "radio",
        "ip6" => "ip6",
        "icmp6" => "icmp6",
        "ah" => "ah",
        "esp" => "esp",
        "atalk" => "atalk",
        "aarp" => "aarp",
        "decnet" => "decnet",
        "lat" => "lat",
        "sca" => "sca",
        "moprc" => "moprc",
        "mopdl" => "mopdl",
        "iso" => "iso",
        "esis" | "es-is" => "esis",
        "isis" | "is-is" => "isis",
        "l1" => "l1",
        "l2" => "l2",
        "iih" => "iih",
        "lsp" => "lsp",
        "snp" => "snp",
        "csnp" => "csnp",
        "psnp" => "psnp",
        "clnp" => "clnp",
        "stp" => "stp",
        "ipx" => "ipx",
        "netbeui" => "netbeui",
        "host" => "host",
        "net" => "net",
        "mask" => "mask",
        "port" => "port",
        "portrange" => "portrange",
        "proto" => "proto",
        "protochain" => "protochain",
        "gateway" => "gateway",
        "type" => "type",
        "subtype" => "subtype",
        "direction" | "dir" => "dir",
        "address1" | "addr1" => "addr1",
        "address2" | "addr2" => "addr2",
        "address3" | "addr3" => "addr3",
        "address4" | "addr4" => "addr4",
        "ra" => "ra",
        "ta" => "ta",
        "less" => "less",
        "greater" => "greater",
        "byte" => "byte",
        "broadcast" => "broadcast",
        "multicast" => "multicast",
        "and" => "and",
        "or" => "or",
        "not" => "not",
        "len" | "length" => "len",
        "inbound" => "inbound",
        "outbound" => "outbound",
        "ifindex" => "ifindex",
        "vlan" => "vlan",
        "mpls" => "mpls",
        "pppoed" => "pppoed",
        "pppoes" => "pppoes",
        "geneve" => "geneve",
        "llc" => "llc",
        // Keywords of link types we do not support; reserved so they are refused as libpcap's
        // grammar would refuse them in our positions.
        "lane" | "metac" | "bcc" | "oam" | "oamf4" | "oamf4ec" | "oamf4sc" | "sc" | "ilmic"
        | "vpi" | "vci" | "connectmsg" | "metaconnect" | "fisu" | "lssu" | "lsu" | "msu"
        | "hfisu" | "hlssu" | "hmsu" | "sio" | "opc" | "dpc" | "sls" | "hsio" | "hopc" | "hdpc"
        | "hsls" | "on" | "ifname" | "rset" | "ruleset" | "srnr" | "subrulenum" | "reason"
        | "action" => "unsupported",
        "rnr" | "rulenum" => "rnr",
        _ => return None,
    })
}

/// Named constants the scanner turns into numbers.
fn named_number(s: &str) -> Option<u32> {
    Some(match s {
        "icmptype" => 0,
        "icmpcode" => 1,
        "icmp-echoreply" => 0,
        "icmp-unreach" => 3,
        "icmp-sourcequench" => 4,
        "icmp-redirect" => 5,
        "icmp-echo" => 8,
        "icmp-routeradvert" => 9,
        "icmp-routersolicit" => 10,
        "icmp-timxceed" => 11,
        "icmp-paramprob" => 12,
        "icmp-tstamp" => 13,
        "icmp-tstampreply" => 14,
        "icmp-ireq" => 15,
        "icmp-ireqreply" => 16,
        "icmp-maskreq" => 17,
        "icmp-maskreply" => 18,
        "icmp6type" => 0,
        "icmp6code" => 1,
        "icmp6-destinationunreach" => 1,
        "icmp6-packettoobig" => 2,
        "icmp6-timeexceeded" => 3,
        "icmp6-parameterproblem" => 4,
        "icmp6-echo" => 128,
        "icmp6-echoreply" => 129,
        "icmp6-multicastlistenerquery" => 130,
        "icmp6-multicastlistenerreportv1" => 131,
        "icmp6-multicastlistenerdone" => 132,
        "icmp6-routersolicit" => 133,
        "icmp6-routeradvert" => 134,
        "icmp6-neighborsolicit" => 135,
        "icmp6-neighboradvert" => 136,
        "icmp6-redirect" => 137,
        "icmp6-routerrenum" => 138,
        "icmp6-nodeinformationquery" => 139,
        "icmp6-nodeinformationresponse" => 140,
        "icmp6-ineighbordiscoverysolicit" => 141,
        "icmp6-ineighbordiscoveryadvert" => 142,
        "icmp6-multicastlistenerreportv2" => 143,
        "icmp6-homeagentdiscoveryrequest" => 144,
        "icmp6-homeagentdiscoveryreply" => 145,
        "icmp6-mobileprefixsolicit" => 146,
        "icmp6-mobileprefixadvert" => 147,
        "icmp6-certpathsolicit" => 148,
        "icmp6-certpathadvert" => 149,
        "icmp6-multicastrouteradvert" => 151,
        "icmp6-multicastroutersolicit" => 152,
        "icmp6-multicastrouterterm" => 153,
        "tcpflags" => 13,
        "tcp-fin" => 0x01,
        "tcp-syn" => 0x02,
        "tcp-rst" => 0x04,
        "tcp-push" => 0x08,
        "tcp-ack" => 0x10,
        "tcp-urg" => 0x20,
        "tcp-ece" => 0x40,
        "tcp-cwr" => 0x80,
        _ => return None,
    })
}

fn is_hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

/// Length of `[0-9]+|0[xX][0-9a-fA-F]+` at `s`.
fn match_n(s: &[u8]) -> usize {
    if s.len() >= 3 && s[0] == b'0' && (s[1] == b'x' || s[1] == b'X') && is_hex(s[2]) {
        2 + s[2..].iter().take_while(|c| is_hex(**c)).count()
    } else {
        s.iter().take_while(|c| c.is_ascii_digit()).count()
    }
}

/// Length of the dotted forms N.N, N.N.N, N.N.N.N.
fn match_hid(s: &[u8]) -> usize {
    let mut pos = match_n(s);
    if pos == 0 {
        return 0;
    }
    let mut parts = 1;
    let mut best = 0;
    while parts < 4 && pos < s.len() && s[pos] == b'.' {
        let n = match_n(&s[pos + 1..]);
        if n == 0 {
            break;
        }
        pos += 1 + n;
        parts += 1;
        best = pos;
    }
    best
}

/// Length of `[A-Za-z0-9]([-_.A-Za-z0-9]*[.A-Za-z0-9])?`.
fn match_id(s: &[u8]) -> usize {
    if s.is_empty() || !s[0].is_ascii_alphanumeric() {
        return 0;
    }
    let run = 1 + s[1..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        .count();
    // The last character may not be '-' or '_'.
    let mut end = run;
    while end > 1 && matches!(s[end - 1], b'-' | b'_') {
        end -= 1;
    }
    end
}

/// Length of an Ethernet address in one of libpcap's forms.
fn match_mac(s: &[u8]) -> usize {
    // B:B:B:B:B:B, B-B-..., B.B.... with B = 1 or 2 hex digits.
    for sep in [b':', b'-', b'.'] {
        let mut pos = 0;
        let mut ok = true;
        for i in 0..6 {
            let n = s[pos..].iter().take(2).take_while(|c| is_hex(**c)).count();
            if n == 0 {
                ok = false;
                break;
            }
            pos += n;
            if i < 5 {
                if pos < s.len() && s[pos] == sep {
                    pos += 1;
                } else {
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            return pos;
        }
    }
    // B2.B2.B2 and B2B2B2.
    let hex4 = |p: usize| s.len() >= p + 4 && s[p..p + 4].iter().all(|c| is_hex(*c));
    if hex4(0) && s.get(4) == Some(&b'.') && hex4(5) && s.get(9) == Some(&b'.') && hex4(10) {
        return 14;
    }
    if s.len() >= 12 && s[..12].iter().all(|c| is_hex(*c)) {
        return 12;
    }
    0
}

/// Length of an IPv6 literal (validated by the standard parser).
fn match_v6(s: &[u8]) -> usize {
    let run = s
        .iter()
        .take_while(|c| is_hex(**c) || **c == b':' || **c == b'.')
        .count();
    // Try the longest prefix that parses.
    for end in (2..=run).rev() {
        let t = std::str::from_utf8(&s[..end]).unwrap_or("");
        if t.contains(':') && t.parse::<std::net::Ipv6Addr>().is_ok() {
            // libpcap's forms need at most 8 groups or the mixed form; the std parser agrees.
            return end;
        }
    }
    0
}

/// Parse a number the way libpcap's `stou` does: decimal, 0x hex, leading-0 octal.
fn parse_number(text: &str, col: usize) -> Result<u32, FilterError> {
    let (digits, radix, kind) = if let Some(h) = text.strip_prefix("0x").or(text.strip_prefix("0X"))
    {
        (h, 16, "hexadecimal")
    } else if text.len() > 1 && text.starts_with('0') {
        (&text[1..], 8, "octal")
    } else {
        (text, 10, "decimal")
    };
    if radix == 8 && digits.bytes().any(|c| c == b'8' || c == b'9') {
        return Err(FilterError::new(
            format!("number {text} contains non-octal digit"),
            col,
        ));
    }
    u32::from_str_radix(digits, radix)
        .map_err(|_| FilterError::new(format!("{kind} number {text} overflows 32 bits"), col))
}

pub fn tokenize(input: &str) -> Result<Vec<Token>, FilterError> {
    let s = input.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let (mut col, mut col_at) = (1, 0);
    while i < s.len() {
        let c = s[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        // Columns count characters; `i` only ever stops at a character boundary, since every
        // token ends before an ASCII byte or at the end (a non-ASCII byte is never part of one).
        col += input[col_at..i].chars().count();
        col_at = i;
        // Two-character operators, then one-character ones. Compared as bytes: the second byte
        // may start a multi-byte character.
        let op2 = match s.get(i..i + 2).unwrap_or_default() {
            b">=" => Some(">="),
            b"<=" => Some("<="),
            b"!=" => Some("!="),
            b"==" => Some("="),
            b"<<" => Some("<<"),
            b">>" => Some(">>"),
            b"&&" => Some("and"),
            b"||" => Some("or"),
            _ => None,
        };
        if let Some(op) = op2 {
            let tok = if op == "and" || op == "or" {
                Tok::Kw(op)
            } else {
                Tok::Op(op)
            };
            out.push(Token {
                tok,
                col,
                text: input[i..i + 2].to_string(),
            });
            i += 2;
            continue;
        }
        if let Some(op) = match c {
            b'+' => Some("+"),
            b'-' => Some("-"),
            b'*' => Some("*"),
            b'/' => Some("/"),
            b'%' => Some("%"),
            b':' if match_v6(&s[i..]) == 0 => Some(":"),
            b'[' => Some("["),
            b']' => Some("]"),
            b'!' => Some("!"),
            b'<' => Some("<"),
            b'>' => Some(">"),
            b'(' => Some("("),
            b')' => Some(")"),
            b'&' => Some("&"),
            b'|' => Some("|"),
            b'^' => Some("^"),
            b'=' => Some("="),
            _ => None,
        } {
            out.push(Token {
                tok: Tok::Op(op),
                col,
                text: op.to_string(),
            });
            i += 1;
            continue;
        }
        if c == b'\\' {
            // `\name`: an identifier that is never a keyword.
            let len = s[i + 1..]
                .iter()
                .take_while(|c| !matches!(c, b' ' | b'!' | b'(' | b')' | b'\n' | b'\t'))
                .count();
            if len == 0 {
                return Err(FilterError::new(
                    "syntax error: '\\' without a name".into(),
                    col,
                ));
            }
            let text = input[i + 1..i + 1 + len].to_string();
            out.push(Token {
                tok: Tok::Id(text.clone()),
                col,
                text: format!("\\{text}"),
            });
            i += 1 + len;
            continue;
        }
        if c == b'$' {
            return Err(FilterError::new(
                "ARCnet addresses are not supported".into(),
                col,
            ));
        }
        // Candidates: (length, priority, kind). Lower priority number wins ties.
        let rest = &s[i..];
        let id_len = match_id(rest);
        let id_text = &input[i..i + id_len];
        let mut best: (usize, u8) = (0, 255);
        let mut consider = |len: usize, prio: u8| {
            if len > best.0 || (len == best.0 && len > 0 && prio < best.1) {
                best = (len, prio);
            }
        };
        if id_len > 0 && keyword(id_text).is_some() {
            consider(id_len, 0);
        }
        consider(match_mac(rest), 1);
        consider(match_n(rest), 2);
        consider(match_hid(rest), 3);
        consider(match_v6(rest), 4);
        if id_len > 0 && named_number(id_text).is_some() {
            consider(id_len, 5);
        }
        consider(id_len, 6);
        // A run of hex digits and colons that is neither MAC nor IPv6 is a bogus address.
        let colon_run = rest
            .iter()
            .take_while(|c| is_hex(**c) || **c == b':')
            .count();
        if colon_run > best.0 && rest[..colon_run].iter().filter(|c| **c == b':').count() >= 2 {
            let t = &input[i..i + colon_run];
            return Err(FilterError::new(format!("invalid address '{t}'"), col));
        }
        let (len, prio) = best;
        if len == 0 {
            let c = input[i..].chars().next().unwrap_or('?');
            let msg = if c.is_ascii() {
                format!("syntax error: unexpected character '{c}'")
            } else if crate::error::printable(c.encode_utf8(&mut [0; 4])).starts_with('\\') {
                format!("syntax error: non-ASCII character '{c}'")
            } else {
                // Look-alikes (a full-width digit, a Cyrillic letter) need their code point to be told apart.
                format!(
                    "syntax error: non-ASCII character '{c}' (U+{:04X})",
                    c as u32
                )
            };
            return Err(FilterError::new(msg, col));
        }
        let text = input[i..i + len].to_string();
        let tok = match prio {
            0 => Tok::Kw(keyword(&text).unwrap_or("unsupported")),
            1 => Tok::Eid(text.clone()),
            2 => Tok::Num(parse_number(&text, col)?),
            3 => Tok::Hid(text.clone()),
            4 => Tok::Hid6(text.clone()),
            5 => Tok::Num(named_number(&text).unwrap_or(0)),
            _ => Tok::Id(text.clone()),
        };
        out.push(Token { tok, col, text });
        i += len;
    }
    col += input[col_at..].chars().count();
    out.push(Token {
        tok: Tok::Eof,
        col,
        text: String::new(),
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn splits_like_libpcap() {
        assert_eq!(toks("tcp-syn"), vec![Tok::Num(2), Tok::Eof]);
        assert_eq!(toks("25-53"), vec![Tok::Id("25-53".into()), Tok::Eof]);
        assert_eq!(toks("10.244"), vec![Tok::Hid("10.244".into()), Tok::Eof]);
        assert_eq!(toks("0x1f"), vec![Tok::Num(31), Tok::Eof]);
        assert_eq!(toks("010"), vec![Tok::Num(8), Tok::Eof]);
        assert_eq!(
            toks("ab:cd:ef:0:0:1"),
            vec![Tok::Eid("ab:cd:ef:0:0:1".into()), Tok::Eof]
        );
        assert_eq!(
            toks("abcdef000003"),
            vec![Tok::Eid("abcdef000003".into()), Tok::Eof]
        );
        assert_eq!(toks("fe80::1/64")[0], Tok::Hid6("fe80::1".into()));
        assert_eq!(toks("\\tcp"), vec![Tok::Id("tcp".into()), Tok::Eof]);
        assert_eq!(toks("a&&b")[1], Tok::Kw("and"));
        assert!(tokenize("08").is_err());
        assert!(tokenize("4294967296").is_err());
    }
}
