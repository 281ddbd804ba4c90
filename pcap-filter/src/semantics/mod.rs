//! The meaning of each primitive, following libpcap's gencode for DLT_EN10MB and DLT_RAW.
//!
//! Like libpcap, code is generated while parsing, in textual order, because `vlan`, `mpls`
//! and `pppoes` move the offsets of everything that follows them.
//!
//! Layout: this file holds the qualifiers, the generator's state and its loads and protocol tests; `hosts`,
//! `ports`, `link` (link-level extras) and `arith` add the primitives of each family to [`Gen`]; `names` looks
//! up services, protocols and EtherTypes by name.

mod arith;
mod hosts;
mod link;
mod names;
mod ports;

pub use names::{name_to_eproto, name_to_iso, name_to_port, name_to_proto};

use crate::ir::{AluOp, CmpOp, Pred, Val};

pub type GResult<T> = Result<T, String>;

// EtherTypes.
pub const ETH_IP: u32 = 0x0800;
pub const ETH_ARP: u32 = 0x0806;
pub const ETH_REVARP: u32 = 0x8035;
pub const ETH_IPV6: u32 = 0x86dd;
pub const ETH_ATALK: u32 = 0x809b;
pub const ETH_AARP: u32 = 0x80f3;
pub const ETH_DN: u32 = 0x6003;
pub const ETH_SCA: u32 = 0x6007;
pub const ETH_LAT: u32 = 0x6004;
pub const ETH_MOPDL: u32 = 0x6001;
pub const ETH_MOPRC: u32 = 0x6002;
pub const ETH_IPX: u32 = 0x8137;
pub const ETH_MPLS: u32 = 0x8847;
pub const ETH_PPPOED: u32 = 0x8863;
pub const ETH_PPPOES: u32 = 0x8864;
pub const ETH_LOOPBACK: u32 = 0x9000;
const ETHERMTU: u32 = 1500;

// LLC SAPs.
const LLCSAP_IP: u32 = 0x06;
const LLCSAP_ISONS: u32 = 0xfe;
const LLCSAP_NETBEUI: u32 = 0xf0;
const LLCSAP_IPX: u32 = 0xe0;
const LLCSAP_8021D: u32 = 0x42;

// OSI.
const ISO8473_CLNP: u32 = 0x81;
const ISO9542_ESIS: u32 = 0x82;
const ISO10589_ISIS: u32 = 0x83;

const PPP_MPLS_UCAST: u32 = 0x0281;

/// Protocol qualifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Default,
    Link,
    Ip,
    Arp,
    Rarp,
    Sctp,
    Tcp,
    Udp,
    Icmp,
    Igmp,
    Igrp,
    Pim,
    Vrrp,
    Carp,
    Atalk,
    Aarp,
    Decnet,
    Lat,
    Sca,
    Moprc,
    Mopdl,
    Ipv6,
    Icmpv6,
    Ah,
    Esp,
    Iso,
    Esis,
    Isis,
    IsisL1,
    IsisL2,
    IsisIih,
    IsisLsp,
    IsisSnp,
    IsisCsnp,
    IsisPsnp,
    Clnp,
    Stp,
    Ipx,
    Netbeui,
    Radio,
    Undef,
}

