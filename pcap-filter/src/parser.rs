//! Recursive-descent parser for libpcap's grammar, generating predicates as it goes.
//!
//! It follows libpcap's grammar.y: `and`/`or` have one precedence and group to the left,
//! `not` binds tighter, and a bare address after `and`/`or` takes the qualifiers of the term
//! before it (`host a or b` is `host a or host b`).

use crate::FilterError;
use crate::ir::{AluOp, CmpOp, Pred, Val};
use crate::lexer::{Tok, Token};
use crate::semantics::{self as sem, Addr, Dir, Gen, Proto, QERR, Qual};

pub struct Parser<'a> {
    toks: &'a [Token],
    pos: usize,
    pub sem: Gen,
    /// Nesting of `arith` calls (they recurse for `%`, `^` and parentheses).
    depth: usize,
}

/// Arithmetic nests at most this deep, as operators (`%` and `^` chains, which group to the
/// right) or as operands of one value (long `+` chains): the parser, the optimiser and the
/// generator recurse on arithmetic.
pub const MAX_ARITH_DEPTH: usize = 100;

type PResult<T> = Result<T, FilterError>;

/// An arithmetic value and the protocol checks its loads need.
struct Arth {
    v: Val,
    guards: Vec<Pred>,
}

const DEFQ: Qual = Qual {
    proto: Proto::Default,
    dir: Dir::Default,
    addr: Addr::Default,
};

impl<'a> Parser<'a> {
    pub fn new(toks: &'a [Token], l3: bool) -> Self {
        Parser {
            toks,
            pos: 0,
            sem: Gen::new(l3),
            depth: 0,
        }
    }

    pub fn netmask(mut self, netmask: Option<u32>) -> Self {
        self.sem.netmask = netmask;
        self
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }
    fn peek_at(&self, n: usize) -> &Tok {
        let i = (self.pos + n).min(self.toks.len() - 1);
        &self.toks[i].tok
    }
    fn col(&self) -> usize {
        self.toks[self.pos].col
    }
    fn next(&mut self) -> Token {
        let t = self.toks[self.pos].clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }
    fn is_kw(&self, k: &str) -> bool {
        matches!(self.peek(), Tok::Kw(x) if *x == k)
    }
    fn is_op(&self, o: &str) -> bool {
        matches!(self.peek(), Tok::Op(x) if *x == o)
    }
    fn err<T>(&self, msg: impl Into<String>) -> PResult<T> {
        Err(FilterError::new(msg.into(), self.col()))
    }
    fn err_at<T>(&self, col: usize, msg: impl Into<String>) -> PResult<T> {
        Err(FilterError::new(msg.into(), col))
    }
    fn syntax(&self) -> FilterError {
        let t = &self.toks[self.pos];
        let what = if t.tok == Tok::Eof {
            "end of expression".to_string()
        } else {
            format!("'{}'", t.text)
        };
        FilterError::new(format!("syntax error: unexpected {what}"), t.col)
    }
    fn expect_op(&mut self, o: &str) -> PResult<()> {
        if self.is_op(o) {
            self.next();
            Ok(())
        } else {
            Err(self.syntax())
        }
    }
    /// Wrap a generator error with the column of the token that caused it.
    fn g<T>(&self, col: usize, r: sem::GResult<T>) -> PResult<T> {
        r.map_err(|m| FilterError::new(m, col))
    }

    pub fn parse(&mut self) -> PResult<Pred> {
        if *self.peek() == Tok::Eof {
            return Ok(Pred::True);
        }
        let p = self.expr()?;
        if *self.peek() != Tok::Eof {
            return Err(self.syntax());
        }
        Ok(p)
    }

    fn expr(&mut self) -> PResult<Pred> {
        let (mut b, mut q) = self.term(QERR)?;
        loop {
            let is_and = self.is_kw("and");
            if !is_and && !self.is_kw("or") {
                break;
            }
            self.next();
            let rhs = if self.starts_id() {
                self.id(q)?
            } else {
                let (r, q2) = self.term(q)?;
                q = q2;
                r
            };
            b = if is_and {
                Pred::and(b, rhs)
            } else {
                Pred::or(b, rhs)
            };
        }
        Ok(b)
    }

    fn is_arith_op(t: &Tok) -> bool {
        matches!(t, Tok::Op(o) if matches!(*o, "+" | "-" | "*" | "/" | "%" | "&" | "|" | "^" | "<<" | ">>" | ">" | ">=" | "=" | "<" | "<=" | "!="))
    }

