//! A pure-Rust tcpdump filter compiler that emits eBPF directly (no libpcap), plus a
//! disassembler and an interpreter that runs exactly the instructions that get loaded.
//!
//! ```
//! let prog = pcap_filter::compile("host 10.244.1.5 and tcp port 80").unwrap();
//! assert!(prog.snaplen <= 2048);
//! let _bytes = prog.to_bytes(); // raw little-endian eBPF for the splice
//! ```
//!
//! The generated function follows `docs/filter-abi.md`: r1 = buf (2048-byte map value),
//! r2 = caplen, r3 = wirelen, r4 = l3 (0: Ethernet header first, 1: IP header first);
//! it returns non-zero on a match.

pub mod capture;
mod cfg;
pub mod cli;
pub(crate) mod codegen;
mod disasm;
mod error;
mod facts;
pub mod insn;
mod interp;
mod ir;
mod lexer;
mod opt;
#[cfg(test)]
mod opt_tests;
mod parser;
mod protocols;
mod semantics;
mod services;

pub use codegen::FILTER_BUF_SIZE;
pub use error::FilterError;
pub use insn::Insn;
pub use interp::InterpError;

/// A compiled filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub insns: Vec<Insn>,
    /// The highest packet byte any load can reach, capped at [`FILTER_BUF_SIZE`].
    pub snaplen: u32,
}

impl Program {
    /// Raw little-endian 8-byte instructions, ready to splice into `.text.pcap_filter`.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.insns.iter().flat_map(|i| i.to_bytes()).collect()
    }
    pub fn len(&self) -> usize {
        self.insns.len()
    }
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }
}

/// Parentheses and brackets nest at most this deep (the parser and the generator recurse on
/// them); libpcap's parser stack allows deeper nesting, real filters never get near.
const MAX_NESTING: usize = 64;

/// What the meaning of an expression depends on besides its text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// The netmask `ip broadcast` needs; `None` (unknown) refuses it, as libpcap does. `tcpdump -r` passes 0.
    pub netmask: Option<u32>,
}

/// Compile a pcap-filter(7) expression, with no netmask known (for packets of every interface).
pub fn compile(expr: &str) -> Result<Program, FilterError> {
    compile_with(expr, &Options::default())
}

/// Compile a pcap-filter(7) expression with `opts`.
pub fn compile_with(expr: &str, opts: &Options) -> Result<Program, FilterError> {
    let toks = lexer::tokenize(expr)?;
    check_nesting(&toks)?;
    let l2 = parser::Parser::new(&toks, false)
        .netmask(opts.netmask)
        .parse()?;
    // An expression with no meaning on raw IP (`arp`, `ether host`) matches nothing there.
    let l3 = parser::Parser::new(&toks, true)
        .netmask(opts.netmask)
        .parse()
        .unwrap_or(ir::Pred::False);
    build(&l2, &l3)
}

fn check_nesting(toks: &[lexer::Token]) -> Result<(), FilterError> {
    let mut depth = 0usize;
    for t in toks {
        match t.tok {
            lexer::Tok::Op("(") | lexer::Tok::Op("[") => depth += 1,
            lexer::Tok::Op(")") | lexer::Tok::Op("]") => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_NESTING {
            return Err(FilterError::new(
                format!("parentheses nested more than {MAX_NESTING} deep"),
                t.col,
            ));
        }
    }
    Ok(())
}

/// Both bodies in one graph, optimised, then generated twice: with the Ethernet body rebased
/// onto the IP header (so it shares code with the raw-IP body) and without; the smaller wins.
fn build(l2: &ir::Pred, l3: &ir::Pred) -> Result<Program, FilterError> {
    let mut best: Option<Program> = None;
    let mut err = None;
    for delta in [0, ETHER_HEADER] {
        let mut g = cfg::Lower::build(l2, l3, delta)?;
        opt::optimise(&mut g);
        opt::share_tails(&mut g);
        match codegen::generate(&g) {
            Ok((insns, snaplen)) if best.as_ref().is_none_or(|b| insns.len() < b.len()) => {
                best = Some(Program { insns, snaplen })
            }
            Ok(_) => {}
            Err(e) => err = Some(e),
        }
    }
    best.ok_or_else(|| err.expect("one variant failed"))
}

/// Where the IP header starts in an untagged Ethernet frame.
const ETHER_HEADER: i32 = 14;

/// One body alone (the other entry matches nothing): for size comparisons with libpcap.
#[doc(hidden)]
pub fn compile_one_body(expr: &str, l3: bool) -> Result<Program, FilterError> {
    let toks = lexer::tokenize(expr)?;
    check_nesting(&toks)?;
    let p = parser::Parser::new(&toks, l3).parse()?;
    if l3 {
        build(&ir::Pred::False, &p)
    } else {
        build(&p, &ir::Pred::False)
    }
}

/// A listing of the program, one instruction a line.
pub fn disassemble(p: &Program) -> String {
    disasm::disassemble(&p.insns)
}

/// A listing of any eBPF instruction sequence (also other compilers' output, e.g. `btf-expr`), in the
/// verifier's notation.
pub fn disassemble_insns(insns: &[Insn]) -> String {
    disasm::disassemble(insns)
}

/// Run the program as the kernel would on `packet` (captured from its Ethernet header, or
/// from its IP header when `l3`): the first 2048 bytes are copied into the buffer,
/// caplen = min(len, 2048), wirelen = the packet's length.
pub fn interpret(p: &Program, packet: &[u8], l3: bool) -> Result<u64, InterpError> {
    interp::run(&p.insns, packet, packet.len() as u32, l3)
}

/// Like [`interpret`], for a truncated capture whose original length was `wirelen`.
pub fn interpret_with_len(
    p: &Program,
    packet: &[u8],
    wirelen: u32,
    l3: bool,
) -> Result<u64, InterpError> {
    interp::run(&p.insns, packet, wirelen, l3)
}
