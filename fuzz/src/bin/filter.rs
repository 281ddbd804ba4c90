//! The filter compiler, end to end: lexer, parser, semantics, code generator, disassembler, and the
//! interpreter on what was compiled. Input: an expression, then (after a NUL byte) a packet.
//! Findings: a panic anywhere; a compiled program that faults (out-of-bounds load, bad jump) on any packet; an
//! error that points outside the expression or echoes a control character.

use pcap_filter::{Options, compile_with, disassemble, interpret, interpret_with_len};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let (expr, packet) = match data.iter().position(|&b| b == 0) {
            Some(i) => (&data[..i], &data[i + 1..]),
            None => (data, &[][..]),
        };
        let expr = String::from_utf8_lossy(expr);
        // A capture's netmask (0) too, where it changes the meaning.
        let netmasks: &[Option<u32>] = if expr.contains("broadcast") {
            &[None, Some(0), Some(0xffff_ff00)]
        } else {
            &[None]
        };
        for &netmask in netmasks {
            match compile_with(&expr, &Options { netmask }) {
                Err(e) => {
                    assert!(e.column <= expr.chars().count() + 1, "{e}");
                    let shown = e.to_string();
                    assert!(!shown.chars().any(char::is_control), "{shown:?}");
                    if let Some(x) = e.excerpt(&expr) {
                        assert_eq!(x.lines().count(), 2, "{x:?}");
                    }
                }
                Ok(p) => {
                    assert!(!disassemble(&p).is_empty());
                    let back: Vec<_> = p
                        .to_bytes()
                        .chunks(8)
                        .map(|c| pcap_filter::Insn::from_bytes(c.try_into().unwrap()))
                        .collect();
                    assert_eq!(back, p.insns);
                    for l3 in [false, true] {
                        interpret(&p, packet, l3).expect("compiled program faulted");
                        // A capture cut short of the wire length.
                        let wire = packet.len() as u32 + 1000;
                        interpret_with_len(&p, packet, wire, l3).expect("compiled program faulted");
                    }
                }
            }
        }
    });
}