impl Proto {
    pub fn from_kw(kw: &str) -> Option<Proto> {
        use Proto::*;
        Some(match kw {
            "link" => Link,
            "ip" => Ip,
            "arp" => Arp,
            "rarp" => Rarp,
            "sctp" => Sctp,
            "tcp" => Tcp,
            "udp" => Udp,
            "icmp" => Icmp,
            "igmp" => Igmp,
            "igrp" => Igrp,
            "pim" => Pim,
            "vrrp" => Vrrp,
            "carp" => Carp,
            "atalk" => Atalk,
            "aarp" => Aarp,
            "decnet" => Decnet,
            "lat" => Lat,
            "sca" => Sca,
            "moprc" => Moprc,
            "mopdl" => Mopdl,
            "ip6" => Ipv6,
            "icmp6" => Icmpv6,
            "ah" => Ah,
            "esp" => Esp,
            "iso" => Iso,
            "esis" => Esis,
            "isis" => Isis,
            "l1" => IsisL1,
            "l2" => IsisL2,
            "iih" => IsisIih,
            "lsp" => IsisLsp,
            "snp" => IsisSnp,
            "csnp" => IsisCsnp,
            "psnp" => IsisPsnp,
            "clnp" => Clnp,
            "stp" => Stp,
            "ipx" => Ipx,
            "netbeui" => Netbeui,
            "radio" => Radio,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        use Proto::*;
        match self {
            Default => "",
            Link => "link",
            Ip => "ip",
            Arp => "arp",
            Rarp => "rarp",
            Sctp => "sctp",
            Tcp => "tcp",
            Udp => "udp",
            Icmp => "icmp",
            Igmp => "igmp",
            Igrp => "igrp",
            Pim => "pim",
            Vrrp => "vrrp",
            Carp => "carp",
            Atalk => "atalk",
            Aarp => "aarp",
            Decnet => "decnet",
            Lat => "lat",
            Sca => "sca",
            Moprc => "moprc",
            Mopdl => "mopdl",
            Ipv6 => "ip6",
            Icmpv6 => "icmp6",
            Ah => "ah",
            Esp => "esp",
            Iso => "iso",
            Esis => "esis",
            Isis => "isis",
            IsisL1 => "l1",
            IsisL2 => "l2",
            IsisIih => "iih",
            IsisLsp => "lsp",
            IsisSnp => "snp",
            IsisCsnp => "csnp",
            IsisPsnp => "psnp",
            Clnp => "clnp",
            Stp => "stp",
            Ipx => "ipx",
            Netbeui => "netbeui",
            Radio => "radio",
            Undef => "?",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Default,
    Src,
    Dst,
    Or,
    And,
    Undef,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addr {
    Default,
    Host,
    Net,
    Port,
    PortRange,
    Proto,
    ProtoChain,
    Gateway,
    Undef,
}

/// A qualifier triple, as libpcap's `struct qual`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Qual {
    pub proto: Proto,
    pub dir: Dir,
    pub addr: Addr,
}

pub const QERR: Qual = Qual {
    proto: Proto::Undef,
    dir: Dir::Undef,
    addr: Addr::Undef,
};

/// The link layer the code is generated for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    Ether,
    Raw,
    /// After `pppoes`: a PPP header follows.
    Ppp,
}

/// Offsets that move as `vlan`, `mpls`, `pppoes` are parsed.
#[derive(Clone, Debug)]
pub struct Gen {
    pub link: Link,
    /// Offset of the EtherType / PPP protocol field; None for raw IP.
    pub off_linktype: Option<u32>,
    pub off_linkhdr: u32,
    /// Start of the link-layer payload.
    pub off_linkpl: u32,
    /// Variable parts of the offsets above (after `geneve`), added to the constant parts.
    pub var_linktype: Option<Val>,
    pub var_linkhdr: Option<Val>,
    pub var_linkpl: Option<Val>,
    /// Stack slots used for `geneve`'s offsets.
    pub mem_slots: u8,
    /// Network header within the payload (after MPLS labels).
    pub off_nl: u32,
    /// Network header for LLC-encapsulated OSI without SNAP.
    pub off_nl_nosnap: u32,
    pub label_stack_depth: u32,
    pub vlan_stack_depth: u32,
    /// The network's netmask, for `ip broadcast`; None when unknown (libpcap's PCAP_NETMASK_UNKNOWN).
    pub netmask: Option<u32>,
}

/// Where a fixed offset is measured from (libpcap's `enum e_offrel`).
#[derive(Clone, Copy, Debug)]
enum Rel {
    LinkHdr,
    Llc,
    LinkPl,
    LinkPlNoSnap,
    LinkType,
    PrevMpls,
    TranV4,
    TranV6,
}

impl Gen {
    pub fn new(l3: bool) -> Gen {
        if l3 {
            Gen {
                link: Link::Raw,
                off_linktype: None,
                off_linkhdr: 0,
                off_linkpl: 0,
                var_linktype: None,
                var_linkhdr: None,
                var_linkpl: None,
                mem_slots: 0,
                off_nl: 0,
                off_nl_nosnap: 0,
                label_stack_depth: 0,
                vlan_stack_depth: 0,
                netmask: None,
            }
        } else {
            Gen {
                link: Link::Ether,
                off_linktype: Some(12),
                off_linkhdr: 0,
                off_linkpl: 14,
                var_linktype: None,
                var_linkhdr: None,
                var_linkpl: None,
                mem_slots: 0,
                off_nl: 0,
                off_nl_nosnap: 3,
                label_stack_depth: 0,
                vlan_stack_depth: 0,
                netmask: None,
            }
        }
    }

    /// IPv4 header length, plus the variable part of the payload offset.
    fn ihl(&self) -> Val {
        let nl = self.off_linkpl + self.off_nl;
        let h = Val::alu(
            AluOp::Lsh,
            Val::alu(AluOp::And, at_var(&self.var_linkpl, nl, 1), Val::K(0x0f)),
            Val::K(2),
        );
        match &self.var_linkpl {
            None => h,
            Some(v) => Val::alu(AluOp::Add, v.clone(), h),
        }
    }

    fn load(&self, rel: Rel, k: u32, size: u8) -> GResult<Val> {
        let abs = |base: u32| base.saturating_add(k);
        Ok(match rel {
            Rel::LinkHdr => at_var(&self.var_linkhdr, abs(self.off_linkhdr), size),
            Rel::Llc => at_var(&self.var_linkpl, abs(self.off_linkpl), size),
            Rel::LinkPl => at_var(&self.var_linkpl, abs(self.off_linkpl + self.off_nl), size),
            Rel::LinkPlNoSnap => at_var(
                &self.var_linkpl,
                abs(self.off_linkpl + self.off_nl_nosnap),
                size,
            ),
            Rel::LinkType => match self.off_linktype {
                Some(t) => at_var(&self.var_linktype, abs(t), size),
                None => return Err("link-layer type filtering not possible on raw IP".into()),
            },
            // libpcap's offsets are u_int: behind a run-time base (after `geneve`) the previous label's
            // offset wraps, as there.
            Rel::PrevMpls => at_var(
                &self.var_linkpl,
                abs((self.off_linkpl + self.off_nl).wrapping_sub(4)),
                size,
            ),
            Rel::TranV4 => Val::Load {
                base: Some(Box::new(self.ihl())),
                off: abs(self.off_linkpl + self.off_nl),
                size,
            },
            Rel::TranV6 => at_var(
                &self.var_linkpl,
                abs(self.off_linkpl + self.off_nl + 40),
                size,
            ),
        })
    }

    fn cmp(&self, rel: Rel, k: u32, size: u8, v: u32) -> GResult<Pred> {
        Ok(Pred::cmp(CmpOp::Eq, self.load(rel, k, size)?, v))
    }
    fn cmp_op(&self, op: CmpOp, rel: Rel, k: u32, size: u8, v: u32) -> GResult<Pred> {
        Ok(Pred::cmp(op, self.load(rel, k, size)?, v))
    }
    fn mcmp(&self, rel: Rel, k: u32, size: u8, v: u32, mask: u32) -> GResult<Pred> {
        let full = match size {
            1 => 0xff,
            2 => 0xffff,
            _ => 0xffff_ffff,
        };
        let ld = self.load(rel, k, size)?;
        if mask & full == full {
            return Ok(Pred::cmp(CmpOp::Eq, ld, v));
        }
        Ok(Pred::cmp(
            CmpOp::Eq,
            Val::alu(AluOp::And, ld, Val::K(mask)),
            v,
        ))
    }
    /// Compare a byte string, four bytes at a time from the end, like libpcap's gen_bcmp.
    fn bcmp(&self, rel: Rel, off: u32, bytes: &[u8]) -> GResult<Pred> {
        let mut size = bytes.len();
        let mut b: Option<Pred> = None;
        let push = |b: &mut Option<Pred>, p: Pred| {
            *b = Some(match b.take() {
                None => p,
                Some(x) => Pred::and(x, p),
            })
        };
        while size >= 4 {
            let p = &bytes[size - 4..size];
            let v = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
            push(&mut b, self.cmp(rel, off + size as u32 - 4, 4, v)?);
            size -= 4;
        }
        while size >= 2 {
            let p = &bytes[size - 2..size];
            let v = u16::from_be_bytes([p[0], p[1]]) as u32;
            push(&mut b, self.cmp(rel, off + size as u32 - 2, 2, v)?);
            size -= 2;
        }
        if size > 0 {
            push(&mut b, self.cmp(rel, off, 1, bytes[0] as u32)?);
        }
        Ok(b.unwrap_or(Pred::True))
    }

    fn snap(&self, orgcode: u32, ptype: u32) -> GResult<Pred> {
        let b = [
            0xaa,
            0xaa,
            0x03,
            (orgcode >> 16) as u8,
            (orgcode >> 8) as u8,
            orgcode as u8,
            (ptype >> 8) as u8,
            ptype as u8,
        ];
        self.bcmp(Rel::Llc, 0, &b)
    }

    fn ether_linktype(&self, p: u32) -> GResult<Pred> {
        let not_len = || -> GResult<Pred> {
            Ok(Pred::not(self.cmp_op(
                CmpOp::Gt,
                Rel::LinkType,
                0,
                2,
                ETHERMTU,
            )?))
        };
        Ok(match p {
            LLCSAP_ISONS | LLCSAP_IP | LLCSAP_NETBEUI => {
                Pred::and(not_len()?, self.cmp(Rel::Llc, 0, 2, (p << 8) | p)?)
            }
            LLCSAP_IPX => {
                let b1 = Pred::or(
                    self.cmp(Rel::Llc, 0, 1, LLCSAP_IPX)?,
                    self.cmp(Rel::Llc, 0, 2, 0xffff)?,
                );
                let b1 = Pred::or(self.snap(0, ETH_IPX)?, b1);
                let b1 = Pred::and(not_len()?, b1);
                Pred::or(self.cmp(Rel::LinkType, 0, 2, ETH_IPX)?, b1)
            }
            ETH_ATALK | ETH_AARP => {
                let snap = if p == ETH_ATALK {
                    self.snap(0x080007, ETH_ATALK)?
                } else {
                    self.snap(0, ETH_AARP)?
                };
                let b1 = Pred::and(not_len()?, snap);
                Pred::or(self.cmp(Rel::LinkType, 0, 2, p)?, b1)
            }
            p if p <= ETHERMTU => Pred::and(not_len()?, self.cmp(Rel::LinkType, 2, 1, p)?),
            p => self.cmp(Rel::LinkType, 0, 2, p)?,
        })
    }

    fn ppp_type(p: u32) -> u32 {
        match p {
            ETH_IP => 0x21,
            ETH_IPV6 => 0x57,
            ETH_DN => 0x27,
            ETH_ATALK => 0x29,
            0x0600 => 0x25,
            ETH_IPX => 0x2b,
            LLCSAP_ISONS => 0x23,
            LLCSAP_8021D => 0x31,
            p => p,
        }
    }

    pub fn linktype(&self, p: u32) -> GResult<Pred> {
        if self.label_stack_depth > 0 {
            let b0 = self.mcmp(Rel::PrevMpls, 2, 1, 0x01, 0x01)?;
            return match p {
                ETH_IP => Ok(Pred::and(b0, self.mcmp(Rel::LinkPl, 0, 1, 0x40, 0xf0)?)),
                ETH_IPV6 => Ok(Pred::and(b0, self.mcmp(Rel::LinkPl, 0, 1, 0x60, 0xf0)?)),
                _ => Err("unsupported protocol over mpls".into()),
            };
        }
        match self.link {
            Link::Ether => self.ether_linktype(p),
            Link::Ppp => self.cmp(Rel::LinkType, 0, 2, Self::ppp_type(p)),
            Link::Raw => match p {
                ETH_IP => self.mcmp(Rel::LinkHdr, 0, 1, 0x40, 0xf0),
                ETH_IPV6 => self.mcmp(Rel::LinkHdr, 0, 1, 0x60, 0xf0),
                _ => Ok(Pred::False),
            },
        }
    }

    fn ipfrag(&self) -> GResult<Pred> {
        Ok(Pred::not(self.cmp_op(
            CmpOp::Set,
            Rel::LinkPl,
            6,
            2,
            0x1fff,
        )?))
    }

    pub fn proto_abbrev(&self, p: Proto) -> GResult<Pred> {
        use Proto::*;
        let any = Proto::Default;
        Ok(match p {
            Sctp => self.proto(132, any, Dir::Default)?,
            Tcp => self.proto(6, any, Dir::Default)?,
            Udp => self.proto(17, any, Dir::Default)?,
            Icmp => self.proto(1, Ip, Dir::Default)?,
            Igmp => self.proto(2, Ip, Dir::Default)?,
            Igrp => self.proto(9, Ip, Dir::Default)?,
            Pim => self.proto(103, any, Dir::Default)?,
            Vrrp | Carp => self.proto(112, Ip, Dir::Default)?,
            Ip => self.linktype(ETH_IP)?,
            Arp => self.linktype(ETH_ARP)?,
            Rarp => self.linktype(ETH_REVARP)?,
            Link => return Err("link layer applied in wrong context".into()),
            Atalk => self.linktype(ETH_ATALK)?,
            Aarp => self.linktype(ETH_AARP)?,
            Decnet => self.linktype(ETH_DN)?,
            Sca => self.linktype(ETH_SCA)?,
            Lat => self.linktype(ETH_LAT)?,
            Mopdl => self.linktype(ETH_MOPDL)?,
            Moprc => self.linktype(ETH_MOPRC)?,
            Ipv6 => self.linktype(ETH_IPV6)?,
            Icmpv6 => self.proto(58, Ipv6, Dir::Default)?,
            Ah => self.proto(51, any, Dir::Default)?,
            Esp => self.proto(50, any, Dir::Default)?,
            Iso => self.linktype(LLCSAP_ISONS)?,
            Esis => self.proto(ISO9542_ESIS, Iso, Dir::Default)?,
            Isis => self.proto(ISO10589_ISIS, Iso, Dir::Default)?,
            IsisL1 => self.isis_any(&[15, 17, 18, 24, 26])?,
            IsisL2 => self.isis_any(&[16, 17, 20, 25, 27])?,
            IsisIih => self.isis_any(&[15, 16, 17])?,
            IsisLsp => self.isis_any(&[18, 20])?,
            IsisSnp => self.isis_any(&[24, 25, 26, 27])?,
            IsisCsnp => self.isis_any(&[24, 25])?,
            IsisPsnp => self.isis_any(&[26, 27])?,
            Clnp => self.proto(ISO8473_CLNP, Iso, Dir::Default)?,
            Stp => self.linktype(LLCSAP_8021D)?,
            Ipx => self.linktype(LLCSAP_IPX)?,
            Netbeui => self.linktype(LLCSAP_NETBEUI)?,
            Radio => return Err("'radio' is not supported on this link type".into()),
            Default | Undef => return Err("syntax error".into()),
        })
    }

    fn isis_any(&self, types: &[u32]) -> GResult<Pred> {
        let mut b = Pred::False;
        for t in types {
            b = Pred::or(b, self.proto(*t, Proto::Isis, Dir::Default)?);
        }
        Ok(b)
    }

    pub fn proto(&self, v: u32, p: Proto, dir: Dir) -> GResult<Pred> {
        use Proto::*;
        if dir != Dir::Default {
            return Err("direction applied to 'proto'".into());
        }
        Ok(match p {
            Default => Pred::or(self.proto(v, Ip, dir)?, self.proto(v, Ipv6, dir)?),
            Link => self.linktype(v)?,
            Ip => Pred::and(self.linktype(ETH_IP)?, self.cmp(Rel::LinkPl, 9, 1, v)?),
            Ipv6 => {
                let frag = Pred::and(
                    self.cmp(Rel::LinkPl, 6, 1, 44)?,
                    self.cmp(Rel::LinkPl, 40, 1, v)?,
                );
                let b1 = Pred::or(self.cmp(Rel::LinkPl, 6, 1, v)?, frag);
                Pred::and(self.linktype(ETH_IPV6)?, b1)
            }
            Iso => {
                if self.link != self::Link::Ether {
                    return Err("'iso proto' is not supported on this link type".into());
                }
                Pred::and(
                    self.linktype(LLCSAP_ISONS)?,
                    self.cmp(Rel::LinkPlNoSnap, 0, 1, v)?,
                )
            }
            Isis => Pred::and(
                self.proto(ISO10589_ISIS, Iso, dir)?,
                self.mcmp(Rel::LinkPlNoSnap, 4, 1, v, 0x1f)?,
            ),
            other => return Err(format!("'{} proto' is bogus", other.name())),
        })
    }
}

/// A load at a constant offset, plus a variable part when there is one.
fn at_var(var: &Option<Val>, off: u32, size: u8) -> Val {
    match var {
        None => Val::load(off, size),
        Some(v) => Val::Load {
            base: Some(Box::new(v.clone())),
            off,
            size,
        },
    }
}
