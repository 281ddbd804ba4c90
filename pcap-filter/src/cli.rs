//! The work behind `pwru filter --dump EXPR` and `pwru filter --read FILE EXPR`.

use std::path::Path;

use pcap_parser::pcapng::Block;
use pcap_parser::{Linktype, PcapBlockOwned, PcapError, create_reader};

use crate::{FilterError, Program, compile, disassemble, interpret_with_len};

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("filter: {0}")]
    Filter(#[from] FilterError),
    #[error("{path}: {msg}")]
    Capture { path: String, msg: String },
}

/// One captured packet.
#[derive(Debug, Clone)]
pub struct Packet {
    pub data: Vec<u8>,
    /// Length on the wire.
    pub wirelen: u32,
    /// The capture starts at the IP header (raw IP link types).
    pub l3: bool,
}

/// Link types whose packets start at the IP header: RAW (101, and 12/14 on some systems),
/// IPV4 (228) and IPV6 (229).
fn is_l3(lt: Linktype) -> Option<bool> {
    match lt.0 {
        1 => Some(false),
        12 | 14 | 101 | 228 | 229 => Some(true),
        _ => None,
    }
}

/// Read every packet of a pcap or pcapng file whose link type is Ethernet or raw IP.
pub fn read_capture(path: &Path) -> Result<Vec<Packet>, CliError> {
    let err = |msg: String| CliError::Capture {
        path: path.display().to_string(),
        msg,
    };
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let mut reader = create_reader(1 << 20, file)
        .map_err(|e| err(format!("not a pcap or pcapng file: {e:?}")))?;
    let mut out = Vec::new();
    let mut legacy_l3: Option<bool> = None;
    let mut ifaces: Vec<Option<bool>> = Vec::new();
    let unsupported =
        |lt: Linktype| err(format!("link type {} is neither Ethernet nor raw IP", lt.0));
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy_l3 = Some(is_l3(h.network).ok_or_else(|| unsupported(h.network))?);
                    }
                    PcapBlockOwned::Legacy(b) => {
                        let l3 = legacy_l3.ok_or_else(|| err("packet before header".into()))?;
                        let n = (b.caplen as usize).min(b.data.len());
                        out.push(Packet {
                            data: b.data[..n].to_vec(),
                            wirelen: b.origlen,
                            l3,
                        });
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => ifaces.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        ifaces.push(is_l3(idb.linktype))
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let l3 = ifaces
                            .get(epb.if_id as usize)
                            .copied()
                            .ok_or_else(|| {
                                err(format!("packet on unknown interface {}", epb.if_id))
                            })?
                            .ok_or_else(|| {
                                err("packet on an interface that is neither Ethernet nor raw IP"
                                    .into())
                            })?;
                        let n = (epb.caplen as usize).min(epb.data.len());
                        out.push(Packet {
                            data: epb.data[..n].to_vec(),
                            wirelen: epb.origlen,
                            l3,
                        });
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        let l3 = ifaces.first().copied().flatten().ok_or_else(|| {
                            err("simple packet without an Ethernet or raw IP interface".into())
                        })?;
                        let n = (spb.origlen as usize).min(spb.data.len());
                        out.push(Packet {
                            data: spb.data[..n].to_vec(),
                            wirelen: spb.origlen,
                            l3,
                        });
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                reader
                    .refill()
                    .map_err(|e| err(format!("read error: {e:?}")))?;
            }
            Err(e) => return Err(err(format!("malformed capture: {e:?}"))),
        }
    }
    Ok(out)
}

/// Text for `pwru filter --dump EXPR`.
pub fn dump(expr: &str) -> Result<String, CliError> {
    let p = compile(expr)?;
    Ok(format!(
        "; {} instructions, snaplen {}\n{}",
        p.insns.len(),
        p.snaplen,
        disassemble(&p)
    ))
}

/// 1-based numbers of the packets of `path` that match `prog`.
pub fn matching(prog: &Program, packets: &[Packet]) -> Result<Vec<usize>, CliError> {
    let mut out = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        let r =
            interpret_with_len(prog, &p.data, p.wirelen, p.l3).map_err(|e| CliError::Capture {
                path: format!("packet {}", i + 1),
                msg: format!("filter program fault: {e}"),
            })?;
        if r != 0 {
            out.push(i + 1);
        }
    }
    Ok(out)
}

/// Text for `pwru filter --read FILE EXPR`: matching packet numbers, one a line.
pub fn read(path: &Path, expr: &str) -> Result<String, CliError> {
    let prog = compile(expr)?;
    let packets = read_capture(path)?;
    let mut s = String::new();
    for n in matching(&prog, &packets)? {
        s.push_str(&format!("{n}\n"));
    }
    Ok(s)
}
