//! The optimised program against the predicate's plain meaning: a direct evaluator of the IR
//! (left to right, a load past caplen or a division by zero rejects the packet) must agree with
//! the compiled program, run by the interpreter, on every packet where that evaluation does not
//! fault. Where it faults, libpcap's optimiser itself may drop the faulting load, so either
//! verdict is allowed there.

use proptest::prelude::*;

use crate::ir::{AluOp, CmpOp, Pred, ProtoChain, Val};

/// A load past caplen or a division by zero: the packet is rejected.
struct Fault;

struct Ctx<'a> {
    pkt: &'a [u8],
    wirelen: u32,
    mem: [u32; 16],
}

impl Ctx<'_> {
    fn byte(&self, at: u64) -> Result<u32, Fault> {
        let caplen = self.pkt.len().min(2048) as u64;
        if at >= caplen {
            return Err(Fault);
        }
        Ok(self.pkt[at as usize] as u32)
    }

    fn val(&mut self, v: &Val) -> Result<u32, Fault> {
        Ok(match v {
            Val::K(k) => *k,
            Val::Len => self.wirelen,
            Val::Mem(s) => self.mem[*s as usize],
            Val::Neg(a) => self.val(a)?.wrapping_neg(),
            Val::Load { base, off, size } => {
                let b = match base {
                    Some(b) => self.val(b)? as u64,
                    None => 0,
                };
                let at = b + *off as u64;
                let mut x = 0u32;
                for i in 0..*size as u64 {
                    x = (x << 8) | self.byte(at + i)?;
                }
                x
            }
            Val::Alu(op, a, b) => {
                let (a, b) = (self.val(a)?, self.val(b)?);
                match op {
                    AluOp::Add => a.wrapping_add(b),
                    AluOp::Sub => a.wrapping_sub(b),
                    AluOp::Mul => a.wrapping_mul(b),
                    AluOp::Div => a.checked_div(b).ok_or(Fault)?,
                    AluOp::Mod => a.checked_rem(b).ok_or(Fault)?,
                    AluOp::And => a & b,
                    AluOp::Or => a | b,
                    AluOp::Xor => a ^ b,
                    AluOp::Lsh => a.wrapping_shl(b & 31),
                    AluOp::Rsh => a.wrapping_shr(b & 31),
                }
            }
        })
    }

    fn chain(&mut self, pc: &ProtoChain) -> Result<bool, Fault> {
        let nl = pc.nl as u64;
        let (mut nh, mut off) = if pc.v6 {
            (self.byte(nl + 6)?, 40u64)
        } else {
            (self.byte(nl + 9)?, ((self.byte(nl)? & 0xf) << 2) as u64)
        };
        loop {
            if nh == pc.proto as u32 {
                return Ok(true);
            }
            let units = match nh {
                0 | 43 | 44 | 60 if pc.v6 => 3,
                51 => 2,
                _ => return Ok(false),
            };
            let len = self.byte(nl + off + 1)? as u64;
            nh = self.byte(nl + off)?;
            off += (len << units) + 8;
        }
    }

    fn pred(&mut self, p: &Pred) -> Result<bool, Fault> {
        Ok(match p {
            Pred::True => true,
            Pred::False => false,
            Pred::Not(x) => !self.pred(x)?,
            Pred::And(v) => {
                for x in v {
                    if !self.pred(x)? {
                        return Ok(false);
                    }
                }
                true
            }
            Pred::Or(v) => {
                for x in v {
                    if self.pred(x)? {
                        return Ok(true);
                    }
                }
                false
            }
            Pred::Cmp(op, a, b) => {
                let (a, b) = (self.val(a)?, self.val(b)?);
                match op {
                    CmpOp::Eq => a == b,
                    CmpOp::Gt => a > b,
                    CmpOp::Ge => a >= b,
                    CmpOp::Set => a & b != 0,
                }
            }
            Pred::Store(s, v) => {
                self.mem[*s as usize] = self.val(v)?;
                true
            }
            Pred::ProtoChain(pc) => self.chain(pc)?,
        })
    }
}

/// The plain meaning of `expr` on `pkt` (None: the evaluation faulted).
fn reference(expr: &str, pkt: &[u8], l3: bool) -> Option<bool> {
    let toks = crate::lexer::tokenize(expr).ok()?;
    let p = crate::parser::Parser::new(&toks, l3)
        .parse()
        .unwrap_or(Pred::False);
    let mut cx = Ctx {
        pkt,
        wirelen: pkt.len() as u32,
        mem: [0; 16],
    };
    cx.pred(&p).ok()
}

const PRIMITIVES: &[&str] = &[
    "ip",
    "ip6",
    "arp",
    "tcp",
    "udp",
    "icmp",
    "icmp6",
    "sctp",
    "host 10.0.0.1",
    "src host 10.0.0.2",
    "dst net 10.0.0.0/8",
    "net 192.168.0.0/16",
    "port 80",
    "tcp port 53",
    "udp dst port 53",
    "src port 1000",
    "portrange 1-1023",
    "tcp portrange 1000-2000",
    "ip6 host ::1",
    "ip6 src net 2001:db8::/32",
    "ether host 0:0:0:0:0:1",
    "ether src 2:0:0:0:0:2",
    "ether broadcast",
    "ether multicast",
    "len > 60",
    "less 100",
    "greater 80",
    "tcp[13] & 2 != 0",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
    "ip[9] = 6",
    "ip[6:2] & 0x1fff = 0",
    "ip[0] & 0xf > 5",
    "ip[2:2] > 60",
    "udp[2:2] > 1000",
    "udp[4:2] - 8 = 0",
    "tcp[12] >> 4 > 5",
    "ip6[6] == 17",
    "ether[12:2] > 1500",
    "vlan",
    "vlan 10",
    "mpls",
    "pppoes",
    "ip proto 51",
    "ip6 protochain 6",
    "protochain 17",
    "ip multicast",
    "icmp[icmptype] = icmp-echo",
    "ip[1] / ip[2] > 1",
    "ip[3] % (ip[1] & 3) = 1",
    "stp",
    "llc",
    "iso",
    "decnet",
    "geneve",
    "geneve and ip",
    // One value read by two operations of one expression (the constant's register is shared).
    "ip[3 + -3] = 0x45",
    "ip[5 & -5] = 0",
    "ip[1] - -ip[1] > 2",
];