    /// After `and`/`or`: does a bare address (inheriting qualifiers) follow?
    fn starts_id(&self) -> bool {
        let mut n = 0;
        loop {
            match self.peek_at(n) {
                Tok::Kw("not") | Tok::Op("!") => n += 1,
                Tok::Op("(") => n += 1,
                Tok::Id(_) | Tok::Hid(_) | Tok::Hid6(_) | Tok::Eid(_) => return true,
                Tok::Num(_) => {
                    return !Self::is_arith_op(self.peek_at(n + 1))
                        && !matches!(self.peek_at(n + 1), Tok::Op(")") if self.paren_then_arith(n + 1));
                }
                _ => return false,
            }
        }
    }

    /// Is the `)` at lookahead `n` followed by an arithmetic or relational operator?
    fn paren_then_arith(&self, n: usize) -> bool {
        let mut n = n;
        while matches!(self.peek_at(n), Tok::Op(")")) {
            n += 1;
        }
        Self::is_arith_op(self.peek_at(n))
    }

    fn term(&mut self, inh: Qual) -> PResult<(Pred, Qual)> {
        // A run of `not`s, counted rather than recursed into: libpcap takes any number.
        let mut odd = false;
        while self.is_kw("not") || self.is_op("!") {
            self.next();
            odd = !odd;
        }
        let (b, q) = self.rterm(inh)?;
        Ok((if odd { Pred::not(b) } else { b }, q))
    }

    /// Does the parenthesis at the cursor hold arithmetic (followed by an operator)?
    fn paren_is_arith(&self) -> bool {
        let mut depth = 0usize;
        let mut n = 0;
        loop {
            match self.peek_at(n) {
                Tok::Op("(") => depth += 1,
                Tok::Op(")") => {
                    depth -= 1;
                    if depth == 0 {
                        return Self::is_arith_op(self.peek_at(n + 1));
                    }
                }
                Tok::Eof => return false,
                _ => {}
            }
            n += 1;
        }
    }

    fn rterm(&mut self, inh: Qual) -> PResult<(Pred, Qual)> {
        let col = self.col();
        match self.peek().clone() {
            Tok::Op("(") => {
                if self.paren_is_arith() {
                    return Ok((self.relation()?, QERR));
                }
                self.next();
                let b = self.expr()?;
                self.expect_op(")")?;
                Ok((b, inh))
            }
            Tok::Num(_) | Tok::Op("-") | Tok::Kw("len") => Ok((self.relation()?, QERR)),
            Tok::Kw("less") | Tok::Kw("greater") => {
                let greater = self.is_kw("greater");
                self.next();
                let Tok::Num(n) = *self.peek() else {
                    return Err(self.syntax());
                };
                self.next();
                Ok((self.sem.len_cmp(greater, n), QERR))
            }
            Tok::Kw("byte") => {
                self.next();
                let Tok::Num(idx) = *self.peek() else {
                    return Err(self.syntax());
                };
                self.next();
                let op = match self.peek() {
                    Tok::Op(o) if matches!(*o, "&" | "|" | "<" | ">" | "=") => *o,
                    _ => return Err(self.syntax()),
                };
                self.next();
                let Tok::Num(v) = *self.peek() else {
                    return Err(self.syntax());
                };
                self.next();
                let r = self.sem.byteop(op, idx, v);
                Ok((self.g(col, r)?, QERR))
            }
            Tok::Kw("inbound") | Tok::Kw("outbound") => {
                self.err("inbound/outbound not supported on Ethernet or raw IP")
            }
            Tok::Kw("ifindex") => self.err("ifindex not supported on Ethernet or raw IP"),
            Tok::Kw("vlan") | Tok::Kw("mpls") | Tok::Kw("pppoes") | Tok::Kw("geneve") => {
                let Tok::Kw(kw) = self.next().tok else {
                    unreachable!()
                };
                let n = self.opt_pnum()?;
                let r = match kw {
                    "vlan" => self.sem.vlan(n),
                    "mpls" => self.sem.mpls(n),
                    "pppoes" => self.sem.pppoes(n),
                    _ => self.sem.geneve(n),
                };
                Ok((self.g(col, r)?, QERR))
            }
            Tok::Kw("pppoed") => {
                self.next();
                let r = self.sem.pppoed();
                Ok((self.g(col, r)?, QERR))
            }
            Tok::Kw("llc") => {
                self.next();
                let kind = match self.peek().clone() {
                    Tok::Id(s) => {
                        self.next();
                        Some(s)
                    }
                    Tok::Kw("rnr") => {
                        self.next();
                        Some("rnr".to_string())
                    }
                    _ => None,
                };
                let r = self.sem.llc(kind.as_deref());
                Ok((self.g(col, r)?, QERR))
            }
            Tok::Kw("broadcast") | Tok::Kw("multicast") => {
                let r = if self.is_kw("broadcast") {
                    self.sem.broadcast(Proto::Default)
                } else {
                    self.sem.multicast(Proto::Default)
                };
                self.next();
                Ok((self.g(col, r)?, QERR))
            }
            Tok::Kw(k) => {
                if let Some(p) = Proto::from_kw(k) {
                    // pname followed by '[' is arithmetic.
                    if matches!(self.peek_at(1), Tok::Op("[")) {
                        return Ok((self.relation()?, QERR));
                    }
                    if matches!(self.peek_at(1), Tok::Kw("broadcast") | Tok::Kw("multicast")) {
                        self.next();
                        let r = if self.is_kw("broadcast") {
                            self.sem.broadcast(p)
                        } else {
                            self.sem.multicast(p)
                        };
                        self.next();
                        return Ok((self.g(col, r)?, QERR));
                    }
                    if !Self::starts_head_rest(self.peek_at(1)) {
                        self.next();
                        let r = self.sem.proto_abbrev(p);
                        return Ok((self.g(col, r)?, QERR));
                    }
                }
                let q = self.head()?;
                let b = self.id(q)?;
                Ok((b, q))
            }
            Tok::Id(s) => self.err(format!("unknown protocol '{s}'")),
            Tok::Eof => Err(self.syntax()),
            _ => Err(self.syntax()),
        }
    }

