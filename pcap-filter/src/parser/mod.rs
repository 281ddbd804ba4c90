//! Recursive-descent parser for libpcap's grammar, generating predicates as it goes.
//!
//! It follows libpcap's grammar.y: `and`/`or` have one precedence and group to the left,
//! `not` binds tighter, and a bare address after `and`/`or` takes the qualifiers of the term
//! before it (`host a or b` is `host a or host b`).
//!
//! Layout: this file holds the grammar of terms, qualifiers and primitives; `addresses` gives ids and addresses
//! their meaning under the qualifiers, `arith` parses arithmetic relations.

mod addresses;
mod arith;

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