fn expr() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(PRIMITIVES).prop_map(String::from);
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            inner.prop_map(|a| format!("not {a}")),
        ]
    })
}

/// An Ethernet frame with plausible headers (so that most tests look at real fields), cut
/// to a random length.
fn packet() -> impl Strategy<Value = (Vec<u8>, bool)> {
    (
        prop::sample::select(vec![
            0x0800u16, 0x86dd, 0x0806, 0x8100, 0x8847, 0x8864, 0x05dc,
        ]),
        prop::sample::select(vec![6u8, 17, 1, 132, 51, 58, 0, 44]),
        prop::sample::select(vec![53u16, 80, 22, 1000, 6081, 1500, 0]),
        prop::sample::select(vec![53u16, 80, 443, 2000, 6081, 0]),
        prop::sample::select(vec![0x45u8, 0x46, 0x60, 0x4f]),
        prop::sample::select(vec![
            [10u8, 0, 0, 1],
            [10, 0, 0, 2],
            [192, 168, 1, 1],
            [1, 2, 3, 4],
        ]),
        prop::collection::vec(any::<u8>(), 0..120),
        0usize..200,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(et, proto, sp, dp, vihl, addr, tail, cut, l3, mac1)| {
            let mut p = vec![0u8; 12];
            if mac1 {
                p[5] = 1;
            }
            p.extend(et.to_be_bytes());
            let ip = p.len();
            if et == 0x86dd {
                p.extend([0x60, 0, 0, 0, 0, 40, proto, 64]);
                p.extend([0u8; 15]);
                p.push(1);
                p.extend([0x20, 1, 0x0d, 0xb8]);
                p.extend([0u8; 12]);
            } else {
                p.extend([vihl, 0, 0, 60, 0, 0, 0, 0, 64, proto, 0, 0]);
                p.extend(addr);
                p.extend([10, 0, 0, 1]);
                p.resize(p.len() + ((vihl & 0xf) as usize * 4).saturating_sub(20), 0);
            }
            p.extend(sp.to_be_bytes());
            p.extend(dp.to_be_bytes());
            p.extend(tail);
            if l3 {
                p.drain(..ip);
            }
            p.truncate(cut.max(1));
            (p, l3)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn optimised_program_keeps_the_meaning(e in expr(), (pkt, l3) in packet()) {
        let Ok(prog) = crate::compile(&e) else { return Ok(()) };
        let got = crate::interpret(&prog, &pkt, l3).expect("interpreter fault") != 0;
        if let Some(want) = reference(&e, &pkt, l3) {
            prop_assert_eq!(got, want, "{} on {:02x?} (l3 {})", e, pkt, l3);
        }
    }
}

/// A value both operands of an operation read (`5 & -5`: the constant 5 in one register) is not
/// overwritten by the inner operation while the outer one still needs it. Found by the fuzzer: the
/// index became `-5 & -5`, past every buffer.
#[test]
fn a_value_two_operands_share_is_not_overwritten() {
    let mut pkt = vec![0u8; 12];
    pkt.extend([
        0x08, 0x00, 0x45, 0x10, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    for e in [
        "ip[3 + -3] = 0x45",
        "ip[2 - -2] = 0",
        "ip[5 & -5] = 0x10",
        "ip[1] - -ip[1] = 0x20",
        "ether[5 & -5 - -0 : 1] = 0",
    ] {
        let prog = crate::compile(e).expect(e);
        let got = crate::interpret(&prog, &pkt, false).expect(e) != 0;
        assert_eq!(Some(got), reference(e, &pkt, false), "{e}");
        assert!(got, "{e}");
    }
    let prog = crate::compile("slip[5& -5- -0:1] =--- -0").unwrap();
    crate::interpret(&prog, b"x1", false).expect("the fuzzer's input");
}

/// Long `or` chains, which libpcap accepts with no limit, compile (no token cap) in bounded
/// time and keep their meaning.
#[test]
fn long_host_lists_compile() {
    for n in [500, 2000] {
        let e = (0..n)
            .map(|i| format!("host 10.0.{}.{}", i / 250, i % 250 + 1))
            .collect::<Vec<_>>()
            .join(" or ");
        let prog = crate::compile(&e).expect("long host list");
        let mut pkt = vec![0u8; 12];
        pkt.extend([0x08, 0x00, 0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0]);
        for (src, want) in [([10, 0, 1, 7], n > 257), ([10, 0, 9, 7], false)] {
            let mut p = pkt.clone();
            p.extend(src);
            p.extend([192, 168, 0, 1]);
            let got = crate::interpret(&prog, &p, false).unwrap() != 0;
            assert_eq!(got, want, "{n} hosts, source {src:?}");
        }
    }
}

#[test]
fn deep_not_chains_are_bounded() {
    let e = format!("{}tcp", "not ".repeat(100_000));
    let prog = crate::compile(&e).expect("even number of nots");
    let tcp = crate::compile("tcp").unwrap();
    assert_eq!(prog.insns, tcp.insns);
}