    fn starts_head_rest(t: &Tok) -> bool {
        matches!(
            t,
            Tok::Kw("src")
                | Tok::Kw("dst")
                | Tok::Kw("host")
                | Tok::Kw("net")
                | Tok::Kw("port")
                | Tok::Kw("portrange")
                | Tok::Kw("proto")
                | Tok::Kw("protochain")
                | Tok::Kw("gateway")
                | Tok::Kw("addr1")
                | Tok::Kw("addr2")
                | Tok::Kw("addr3")
                | Tok::Kw("addr4")
                | Tok::Kw("ra")
                | Tok::Kw("ta")
        )
    }

    fn opt_pnum(&mut self) -> PResult<Option<u32>> {
        match *self.peek() {
            Tok::Num(n) => {
                self.next();
                Ok(Some(n))
            }
            Tok::Op("(")
                if matches!(self.peek_at(1), Tok::Num(_))
                    && matches!(self.peek_at(2), Tok::Op(")")) =>
            {
                self.next();
                let Tok::Num(n) = self.next().tok else {
                    unreachable!()
                };
                self.next();
                Ok(Some(n))
            }
            _ => Ok(None),
        }
    }

    /// `pqual dqual aqual` and its shorter forms.
    fn head(&mut self) -> PResult<Qual> {
        let mut q = DEFQ;
        if let Tok::Kw(k) = *self.peek()
            && let Some(p) = Proto::from_kw(k)
        {
            q.proto = p;
            self.next();
        }
        let mut any = false;
        match *self.peek() {
            Tok::Kw("src") | Tok::Kw("dst") => {
                let first = if self.is_kw("src") {
                    Dir::Src
                } else {
                    Dir::Dst
                };
                self.next();
                q.dir = first;
                let other = if first == Dir::Src { "dst" } else { "src" };
                if (self.is_kw("or") || self.is_kw("and"))
                    && matches!(self.peek_at(1), Tok::Kw(x) if *x == other)
                {
                    q.dir = if self.is_kw("or") { Dir::Or } else { Dir::And };
                    self.next();
                    self.next();
                }
                any = true;
            }
            Tok::Kw("addr1")
            | Tok::Kw("addr2")
            | Tok::Kw("addr3")
            | Tok::Kw("addr4")
            | Tok::Kw("ra")
            | Tok::Kw("ta") => {
                return self.err("802.11 address qualifiers are not valid on Ethernet or raw IP");
            }
            _ => {}
        }
        match *self.peek() {
            Tok::Kw("host") => q.addr = Addr::Host,
            Tok::Kw("net") => q.addr = Addr::Net,
            Tok::Kw("port") => q.addr = Addr::Port,
            Tok::Kw("portrange") => q.addr = Addr::PortRange,
            Tok::Kw("proto") | Tok::Kw("protochain") | Tok::Kw("gateway") if !any => {
                q.addr = match *self.peek() {
                    Tok::Kw("proto") => Addr::Proto,
                    Tok::Kw("protochain") => Addr::ProtoChain,
                    _ => Addr::Gateway,
                };
            }
            _ => {
                if !any {
                    return Err(self.syntax());
                }
                return Ok(q);
            }
        }
        self.next();
        Ok(q)
    }

