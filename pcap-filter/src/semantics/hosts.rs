//! `host`, `net`, `ether host`, DECnet addresses: comparisons of the addresses in a header.

use super::*;
use crate::ir::Pred;

impl Gen {
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
}
