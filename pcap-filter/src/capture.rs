//! Reading pcap and pcapng captures, a packet at a time, as libpcap reads them for `tcpdump -r`.
//!
//! Both byte orders, micro- and nanosecond pcap, pcapng with several sections and interfaces, and the link
//! types the compiler has code for (Ethernet and raw IP). Reads are bounded: a record or block may claim at most
//! what libpcap accepts (262144 captured bytes, 16 MiB blocks), so a damaged length never turns into a huge
//! allocation. Damage is reported with the packet number and byte offset where it starts, after every packet
//! before it has been handed out, as tcpdump prints every packet before the damage.
//!
//! Beyond what libpcap reads, the comments and custom options of each pcapng packet block are kept
//! ([`Capture::options`]), for readers of the metadata other tools store there (`pwru replay`). Damaged options
//! are ignored, as libpcap ignores options: they never make a capture unreadable.

use std::io::{self, Read};

/// The most a pcap record may capture (libpcap's `MAXIMUM_SNAPLEN`).
pub const MAX_CAPLEN: u32 = 262_144;
/// The largest pcapng block libpcap reads.
const MAX_BLOCK: u32 = 16 * 1024 * 1024;

/// One captured packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The captured bytes.
    pub data: Vec<u8>,
    /// Length on the wire.
    pub wirelen: u32,
    /// The capture starts at the IP header (raw IP link types).
    pub l3: bool,
}

/// An option of a pcapng packet block: a comment or a custom option (the others are not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacketOption {
    /// `opt_comment`, as UTF-8 (invalid bytes replaced).
    Comment(String),
    /// A custom option (codes 2988, 2989, 19372, 19373).
    Custom {
        /// The option code, which says whether the data is UTF-8 and whether editors may copy it.
        code: u16,
        /// The Private Enterprise Number of whoever defined it.
        pen: u32,
        /// The data after the PEN.
        data: Vec<u8>,
    },
}

/// Why a capture cannot be read (further).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The operating system refused a read.
    #[error("read error at byte {offset}: {source}")]
    Io {
        /// Where the read started.
        offset: u64,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// The file does not start like a pcap or pcapng file.
    #[error("not a pcap or pcapng file (it starts with {0})")]
    NotACapture(String),
    /// The file ends inside its header.
    #[error("truncated file header: {got} of its {want} bytes")]
    TruncatedHeader {
        /// Bytes the header needs.
        want: usize,
        /// Bytes the file has.
        got: usize,
    },
    /// The file ends inside a packet record or block.
    #[error(
        "truncated: packet {packet} (at byte {offset}) ends after {got} of its {want} bytes{}",
        read_before(*packet)
    )]
    Truncated {
        /// 1-based number of the cut packet.
        packet: u64,
        /// Where its record or block starts.
        offset: u64,
        /// Bytes it needs.
        want: u64,
        /// Bytes the file still has.
        got: u64,
    },
    /// A record or block that cannot be right.
    #[error("damaged at byte {offset}, where packet {packet} should start: {what}{}", read_before(*packet))]
    Damaged {
        /// 1-based number of the packet that would come next.
        packet: u64,
        /// Where the bad record or block starts.
        offset: u64,
        /// What is wrong with it.
        what: String,
    },
    /// A link type the filter compiler has no code for.
    #[error(
        "link type {0} ({name}) is not supported: pwru's filters run on Ethernet and raw IP packets",
        name = linktype_name(*.0)
    )]
    UnsupportedLink(u32),
}

fn read_before(packet: u64) -> String {
    match packet {
        0 | 1 => String::new(),
        2 => "; the packet before it was read".into(),
        n => format!("; the {} packets before it were read", n - 1),
    }
}

fn linktype_name(lt: u32) -> &'static str {
    match lt {
        0 => "NULL",
        1 => "ETHERNET",
        9 => "PPP",
        105 => "IEEE802_11",
        113 => "LINUX_SLL",
        127 => "IEEE802_11_RADIOTAP",
        276 => "LINUX_SLL2",
        _ => "unknown to pwru",
    }
}

/// Whether packets of link type `lt` start at the IP header; `None` for link types the compiler cannot filter.
/// Raw IP is 101 in files (LINKTYPE_RAW), 12 or 14 where a writer stored its DLT_RAW, 228/229 for IPv4/IPv6.
fn starts_at_ip(lt: u32) -> Option<bool> {
    match lt {
        1 => Some(false),
        12 | 14 | 101 | 228 | 229 => Some(true),
        _ => None,
    }
}

