//! Arithmetic: `proto[idx:size]` loads and `len` comparisons.

use super::*;
use crate::ir::{CmpOp, Pred, Val};

impl Gen {
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
