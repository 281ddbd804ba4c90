//! The meaning of each primitive, following libpcap's gencode for DLT_EN10MB and DLT_RAW.
//!
//! Like libpcap, code is generated while parsing, in textual order, because `vlan`, `mpls`
//! and `pppoes` move the offsets of everything that follows them.

use crate::ir::{AluOp, CmpOp, Pred, ProtoChain, Val};
use crate::{protocols, services};

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

    // ---- hosts and networks ----

    fn hostop(&self, addr: u32, mask: u32, dir: Dir, ll: u32, src: u32, dst: u32) -> GResult<Pred> {
        match dir {
            Dir::Src | Dir::Dst => {
                let off = if dir == Dir::Src { src } else { dst };
                Ok(Pred::and(
                    self.linktype(ll)?,
                    self.mcmp(Rel::LinkPl, off, 4, addr, mask)?,
                ))
            }
            Dir::And => Ok(Pred::and(
                self.hostop(addr, mask, Dir::Src, ll, src, dst)?,
                self.hostop(addr, mask, Dir::Dst, ll, src, dst)?,
            )),
            Dir::Default | Dir::Or => Ok(Pred::or(
                self.hostop(addr, mask, Dir::Src, ll, src, dst)?,
                self.hostop(addr, mask, Dir::Dst, ll, src, dst)?,
            )),
            Dir::Undef => Err("syntax error".into()),
        }
    }

    pub fn host(&self, addr: u32, mask: u32, p: Proto, dir: Dir, net: bool) -> GResult<Pred> {
        use Proto::*;
        let typ = if net { "net" } else { "host" };
        match p {
            Default => {
                let b0 = self.host(addr, mask, Ip, dir, net)?;
                if self.label_stack_depth == 0 {
                    let b1 = Pred::or(b0, self.host(addr, mask, Arp, dir, net)?);
                    Ok(Pred::or(b1, self.host(addr, mask, Rarp, dir, net)?))
                } else {
                    Ok(b0)
                }
            }
            Link => Err(format!("link-layer modifier applied to {typ}")),
            Ip => self.hostop(addr, mask, dir, ETH_IP, 12, 16),
            Rarp => self.hostop(addr, mask, dir, ETH_REVARP, 14, 24),
            Arp => self.hostop(addr, mask, dir, ETH_ARP, 14, 24),
            Decnet => self.dnhostop(addr, dir),
            Ipv6 => Err(format!("'ip6' modifier applied to ip {typ}")),
            other => Err(format!("'{}' modifier applied to {typ}", other.name())),
        }
    }

    fn hostop6(&self, a: &[u32; 4], m: &[u32; 4], dir: Dir) -> GResult<Pred> {
        match dir {
            Dir::Src | Dir::Dst => {
                let off = if dir == Dir::Src { 8 } else { 24 };
                let mut b1 = self.mcmp(Rel::LinkPl, off + 12, 4, a[3], m[3])?;
                for i in (0..3).rev() {
                    b1 = Pred::and(
                        self.mcmp(Rel::LinkPl, off + 4 * i as u32, 4, a[i], m[i])?,
                        b1,
                    );
                }
                Ok(Pred::and(self.linktype(ETH_IPV6)?, b1))
            }
            Dir::And => Ok(Pred::and(
                self.hostop6(a, m, Dir::Src)?,
                self.hostop6(a, m, Dir::Dst)?,
            )),
            Dir::Default | Dir::Or => Ok(Pred::or(
                self.hostop6(a, m, Dir::Src)?,
                self.hostop6(a, m, Dir::Dst)?,
            )),
            Dir::Undef => Err("syntax error".into()),
        }
    }

    pub fn host6(
        &self,
        a: &[u32; 4],
        m: &[u32; 4],
        p: Proto,
        dir: Dir,
        net: bool,
    ) -> GResult<Pred> {
        let typ = if net { "net" } else { "host" };
        match p {
            Proto::Default | Proto::Ipv6 => self.hostop6(a, m, dir),
            Proto::Link => Err(format!("link-layer modifier applied to ip6 {typ}")),
            other => Err(format!("'{}' modifier applied to ip6 {typ}", other.name())),
        }
    }

    fn dnhostop(&self, addr: u32, dir: Dir) -> GResult<Pred> {
        let (sh, lh) = match dir {
            Dir::Dst => (1, 7),
            Dir::Src => (3, 15),
            Dir::And | Dir::Default | Dir::Or => {
                // libpcap ORs the two directions for `src and dst` too.
                return Ok(Pred::or(
                    self.dnhostop(addr, Dir::Src)?,
                    self.dnhostop(addr, Dir::Dst)?,
                ));
            }
            Dir::Undef => return Err("syntax error".into()),
        };
        let a = (addr as u16).swap_bytes() as u32;
        let b0 = self.linktype(ETH_DN)?;
        // Long header with padding.
        let mut b1 = Pred::and(
            self.mcmp(Rel::LinkPl, 2, 2, 0x8106, 0xff07)?,
            self.cmp(Rel::LinkPl, 2 + 1 + lh, 2, a)?,
        );
        // Long header without padding.
        b1 = Pred::or(
            Pred::and(
                self.mcmp(Rel::LinkPl, 2, 1, 0x06, 0x07)?,
                self.cmp(Rel::LinkPl, 2 + lh, 2, a)?,
            ),
            b1,
        );
        // Short header with padding.
        b1 = Pred::or(
            Pred::and(
                self.mcmp(Rel::LinkPl, 2, 2, 0x8102, 0xff07)?,
                self.cmp(Rel::LinkPl, 2 + 1 + sh, 2, a)?,
            ),
            b1,
        );
        // Short header without padding.
        b1 = Pred::or(
            Pred::and(
                self.mcmp(Rel::LinkPl, 2, 1, 0x02, 0x07)?,
                self.cmp(Rel::LinkPl, 2 + sh, 2, a)?,
            ),
            b1,
        );
        Ok(Pred::and(b0, b1))
    }

    pub fn ehost(&self, mac: [u8; 6], dir: Dir) -> GResult<Pred> {
        if self.link != Link::Ether {
            return Err("Ethernet addresses are supported only on Ethernet".into());
        }
        match dir {
            Dir::Src => self.bcmp(Rel::LinkHdr, 6, &mac),
            Dir::Dst => self.bcmp(Rel::LinkHdr, 0, &mac),
            Dir::And => Ok(Pred::and(
                self.ehost(mac, Dir::Src)?,
                self.ehost(mac, Dir::Dst)?,
            )),
            Dir::Default | Dir::Or => Ok(Pred::or(
                self.ehost(mac, Dir::Src)?,
                self.ehost(mac, Dir::Dst)?,
            )),
            Dir::Undef => Err("syntax error".into()),
        }
    }

    // ---- ports ----

    fn portop(&self, port: u32, protos: &[u32], dir: Dir, range: Option<u32>) -> GResult<Pred> {
        let atom = |off: u32| -> GResult<Pred> {
            match range {
                None => self.cmp(Rel::TranV4, off, 2, port),
                Some(hi) => Ok(Pred::and(
                    self.cmp_op(CmpOp::Ge, Rel::TranV4, off, 2, port)?,
                    Pred::not(self.cmp_op(CmpOp::Gt, Rel::TranV4, off, 2, hi)?),
                )),
            }
        };
        // One protocol byte can match only one of the protocols: test them together.
        let mut any = Pred::False;
        for p in protos {
            any = Pred::or(any, self.cmp(Rel::LinkPl, 9, 1, *p)?);
        }
        let b0 = Pred::and(any, self.ipfrag()?);
        let b1 = match dir {
            Dir::Src => atom(0)?,
            Dir::Dst => atom(2)?,
            Dir::And => Pred::and(atom(0)?, atom(2)?),
            Dir::Default | Dir::Or => Pred::or(atom(0)?, atom(2)?),
            Dir::Undef => return Err("syntax error".into()),
        };
        Ok(Pred::and(b0, b1))
    }

    /// [`Self::portop`] for IPv6, kept beside it line for line as libpcap keeps `gen_portop6` beside
    /// `gen_portop` (the duplicates tool pairs them): IPv6 has no fragment check here and its protocol is at 6.
    fn portop6(&self, port: u32, protos: &[u32], dir: Dir, range: Option<u32>) -> GResult<Pred> {
        let atom = |off: u32| -> GResult<Pred> {
            match range {
                None => self.cmp(Rel::TranV6, off, 2, port),
                Some(hi) => Ok(Pred::and(
                    self.cmp_op(CmpOp::Ge, Rel::TranV6, off, 2, port)?,
                    Pred::not(self.cmp_op(CmpOp::Gt, Rel::TranV6, off, 2, hi)?),
                )),
            }
        };
        let mut b0 = Pred::False;
        for p in protos {
            b0 = Pred::or(b0, self.cmp(Rel::LinkPl, 6, 1, *p)?);
        }
        let b1 = match dir {
            Dir::Src => atom(0)?,
            Dir::Dst => atom(2)?,
            Dir::And => Pred::and(atom(0)?, atom(2)?),
            Dir::Default | Dir::Or => Pred::or(atom(0)?, atom(2)?),
            Dir::Undef => return Err("syntax error".into()),
        };
        Ok(Pred::and(b0, b1))
    }

    /// `port`/`portrange` for both IP versions. `ip_proto` None means tcp, udp or sctp.
    pub fn port(&self, lo: u32, hi: Option<u32>, ip_proto: Option<u32>, dir: Dir) -> GResult<Pred> {
        let (lo, hi) = match hi {
            Some(h) if h < lo => (h, Some(lo)),
            Some(h) if h == lo => (lo, None),
            h => (lo, h),
        };
        let v6 = self.port_v6(lo, hi, ip_proto, dir)?;
        let v4 = self.port_v4(lo, hi, ip_proto, dir)?;
        Ok(Pred::or(v6, v4))
    }

    fn protos(ip_proto: Option<u32>) -> Vec<u32> {
        match ip_proto {
            Some(p) => vec![p],
            None => vec![132, 6, 17],
        }
    }

    fn port_v4(&self, lo: u32, hi: Option<u32>, ip_proto: Option<u32>, dir: Dir) -> GResult<Pred> {
        let b4 = self.portop(lo, &Self::protos(ip_proto), dir, hi)?;
        Ok(Pred::and(self.linktype(ETH_IP)?, b4))
    }

    fn port_v6(&self, lo: u32, hi: Option<u32>, ip_proto: Option<u32>, dir: Dir) -> GResult<Pred> {
        let b6 = self.portop6(lo, &Self::protos(ip_proto), dir, hi)?;
        Ok(Pred::and(self.linktype(ETH_IPV6)?, b6))
    }

    /// `geneve [vni]`: UDP port 6081, then the inner frame's offsets, which depend on the
    /// Geneve option length and protocol, are computed at run time into scratch slots.
    pub fn geneve(&mut self, vni: Option<u32>) -> GResult<Pred> {
        if let Some(v) = vni
            && v > 0xffffff
        {
            return Err(format!("Geneve VNI {v} greater than maximum 16777215"));
        }
        if self.mem_slots + 4 > crate::codegen::MEM_SLOTS {
            return Err("too many 'geneve' in one expression".into());
        }
        let slot = |i: u8| self.mem_slots + i;
        let (sa, slt, shdr, spl) = (slot(0), slot(1), slot(2), slot(3));
        let check = |v6: bool| -> GResult<Pred> {
            let rel = if v6 { Rel::TranV6 } else { Rel::TranV4 };
            let port = if v6 {
                self.port_v6(6081, None, Some(17), Dir::Dst)?
            } else {
                self.port_v4(6081, None, Some(17), Dir::Dst)?
            };
            let mut b = Pred::and(port, self.mcmp(rel, 8, 1, 0, 0xc0)?);
            if let Some(v) = vni {
                b = Pred::and(b, self.mcmp(rel, 12, 4, v << 8, 0xffff_ff00)?);
            }
            Ok(b)
        };
        let a6 = match &self.var_linkpl {
            None => Val::K(40),
            Some(v) => Val::alu(AluOp::Add, v.clone(), Val::K(40)),
        };
        let g4 = Pred::and(check(false)?, Pred::Store(sa, self.ihl()));
        let g6 = Pred::and(check(true)?, Pred::Store(sa, a6));
        let b = Pred::or(g4, g6);
        let g = Val::alu(
            AluOp::Add,
            Val::Mem(sa),
            Val::K(self.off_linkpl + self.off_nl + 8),
        );
        let gload = |off: u32, size: u8| Val::Load {
            base: Some(Box::new(g.clone())),
            off,
            size,
        };
        let inner = Val::alu(
            AluOp::Add,
            Val::alu(
                AluOp::Add,
                Val::alu(
                    AluOp::Mul,
                    Val::alu(AluOp::And, gload(0, 1), Val::K(0x3f)),
                    Val::K(4),
                ),
                Val::K(8),
            ),
            g.clone(),
        );
        let hdr_plus = |k: u32| Val::alu(AluOp::Add, Val::Mem(shdr), Val::K(k));
        let teb = Pred::and(
            Pred::cmp(CmpOp::Eq, gload(2, 2), 0x6558),
            Pred::and(
                Pred::Store(slt, hdr_plus(12)),
                Pred::Store(spl, hdr_plus(14)),
            ),
        );
        let offsets = Pred::and(
            Pred::Store(slt, Val::alu(AluOp::Add, g.clone(), Val::K(2))),
            Pred::and(
                Pred::Store(shdr, inner),
                Pred::or(teb, Pred::Store(spl, Val::Mem(shdr))),
            ),
        );
        self.mem_slots += 4;
        self.link = Link::Ether;
        self.off_linktype = Some(0);
        self.var_linktype = Some(Val::Mem(slt));
        self.off_linkhdr = 0;
        self.var_linkhdr = Some(Val::Mem(shdr));
        self.off_linkpl = 0;
        self.var_linkpl = Some(Val::Mem(spl));
        self.off_nl = 0;
        self.off_nl_nosnap = 0;
        Ok(Pred::and(b, offsets))
    }

    // ---- link-level extras ----

    pub fn vlan(&mut self, id: Option<u32>) -> GResult<Pred> {
        if let Some(v) = id
            && v > 4095
        {
            return Err(format!("VLAN tag {v} greater than maximum 4095"));
        }
        if self.link != Link::Ether {
            return Err(match self.link {
                Link::Ppp => "'vlan' not supported on DLT_PPP".into(),
                _ => "'vlan' not supported on raw IP".into(),
            });
        }
        if self.label_stack_depth > 0 {
            return Err("'vlan' not supported after 'mpls'".into());
        }
        let t = |v| self.cmp(Rel::LinkType, 0, 2, v);
        let mut b = Pred::or(Pred::or(t(0x8100)?, t(0x88a8)?), t(0x9100)?);
        if let Some(v) = id {
            b = Pred::and(b, self.mcmp(Rel::LinkPl, 0, 2, v, 0x0fff)?);
        }
        self.off_linkpl += 4;
        if let Some(t) = self.off_linktype.as_mut() {
            *t += 4;
        }
        self.vlan_stack_depth += 1;
        Ok(b)
    }

    pub fn mpls(&mut self, label: Option<u32>) -> GResult<Pred> {
        if let Some(l) = label
            && l > 0xfffff
        {
            return Err(format!("MPLS label {l} greater than maximum 1048575"));
        }
        let mut b = if self.label_stack_depth > 0 {
            self.mcmp(Rel::PrevMpls, 2, 1, 0, 0x01)?
        } else {
            match self.link {
                Link::Ether => self.linktype(ETH_MPLS)?,
                Link::Ppp => self.linktype(PPP_MPLS_UCAST)?,
                Link::Raw => return Err("'mpls' not supported on raw IP".into()),
            }
        };
        if let Some(l) = label {
            b = Pred::and(b, self.mcmp(Rel::LinkPl, 0, 4, l << 12, 0xfffff000)?);
        }
        self.off_nl_nosnap += 4;
        self.off_nl += 4;
        self.label_stack_depth += 1;
        Ok(b)
    }

    pub fn pppoed(&self) -> GResult<Pred> {
        self.linktype(ETH_PPPOED)
    }

    pub fn pppoes(&mut self, sess: Option<u32>) -> GResult<Pred> {
        if let Some(s) = sess
            && s > 0xffff
        {
            return Err(format!(
                "PPPoE session number {s} greater than maximum 65535"
            ));
        }
        if self.link == Link::Raw {
            return Err("'pppoes' not supported on raw IP".into());
        }
        let mut b = self.linktype(ETH_PPPOES)?;
        if let Some(s) = sess {
            b = Pred::and(b, self.mcmp(Rel::LinkPl, 0, 4, s, 0x0000_ffff)?);
        }
        self.link = Link::Ppp;
        self.off_linktype = Some(self.off_linkpl + 6);
        self.var_linktype = self.var_linkpl.clone();
        self.off_linkpl += 8;
        self.off_nl = 0;
        self.off_nl_nosnap = 0;
        Ok(b)
    }

    pub fn llc(&self, kind: Option<&str>) -> GResult<Pred> {
        if self.link != Link::Ether {
            return Err("'llc' not supported on this link type".into());
        }
        let b0 = Pred::and(
            Pred::not(self.cmp_op(CmpOp::Gt, Rel::LinkType, 0, 2, ETHERMTU)?),
            Pred::not(self.cmp(Rel::Llc, 0, 2, 0xffff)?),
        );
        let Some(kind) = kind else { return Ok(b0) };
        let b1 = match kind.to_ascii_lowercase().as_str() {
            "i" => Pred::not(self.cmp_op(CmpOp::Set, Rel::Llc, 2, 1, 0x01)?),
            "s" => self.mcmp(Rel::Llc, 2, 1, 0x01, 0x03)?,
            "u" => self.mcmp(Rel::Llc, 2, 1, 0x03, 0x03)?,
            "rr" => self.mcmp(Rel::Llc, 2, 1, 0x01, 0x0f)?,
            "rnr" => self.mcmp(Rel::Llc, 2, 1, 0x05, 0x0f)?,
            "rej" => self.mcmp(Rel::Llc, 2, 1, 0x09, 0x0f)?,
            "ui" => self.mcmp(Rel::Llc, 2, 1, 0x03, 0xef)?,
            "ua" => self.mcmp(Rel::Llc, 2, 1, 0x63, 0xef)?,
            "disc" => self.mcmp(Rel::Llc, 2, 1, 0x43, 0xef)?,
            "dm" => self.mcmp(Rel::Llc, 2, 1, 0x0f, 0xef)?,
            "sabme" => self.mcmp(Rel::Llc, 2, 1, 0x6f, 0xef)?,
            "test" => self.mcmp(Rel::Llc, 2, 1, 0xe3, 0xef)?,
            "xid" => self.mcmp(Rel::Llc, 2, 1, 0xaf, 0xef)?,
            "frmr" => self.mcmp(Rel::Llc, 2, 1, 0x87, 0xef)?,
            other => return Err(format!("unknown LLC type name '{other}'")),
        };
        Ok(Pred::and(b0, b1))
    }

    pub fn broadcast(&self, p: Proto) -> GResult<Pred> {
        match p {
            Proto::Default | Proto::Link => {
                if self.link != Link::Ether {
                    return Err("not a broadcast link".into());
                }
                self.bcmp(Rel::LinkHdr, 0, &[0xff; 6])
            }
            Proto::Ip => {
                let Some(netmask) = self.netmask else {
                    return Err(
                        "netmask not known, so 'ip broadcast' not supported (a netmask is \
                        known only when reading a capture, where it is 0; 'ip dst 255.255.255.255' \
                        matches the limited broadcast)"
                            .into(),
                    );
                };
                // The host part all zeros or all ones, as libpcap's gen_broadcast.
                let host = !netmask;
                Ok(Pred::and(
                    self.linktype(ETH_IP)?,
                    Pred::or(
                        self.mcmp(Rel::LinkPl, 16, 4, 0, host)?,
                        self.mcmp(Rel::LinkPl, 16, 4, host, host)?,
                    ),
                ))
            }
            _ => Err("only link-layer/IP broadcast filters supported".into()),
        }
    }

    pub fn multicast(&self, p: Proto) -> GResult<Pred> {
        match p {
            Proto::Default | Proto::Link => {
                if self.link != Link::Ether {
                    return Err("not a broadcast link".into());
                }
                self.cmp_op(CmpOp::Set, Rel::LinkHdr, 0, 1, 1)
            }
            Proto::Ip => Ok(Pred::and(
                self.linktype(ETH_IP)?,
                self.cmp_op(CmpOp::Ge, Rel::LinkPl, 16, 1, 224)?,
            )),
            Proto::Ipv6 => Ok(Pred::and(
                self.linktype(ETH_IPV6)?,
                self.cmp(Rel::LinkPl, 24, 1, 255)?,
            )),
            _ => Err("only link-layer/IP/IPv6 multicast filters supported".into()),
        }
    }

    pub fn byteop(&self, op: &str, idx: u32, val: u32) -> GResult<Pred> {
        let ld = self.load(Rel::LinkHdr, idx, 1)?;
        Ok(match op {
            "=" => Pred::cmp(CmpOp::Eq, ld, val),
            "<" => Pred::not(Pred::cmp(CmpOp::Ge, ld, val)),
            ">" => Pred::cmp(CmpOp::Gt, ld, val),
            "|" => Pred::not(Pred::cmp(
                CmpOp::Eq,
                Val::alu(AluOp::Or, ld, Val::K(val)),
                0,
            )),
            "&" => Pred::not(Pred::cmp(
                CmpOp::Eq,
                Val::alu(AluOp::And, ld, Val::K(val)),
                0,
            )),
            _ => return Err("syntax error".into()),
        })
    }

    pub fn protochain(&self, v: u32, p: Proto) -> GResult<Pred> {
        if self.var_linkpl.is_some() {
            return Err("'protochain' not supported with variable length headers".into());
        }
        let nl = self.off_linkpl + self.off_nl;
        let chain = |v6| {
            Pred::ProtoChain(ProtoChain {
                nl,
                v6,
                proto: v as u8,
            })
        };
        match p {
            Proto::Default => Ok(Pred::or(
                Pred::and(self.linktype(ETH_IP)?, chain(false)),
                Pred::and(self.linktype(ETH_IPV6)?, chain(true)),
            )),
            Proto::Ip => Ok(Pred::and(self.linktype(ETH_IP)?, chain(false))),
            Proto::Ipv6 => Ok(Pred::and(self.linktype(ETH_IPV6)?, chain(true))),
            _ => Err("bad protocol applied for 'protochain'".into()),
        }
    }

    // ---- arithmetic ----

    /// `proto[idx:size]`: the value and the protocol checks that must hold first.
    pub fn index_load(
        &self,
        p: Proto,
        idx: Val,
        size: u32,
        guards: Vec<Pred>,
    ) -> GResult<(Val, Vec<Pred>)> {
        if !matches!(size, 1 | 2 | 4) {
            return Err("data size must be 1, 2, or 4".into());
        }
        let size = size as u8;
        let var = |v: &Option<Val>| v.clone();
        let at = |var: Option<Val>, base: u32, idx: Val| -> Val {
            match (var, idx) {
                (None, Val::K(k)) => Val::load(base.saturating_add(k), size),
                (Some(v), Val::K(k)) => Val::Load {
                    base: Some(Box::new(v)),
                    off: base.saturating_add(k),
                    size,
                },
                (None, idx) => Val::Load {
                    base: Some(Box::new(idx)),
                    off: base,
                    size,
                },
                (Some(v), idx) => Val::Load {
                    base: Some(Box::new(Val::alu(AluOp::Add, v, idx))),
                    off: base,
                    size,
                },
            }
        };
        use Proto::*;
        let mut g = guards;
        let v = match p {
            Link => at(var(&self.var_linkhdr), self.off_linkhdr, idx),
            Ip | Arp | Rarp | Atalk | Decnet | Sca | Lat | Moprc | Mopdl | Ipv6 => {
                g.push(self.proto_abbrev(p)?);
                at(var(&self.var_linkpl), self.off_linkpl + self.off_nl, idx)
            }
            Sctp | Tcp | Udp | Icmp | Igmp | Igrp | Pim | Vrrp | Carp => {
                let mut all = vec![self.linktype(ETH_IP)?];
                all.append(&mut g);
                all.push(self.proto_abbrev(p)?);
                all.push(self.ipfrag()?);
                g = all;
                let base = match idx {
                    Val::K(0) => self.ihl(),
                    idx => Val::alu(AluOp::Add, self.ihl(), idx),
                };
                Val::Load {
                    base: Some(Box::new(base)),
                    off: self.off_linkpl + self.off_nl,
                    size,
                }
            }
            Icmpv6 => {
                g.push(self.proto_abbrev(Ipv6)?);
                g.push(self.cmp(Rel::LinkPl, 6, 1, 58)?);
                at(
                    var(&self.var_linkpl),
                    self.off_linkpl + self.off_nl + 40,
                    idx,
                )
            }
            other => {
                return Err(format!(
                    "'{}' does not support the index operation",
                    other.name()
                ));
            }
        };
        Ok((v, g))
    }

    pub fn len_cmp(&self, greater: bool, n: u32) -> Pred {
        let b = Pred::cmp(CmpOp::Ge, Val::Len, n);
        if greater {
            b
        } else {
            Pred::not(Pred::cmp(CmpOp::Gt, Val::Len, n))
        }
    }
}

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