enum Format {
    Pcap {
        be: bool,
        /// Kuznetzov's modified pcap: 8 more bytes after each record header.
        extra: usize,
        l3: bool,
    },
    PcapNg {
        be: bool,
        /// Per interface of the current section: its link type.
        ifaces: Vec<u32>,
    },
}

/// A capture being read: an iterator over its packets that ends at the first damage.
pub struct Capture<R> {
    r: R,
    /// Bytes read so far.
    offset: u64,
    /// Packets handed out so far.
    packets: u64,
    format: Format,
    done: bool,
    /// The options of the packet block last handed out.
    options: Vec<PacketOption>,
}

fn u32_at(b: &[u8], off: usize, be: bool) -> u32 {
    let a = [b[off], b[off + 1], b[off + 2], b[off + 3]];
    if be {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

fn u16_at(b: &[u8], off: usize, be: bool) -> u16 {
    let a = [b[off], b[off + 1]];
    if be {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}

const PCAP_MAGIC_US: u32 = 0xa1b2_c3d4;
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
const PCAP_MAGIC_KUZNETZOV: u32 = 0xa1b2_cd34;
const NG_SHB: u32 = 0x0a0d_0d0a;
const NG_BYTE_ORDER: u32 = 0x1a2b_3c4d;
const NG_IDB: u32 = 1;
const NG_OPB: u32 = 2;
const NG_SPB: u32 = 3;
const NG_EPB: u32 = 6;

/// Fills `buf` as far as the reader goes; returns how much it got.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

impl<R: Read> Capture<R> {
    /// Reads the file header (pcap) or the first section header (pcapng).
    pub fn new(mut r: R) -> Result<Self, CaptureError> {
        let mut head = [0u8; 24];
        let io = |source| CaptureError::Io { offset: 0, source };
        let got = read_full(&mut r, &mut head[..4]).map_err(io)?;
        if got < 4 {
            return Err(CaptureError::TruncatedHeader { want: 4, got });
        }
        let magic_le = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let magic_be = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        if magic_le == NG_SHB {
            let mut c = Capture {
                r,
                offset: 0,
                packets: 0,
                format: Format::PcapNg {
                    be: false,
                    ifaces: Vec::new(),
                },
                done: false,
                options: Vec::new(),
            };
            c.section_header(NG_SHB).map_err(|e| match e {
                CaptureError::Truncated { want, got, .. } => CaptureError::TruncatedHeader {
                    want: want as usize,
                    got: got as usize,
                },
                e => e,
            })?;
            return Ok(c);
        }
        let (be, magic) =
            if [PCAP_MAGIC_US, PCAP_MAGIC_NS, PCAP_MAGIC_KUZNETZOV].contains(&magic_le) {
                (false, magic_le)
            } else if [PCAP_MAGIC_US, PCAP_MAGIC_NS, PCAP_MAGIC_KUZNETZOV].contains(&magic_be) {
                (true, magic_be)
            } else {
                let hex: Vec<String> = head[..4].iter().map(|b| format!("{b:02x}")).collect();
                return Err(CaptureError::NotACapture(hex.join(" ")));
            };
        let got = 4 + read_full(&mut r, &mut head[4..]).map_err(io)?;
        if got < 24 {
            return Err(CaptureError::TruncatedHeader { want: 24, got });
        }
        let major = u16_at(&head, 4, be);
        if major != 2 {
            return Err(CaptureError::Damaged {
                packet: 1,
                offset: 0,
                what: format!("pcap version {major} (only version 2 exists)"),
            });
        }
        // The top bits carry the FCS length (libpcap's LT_LINKTYPE).
        let lt = u32_at(&head, 20, be) & 0x03ff_ffff;
        let l3 = starts_at_ip(lt).ok_or(CaptureError::UnsupportedLink(lt))?;
        Ok(Capture {
            r,
            offset: 24,
            packets: 0,
            format: Format::Pcap {
                be,
                extra: if magic == PCAP_MAGIC_KUZNETZOV { 8 } else { 0 },
                l3,
            },
            done: false,
            options: Vec::new(),
        })
    }

    /// The comments and custom options of the packet last handed out (empty for pcap files and blocks without).
    pub fn options(&self) -> &[PacketOption] {
        &self.options
    }

    /// Reads `buf.len()` bytes of the packet or block that started at `start`.
    fn read_part(&mut self, buf: &mut [u8], start: u64, want: u64) -> Result<(), CaptureError> {
        let at = self.offset;
        let got = read_full(&mut self.r, buf)
            .map_err(|source| CaptureError::Io { offset: at, source })?;
        self.offset += got as u64;
        if got < buf.len() {
            return Err(CaptureError::Truncated {
                packet: self.packets + 1,
                offset: start,
                want,
                got: self.offset - start,
            });
        }
        Ok(())
    }

    fn damaged(&self, offset: u64, what: String) -> CaptureError {
        CaptureError::Damaged {
            packet: self.packets + 1,
            offset,
            what,
        }
    }

    fn next_pcap(
        &mut self,
        be: bool,
        extra: usize,
        l3: bool,
    ) -> Result<Option<Packet>, CaptureError> {
        let start = self.offset;
        let mut hdr = [0u8; 24];
        let hlen = 16 + extra;
        let at = self.offset;
        let got = read_full(&mut self.r, &mut hdr[..hlen])
            .map_err(|source| CaptureError::Io { offset: at, source })?;
        self.offset += got as u64;
        if got == 0 {
            return Ok(None);
        }
        if got < hlen {
            return Err(CaptureError::Truncated {
                packet: self.packets + 1,
                offset: start,
                want: hlen as u64,
                got: got as u64,
            });
        }
        let caplen = u32_at(&hdr, 8, be);
        let wirelen = u32_at(&hdr, 12, be);
        if caplen > MAX_CAPLEN {
            return Err(self.damaged(
                start,
                format!("a record of {caplen} captured bytes (at most {MAX_CAPLEN} exist)"),
            ));
        }
        let mut data = vec![0u8; caplen as usize];
        self.read_part(&mut data, start, (hlen as u64) + caplen as u64)?;
        Ok(Some(Packet { data, wirelen, l3 }))
    }

    /// Reads a section header block whose type word has been read; sets the byte order.
    fn section_header(&mut self, _ty: u32) -> Result<(), CaptureError> {
        let start = self.offset;
        self.offset = start + 4;
        let mut b = [0u8; 8];
        self.read_part(&mut b, start, 28)?;
        let order = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        let be = match order {
            NG_BYTE_ORDER => false,
            o if o.swap_bytes() == NG_BYTE_ORDER => true,
            _ => {
                return Err(self.damaged(
                    start,
                    format!("a section header with byte-order mark {order:#010x}"),
                ));
            }
        };
        let len = u32_at(&b, 0, be);
        self.check_block_len(start, len, 28)?;
        let mut rest = vec![0u8; len as usize - 12];
        self.read_part(&mut rest, start, len as u64)?;
        self.check_trailer(start, len, &rest, be)?;
        let major = u16_at(&rest, 0, be);
        if major != 1 {
            return Err(self.damaged(
                start,
                format!("pcapng version {major} (only version 1 exists)"),
            ));
        }
        self.format = Format::PcapNg {
            be,
            ifaces: Vec::new(),
        };
        Ok(())
    }

    fn check_block_len(&self, start: u64, len: u32, min: u32) -> Result<(), CaptureError> {
        if len < min || !len.is_multiple_of(4) || len > MAX_BLOCK {
            return Err(self.damaged(
                start,
                format!("a block claiming {len} bytes (a multiple of 4 from {min} to {MAX_BLOCK})"),
            ));
        }
        Ok(())
    }

    /// `rest` is the block after its type and length words: its last 4 bytes repeat the length.
    fn check_trailer(
        &self,
        start: u64,
        len: u32,
        rest: &[u8],
        be: bool,
    ) -> Result<(), CaptureError> {
        let tail = u32_at(rest, rest.len() - 4, be);
        if tail != len {
            return Err(self.damaged(
                start,
                format!("a block whose length is {len} at its start and {tail} at its end"),
            ));
        }
        Ok(())
    }

    fn next_pcapng(&mut self) -> Result<Option<Packet>, CaptureError> {
        loop {
            let start = self.offset;
            let mut ty = [0u8; 4];
            let got = read_full(&mut self.r, &mut ty).map_err(|source| CaptureError::Io {
                offset: start,
                source,
            })?;
            if got == 0 {
                return Ok(None);
            }
            self.offset += got as u64;
            if got < 4 {
                return Err(CaptureError::Truncated {
                    packet: self.packets + 1,
                    offset: start,
                    want: 12,
                    got: got as u64,
                });
            }
            if u32::from_le_bytes(ty) == NG_SHB {
                self.offset = start;
                self.section_header(NG_SHB)?;
                continue;
            }
            let Format::PcapNg { be, .. } = self.format else {
                unreachable!("pcapng blocks in a pcap file")
            };
            let ty = if be {
                u32::from_be_bytes(ty)
            } else {
                u32::from_le_bytes(ty)
            };
            let mut lb = [0u8; 4];
            self.read_part(&mut lb, start, 12)?;
            let len = u32_at(&lb, 0, be);
            self.check_block_len(start, len, 12)?;
            let mut body = vec![0u8; len as usize - 8];
            self.read_part(&mut body, start, len as u64)?;
            self.check_trailer(start, len, &body, be)?;
            let body = &body[..body.len() - 4];
            if let Some(p) = self.ng_block(start, ty, body, be)? {
                return Ok(Some(p));
            }
        }
    }

    /// A pcapng block other than a section header: a packet, or `None` after noting an interface or skipping.
    fn ng_block(
        &mut self,
        start: u64,
        ty: u32,
        body: &[u8],
        be: bool,
    ) -> Result<Option<Packet>, CaptureError> {
        let short = |what: &str| self.damaged(start, format!("{what} too short for its fields"));
        let (iface, caplen, wirelen, data_at) = match ty {
            NG_IDB => {
                if body.len() < 8 {
                    return Err(short("an interface description"));
                }
                let lt = u16_at(body, 0, be) as u32;
                if let Format::PcapNg { ifaces, .. } = &mut self.format {
                    ifaces.push(lt);
                }
                return Ok(None);
            }
            NG_EPB => {
                if body.len() < 20 {
                    return Err(short("a packet block"));
                }
                (
                    u32_at(body, 0, be),
                    u32_at(body, 12, be),
                    u32_at(body, 16, be),
                    20,
                )
            }
            NG_OPB => {
                if body.len() < 20 {
                    return Err(short("a packet block"));
                }
                (
                    u16_at(body, 0, be) as u32,
                    u32_at(body, 12, be),
                    u32_at(body, 16, be),
                    20,
                )
            }
            NG_SPB => {
                if body.len() < 4 {
                    return Err(short("a simple packet block"));
                }
                let wirelen = u32_at(body, 0, be);
                // The captured length is implied: the wire length, cut by the block's end.
                (0, wirelen.min(body.len() as u32 - 4), wirelen, 4)
            }
            // Statistics, name resolution, custom blocks...: nothing to filter.
            _ => return Ok(None),
        };
        let Format::PcapNg { ifaces, .. } = &self.format else {
            unreachable!("pcapng block in a pcap file")
        };
        let lt = *ifaces.get(iface as usize).ok_or_else(|| {
            self.damaged(
                start,
                format!(
                    "a packet on interface {iface}, but the section describes {}",
                    ifaces.len()
                ),
            )
        })?;
        let l3 = starts_at_ip(lt).ok_or(CaptureError::UnsupportedLink(lt))?;
        let end = data_at as u64 + caplen as u64;
        if end > body.len() as u64 {
            return Err(self.damaged(
                start,
                format!(
                    "a packet of {caplen} captured bytes in a {}-byte block",
                    body.len() + 12
                ),
            ));
        }
        if ty != NG_SPB {
            let opts_at = (end as usize).next_multiple_of(4).min(body.len());
            self.options = packet_options(&body[opts_at..], be);
        }
        Ok(Some(Packet {
            data: body[data_at..end as usize].to_vec(),
            wirelen,
            l3,
        }))
    }
}

/// The comments and custom options in a packet block's option list; the list ends at its end marker, its end, or
/// the first option that does not fit.
fn packet_options(mut b: &[u8], be: bool) -> Vec<PacketOption> {
    const COMMENT: u16 = 1;
    const CUSTOM: [u16; 4] = [2988, 2989, 19372, 19373];
    let mut v = Vec::new();
    while b.len() >= 4 {
        let (code, len) = (u16_at(b, 0, be), u16_at(b, 2, be) as usize);
        if code == 0 || 4 + len > b.len() {
            break;
        }
        let value = &b[4..4 + len];
        match code {
            COMMENT => v.push(PacketOption::Comment(
                String::from_utf8_lossy(value).into_owned(),
            )),
            c if CUSTOM.contains(&c) && len >= 4 => v.push(PacketOption::Custom {
                code,
                pen: u32_at(value, 0, be),
                data: value[4..].to_vec(),
            }),
            _ => {}
        }
        b = &b[(4 + len).next_multiple_of(4).min(b.len())..];
    }
    v
}

impl<R: Read> Iterator for Capture<R> {
    type Item = Result<Packet, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        self.options.clear();
        let r = match self.format {
            Format::Pcap { be, extra, l3 } => self.next_pcap(be, extra, l3),
            Format::PcapNg { .. } => self.next_pcapng(),
        };
        match r {
            Ok(Some(p)) => {
                self.packets += 1;
                Some(Ok(p))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
