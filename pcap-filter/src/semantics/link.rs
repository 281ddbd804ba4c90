//! The link-level extras: `vlan`, `mpls`, `pppoed`/`pppoes` (which move the offsets that follow), `llc`,
//! broadcast and multicast, byte comparisons and `protochain`.

use super::*;
use crate::ir::{AluOp, CmpOp, Pred, ProtoChain, Val};

impl Gen {
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
}
