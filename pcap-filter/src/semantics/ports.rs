//! `port`, `portrange` and `geneve`: the transport header after the IPv4 or IPv6 header.

use super::*;
use crate::ir::{CmpOp, Pred, Val};

impl Gen {
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
}
