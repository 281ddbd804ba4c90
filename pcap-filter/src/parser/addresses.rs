//! Ids and addresses with their qualifiers (`src net 10.0.0.0/8`, `ether host …`, `port http`): what a bare word,
//! number or address means after the qualifiers before it.

use super::*;

impl Parser<'_> {
    pub(super) fn id(&mut self, q: Qual) -> PResult<Pred> {
        let col = self.col();
        match self.peek().clone() {
            Tok::Kw("not") | Tok::Op("!") => {
                self.next();
                Ok(Pred::not(self.id(q)?))
            }
            Tok::Op("(") => {
                self.next();
                let mut b = self.id(q)?;
                loop {
                    let is_and = self.is_kw("and");
                    if !is_and && !self.is_kw("or") {
                        break;
                    }
                    self.next();
                    let r = self.id(q)?;
                    b = if is_and {
                        Pred::and(b, r)
                    } else {
                        Pred::or(b, r)
                    };
                }
                self.expect_op(")")?;
                Ok(b)
            }
            Tok::Num(v) => {
                self.next();
                self.ncode(None, v, q, col)
            }
            Tok::Hid(s) => {
                self.next();
                if self.is_op("/") {
                    self.next();
                    let Tok::Num(n) = *self.peek() else {
                        return Err(self.syntax());
                    };
                    self.next();
                    return self.mcode(&s, None, n, q, col);
                }
                if self.is_kw("mask") {
                    self.next();
                    let Tok::Hid(m) = self.peek().clone() else {
                        return Err(self.syntax());
                    };
                    self.next();
                    return self.mcode(&s, Some(&m), 0, q, col);
                }
                match q.addr {
                    Addr::Port => return self.err_at(col, "'port' modifier applied to ip host"),
                    Addr::PortRange => {
                        return self.err_at(col, "'portrange' modifier applied to ip host");
                    }
                    Addr::Proto => {
                        return self.err_at(col, "'proto' qualifier applied to IPv4 address");
                    }
                    Addr::ProtoChain => {
                        return self.err_at(col, "'protochain' modifier applied to ip host");
                    }
                    _ => {}
                }
                self.ncode(Some(&s), 0, q, col)
            }
            Tok::Hid6(s) => {
                self.next();
                let len = if self.is_op("/") {
                    self.next();
                    let Tok::Num(n) = *self.peek() else {
                        return Err(self.syntax());
                    };
                    self.next();
                    n
                } else {
                    128
                };
                self.mcode6(&s, len, q, col)
            }
            Tok::Eid(s) => {
                self.next();
                self.ecode(&s, q, col)
            }
            Tok::Id(s) => {
                self.next();
                self.scode(&s, q, col)
            }
            _ => Err(self.syntax()),
        }
    }

    fn ncode(&mut self, s: Option<&str>, v: u32, q: Qual, col: usize) -> PResult<Pred> {
        let (mut v, vlen) = match s {
            None => (v, 32),
            Some(s) if q.proto == Proto::Decnet => (self.atodn(s, col)?, 32),
            Some(s) => atoin(s)
                .ok_or_else(|| FilterError::new(format!("invalid IPv4 address '{s}'"), col))?,
        };
        let r = match q.addr {
            Addr::Default | Addr::Host | Addr::Net => {
                let net = q.addr == Addr::Net;
                if q.proto == Proto::Decnet {
                    if s.is_none() {
                        return self.err_at(col, format!("invalid DECnet address '{v}'"));
                    }
                    self.sem.host(v, 0, q.proto, q.dir, net)
                } else if q.proto == Proto::Link {
                    return self.err_at(col, "illegal link layer address");
                } else {
                    let mut mask: u32 = 0xffff_ffff;
                    if s.is_none() && net {
                        while v != 0 && v & 0xff00_0000 == 0 {
                            v <<= 8;
                            mask <<= 8;
                        }
                    } else if vlen < 32 {
                        v <<= 32 - vlen;
                        mask <<= 32 - vlen;
                    }
                    if v & !mask != 0 {
                        return self.err_at(
                            col,
                            format!("non-network bits set in \"{}\"", s.unwrap_or("")),
                        );
                    }
                    self.sem.host(v, mask, q.proto, q.dir, net)
                }
            }
            Addr::Port | Addr::PortRange => {
                let ipp = self.port_proto(q.proto, q.addr, col)?;
                if v > 65535 {
                    return self.err_at(col, format!("illegal port number {v} > 65535"));
                }
                self.sem.port(
                    v,
                    if q.addr == Addr::PortRange {
                        Some(v)
                    } else {
                        None
                    },
                    ipp,
                    q.dir,
                )
            }
            Addr::Gateway => {
                return self.err_at(
                    col,
                    format!(
                        "'gateway' is not a valid qualifier for '{}'",
                        s.map(str::to_string).unwrap_or(v.to_string())
                    ),
                );
            }
            Addr::Proto => {
                if v > 255 && q.proto != Proto::Link {
                    return self
                        .err_at(col, format!("protocol number {v} greater than maximum 255"));
                }
                self.sem.proto(v, q.proto, q.dir)
            }
            Addr::ProtoChain => {
                if v > 255 {
                    return self
                        .err_at(col, format!("protocol number {v} greater than maximum 255"));
                }
                self.sem.protochain(v, q.proto)
            }
            Addr::Undef => {
                return self.err_at(
                    col,
                    "syntax error: an address needs a qualifier such as 'host'",
                );
            }
        };
        self.g(col, r)
    }

    fn port_proto(&self, p: Proto, addr: Addr, col: usize) -> PResult<Option<u32>> {
        match p {
            Proto::Udp => Ok(Some(17)),
            Proto::Tcp => Ok(Some(6)),
            Proto::Sctp => Ok(Some(132)),
            Proto::Default => Ok(None),
            _ => self.err_at(
                col,
                format!(
                    "illegal qualifier of '{}'",
                    if addr == Addr::Port {
                        "port"
                    } else {
                        "portrange"
                    }
                ),
            ),
        }
    }

    fn atodn(&self, s: &str, col: usize) -> PResult<u32> {
        let bad = || FilterError::new(format!("invalid DECnet address '{s}'"), col);
        let (a, n) = s.split_once('.').ok_or_else(bad)?;
        let a: u32 = a.parse().map_err(|_| bad())?;
        let n: u32 = n.parse().map_err(|_| bad())?;
        if a > 63 || n > 1023 {
            return Err(bad());
        }
        Ok((a << 10) | n)
    }

    fn scode(&mut self, name: &str, q: Qual, col: usize) -> PResult<Pred> {
        let r = match q.addr {
            Addr::Net => return self.err_at(col, format!("unknown network '{name}'")),
            Addr::Default | Addr::Host => {
                if q.proto == Proto::Link {
                    return self.err_at(col, format!("unknown ether host '{name}' (pwru does not read /etc/ethers)"));
                }
                if q.proto == Proto::Decnet {
                    return self.err_at(col, format!("invalid DECnet address '{name}'"));
                }
                if q.addr == Addr::Default && q.dir == Dir::Default && q.proto == Proto::Default {
                    return self.err_at(col, format!("unknown protocol '{name}'"));
                }
                return self.err_at(col, format!("unknown host '{name}' (pwru does not resolve names; use an address)"));
            }
            Addr::Port => {
                let want = self.port_proto(q.proto, q.addr, col)?;
                let (port, real) = sem::name_to_port(name)
                    .ok_or_else(|| FilterError::new(format!("unknown port '{name}'"), col))?;
                let ipp = self.port_real(name, want, real, col)?;
                self.sem.port(port, None, ipp, q.dir)
            }
            Addr::PortRange => {
                let want = self.port_proto(q.proto, q.addr, col)?;
                let (lo, hi, real) = portrange(name)
                    .ok_or_else(|| FilterError::new(format!("unknown port in range '{name}'"), col))?;
                if lo > 65535 || hi > 65535 {
                    return self.err_at(col, format!("illegal port number in range '{name}'"));
                }
                let ipp = self.port_real(name, want, real, col)?;
                self.sem.port(lo, Some(hi), ipp, q.dir)
            }
            Addr::Gateway => return self.err_at(col, format!("unknown host '{name}' (pwru does not resolve names, so 'gateway' is not supported)")),
            Addr::Proto | Addr::ProtoChain => {
                let v = match q.proto {
                    Proto::Default | Proto::Ip | Proto::Ipv6 => sem::name_to_proto(name)
                        .ok_or_else(|| FilterError::new(format!("unknown ip proto '{name}'"), col))?,
                    Proto::Link => sem::name_to_eproto(name)
                        .ok_or_else(|| FilterError::new(format!("unknown ether proto '{name}'"), col))?,
                    Proto::Iso => sem::name_to_iso(name)
                        .ok_or_else(|| FilterError::new(format!("unknown osi proto '{name}'"), col))?,
                    _ => return self.err_at(col, format!("unknown protocol '{name}'")),
                };
                if q.addr == Addr::Proto {
                    self.sem.proto(v, q.proto, q.dir)
                } else {
                    self.sem.protochain(v, q.proto)
                }
            }
            Addr::Undef => return self.err_at(col, format!("unknown protocol '{name}'")),
        };
        self.g(col, r)
    }

    fn port_real(
        &self,
        name: &str,
        want: Option<u32>,
        real: Option<u32>,
        col: usize,
    ) -> PResult<Option<u32>> {
        match (want, real) {
            (None, r) => Ok(r),
            (Some(w), None) => Ok(Some(w)),
            (Some(w), Some(r)) if w == r => Ok(Some(w)),
            (Some(_), Some(r)) => {
                let n = match r {
                    6 => "tcp",
                    17 => "udp",
                    _ => "sctp",
                };
                self.err_at(col, format!("port '{name}' is {n}"))
            }
        }
    }

    fn mcode(
        &mut self,
        s1: &str,
        s2: Option<&str>,
        masklen: u32,
        q: Qual,
        col: usize,
    ) -> PResult<Pred> {
        let (n, nlen) = atoin(s1)
            .ok_or_else(|| FilterError::new(format!("invalid IPv4 address '{s1}'"), col))?;
        let n = if nlen == 0 { 0 } else { n << (32 - nlen) };
        let m = match s2 {
            Some(s2) => {
                let (m, mlen) = atoin(s2)
                    .ok_or_else(|| FilterError::new(format!("invalid IPv4 address '{s2}'"), col))?;
                let m = if mlen == 0 { 0 } else { m << (32 - mlen) };
                if n & !m != 0 {
                    return self.err_at(col, format!("non-network bits set in \"{s1} mask {s2}\""));
                }
                m
            }
            None => {
                if masklen > 32 {
                    return self.err_at(
                        col,
                        format!("netmask length {masklen} greater than maximum 32"),
                    );
                }
                let m = if masklen == 0 {
                    0
                } else {
                    0xffff_ffffu32 << (32 - masklen)
                };
                if n & !m != 0 {
                    return self.err_at(col, format!("non-network bits set in \"{s1}/{masklen}\""));
                }
                m
            }
        };
        if q.addr != Addr::Net {
            return self.err_at(col, "Mask syntax for networks only");
        }
        let r = self.sem.host(n, m, q.proto, q.dir, true);
        self.g(col, r)
    }

    fn mcode6(&mut self, s: &str, masklen: u32, q: Qual, col: usize) -> PResult<Pred> {
        let a: std::net::Ipv6Addr = s
            .parse()
            .map_err(|_| FilterError::new(format!("invalid IPv6 address {s}"), col))?;
        if masklen > 128 {
            return self.err_at(col, "mask length must be <= 128");
        }
        let bits = u128::from(a);
        let mask: u128 = if masklen == 0 {
            0
        } else {
            u128::MAX << (128 - masklen)
        };
        if bits & !mask != 0 {
            return self.err_at(col, format!("non-network bits set in \"{s}/{masklen}\""));
        }
        let words = |x: u128| {
            [
                (x >> 96) as u32,
                (x >> 64) as u32,
                (x >> 32) as u32,
                x as u32,
            ]
        };
        let net = match q.addr {
            Addr::Default | Addr::Host => {
                if masklen != 128 {
                    return self.err_at(col, "Mask syntax for networks only");
                }
                false
            }
            Addr::Net => true,
            _ => return self.err_at(col, "invalid qualifier against IPv6 address"),
        };
        let r = self
            .sem
            .host6(&words(bits), &words(mask), q.proto, q.dir, net);
        self.g(col, r)
    }

    fn ecode(&mut self, s: &str, q: Qual, col: usize) -> PResult<Pred> {
        let mac = parse_mac(s)
            .ok_or_else(|| FilterError::new(format!("invalid Ethernet address '{s}'"), col))?;
        if matches!(q.addr, Addr::Host | Addr::Default) && q.proto == Proto::Link {
            let r = self.sem.ehost(mac, q.dir);
            return self.g(col, r);
        }
        self.err_at(col, "Ethernet address used in non-ether expression")
    }
}