    // ---- addresses with qualifiers ----

    fn id(&mut self, q: Qual) -> PResult<Pred> {
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

    // ---- arithmetic relations ----

    fn relation(&mut self) -> PResult<Pred> {
        let a = self.arith(0)?;
        let col = self.col();
        let (op, rev) = match self.peek() {
            Tok::Op(">") => (CmpOp::Gt, false),
            Tok::Op(">=") => (CmpOp::Ge, false),
            Tok::Op("=") => (CmpOp::Eq, false),
            Tok::Op("<=") => (CmpOp::Gt, true),
            Tok::Op("<") => (CmpOp::Ge, true),
            Tok::Op("!=") => (CmpOp::Eq, true),
            _ => return Err(self.syntax()),
        };
        self.next();
        let b = self.arith(0)?;
        let _ = col;
        let mut cmp = Pred::Cmp(op, a.v, b.v);
        if rev {
            cmp = Pred::not(cmp);
        }
        let mut guard = Pred::True;
        for g in a.guards.into_iter().chain(b.guards) {
            guard = Pred::and(guard, g);
        }
        Ok(Pred::and(guard, cmp))
    }

    fn binop(t: &Tok) -> Option<(AluOp, u8)> {
        Some(match t {
            Tok::Op("|") => (AluOp::Or, 1),
            Tok::Op("&") => (AluOp::And, 2),
            Tok::Op("<<") => (AluOp::Lsh, 3),
            Tok::Op(">>") => (AluOp::Rsh, 3),
            Tok::Op("+") => (AluOp::Add, 4),
            Tok::Op("-") => (AluOp::Sub, 4),
            Tok::Op("*") => (AluOp::Mul, 5),
            Tok::Op("/") => (AluOp::Div, 5),
            _ => return None,
        })
    }

    /// Precedence climbing over libpcap's `%left` levels.
    fn arith(&mut self, min: u8) -> PResult<Arth> {
        self.depth += 1;
        if self.depth > MAX_ARITH_DEPTH {
            return self.err(format!(
                "arithmetic nested more than {MAX_ARITH_DEPTH} deep"
            ));
        }
        let r = self.arith_inner(min);
        self.depth -= 1;
        r
    }

    fn arith_inner(&mut self, min: u8) -> PResult<Arth> {
        let mut lhs = self.arith_unary()?;
        while let Some((op, prec)) = Self::binop(self.peek()) {
            if prec < min.max(1) {
                break;
            }
            let col = self.col();
            self.next();
            let rhs = self.arith(prec + 1)?;
            lhs = self.combine(op, lhs, rhs, col)?;
        }
        Ok(lhs)
    }

    fn combine(&self, op: AluOp, a: Arth, b: Arth, col: usize) -> PResult<Arth> {
        match (op, &b.v) {
            (AluOp::Div, Val::K(0)) => return self.err_at(col, "division by zero"),
            (AluOp::Mod, Val::K(0)) => return self.err_at(col, "modulus by zero"),
            (AluOp::Lsh | AluOp::Rsh, Val::K(k)) if *k > 31 => {
                return self.err_at(col, "shift by more than 31 bits");
            }
            _ => {}
        }
        if a.v.depth().max(b.v.depth()) >= MAX_ARITH_DEPTH {
            return self.err_at(
                col,
                format!("arithmetic nested more than {MAX_ARITH_DEPTH} deep"),
            );
        }
        let mut guards = a.guards;
        guards.extend(b.guards);
        Ok(Arth {
            v: Val::alu(op, a.v, b.v),
            guards,
        })
    }

    fn arith_unary(&mut self) -> PResult<Arth> {
        let col = self.col();
        let prim = match self.peek().clone() {
            Tok::Op("-") => {
                self.next();
                let a = self.arith_unary_only()?;
                Arth {
                    v: Val::Neg(Box::new(a.v)),
                    guards: a.guards,
                }
            }
            _ => self.arith_primary()?,
        };
        // '%' and '^' have no declared precedence in libpcap's grammar, so bison shifts them:
        // everything to their right becomes the right operand.
        if let Tok::Op(o @ ("%" | "^")) = *self.peek() {
            let op = if o == "%" { AluOp::Mod } else { AluOp::Xor };
            self.next();
            let rhs = self.arith(0)?;
            return self.combine(op, prim, rhs, col);
        }
        Ok(prim)
    }

    fn arith_unary_only(&mut self) -> PResult<Arth> {
        // -(-x) is x in 32-bit arithmetic: count the signs instead of recursing.
        let mut odd = false;
        while self.is_op("-") {
            self.next();
            odd = !odd;
        }
        let a = self.arith_primary()?;
        if !odd {
            return Ok(a);
        }
        Ok(Arth {
            v: Val::Neg(Box::new(a.v)),
            guards: a.guards,
        })
    }

    fn arith_primary(&mut self) -> PResult<Arth> {
        let col = self.col();
        match self.peek().clone() {
            Tok::Num(n) => {
                self.next();
                Ok(Arth {
                    v: Val::K(n),
                    guards: vec![],
                })
            }
            Tok::Kw("len") => {
                self.next();
                Ok(Arth {
                    v: Val::Len,
                    guards: vec![],
                })
            }
            Tok::Op("(") => {
                self.next();
                let a = self.arith(0)?;
                self.expect_op(")")?;
                Ok(a)
            }
            Tok::Kw(k) if Proto::from_kw(k).is_some() => {
                let p = Proto::from_kw(k).unwrap();
                self.next();
                self.expect_op("[")?;
                let idx = self.arith(0)?;
                let size = if self.is_op(":") {
                    self.next();
                    let Tok::Num(n) = *self.peek() else {
                        return Err(self.syntax());
                    };
                    self.next();
                    n
                } else {
                    1
                };
                self.expect_op("]")?;
                let r = self.sem.index_load(p, idx.v, size, idx.guards);
                let (v, guards) = self.g(col, r)?;
                Ok(Arth { v, guards })
            }
            _ => Err(self.syntax()),
        }
    }
}

/// libpcap's `__pcap_atoin`: dotted IPv4 with 1 to 4 parts; returns (value, bits given).
pub fn atoin(s: &str) -> Option<(u32, u32)> {
    let mut v: u32 = 0;
    let mut len = 0;
    for part in s.split('.') {
        let n = parse_c_number(part)?;
        if n > 255 {
            return None;
        }
        v = (v << 8) | n;
        len += 8;
    }
    if len > 32 {
        return None;
    }
    Some((v, len))
}

fn parse_c_number(s: &str) -> Option<u32> {
    if let Some(h) = s.strip_prefix("0x").or(s.strip_prefix("0X")) {
        u32::from_str_radix(h, 16).ok()
    } else if s.len() > 1 && s.starts_with('0') {
        u32::from_str_radix(&s[1..], 8).ok()
    } else {
        s.parse().ok()
    }
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let hex: Vec<u8> = if s.contains([':', '-']) || s.split('.').count() == 6 {
        let parts: Vec<&str> = s.split([':', '-', '.']).collect();
        if parts.len() != 6 {
            return None;
        }
        parts
            .iter()
            .map(|p| u8::from_str_radix(p, 16).ok())
            .collect::<Option<_>>()?
    } else {
        let digits: String = s.chars().filter(|c| *c != '.').collect();
        if digits.len() != 12 {
            return None;
        }
        (0..6)
            .map(|i| u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<_>>()?
    };
    hex.try_into().ok()
}

/// `a-b` with numbers or service names; the protocol is None unless both ends agree.
fn portrange(name: &str) -> Option<(u32, u32, Option<u32>)> {
    let (a, b) = name.split_once('-')?;
    let (pa, ra) = sem::name_to_port(a)?;
    let (pb, rb) = sem::name_to_port(b)?;
    let r = if ra == rb { ra } else { None };
    Some((pa, pb, r))
}
