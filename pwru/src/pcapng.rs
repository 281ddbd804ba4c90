//! pcapng blocks as `--output-pcap` writes them, and pwru's event option that `pwru replay` reads back.
//!
//! Pure encoding into a byte buffer (the sink does the I/O and the accounting): one section header, interface
//! descriptions with nanosecond timestamps, and enhanced packet blocks with comments for people (Wireshark's
//! `frame.comment`) and one custom option holding the whole event as JSON for `pwru replay`, so a replay prints
//! exactly what the live run printed. Little-endian throughout, whatever the host: readers follow the byte-order
//! mark, and a fixed order keeps files identical across architectures.

use event::Event;

/// LINKTYPE_ETHERNET: the bytes start at the MAC header.
pub const LINKTYPE_ETHERNET: u16 = 1;
/// LINKTYPE_RAW: the bytes start at the IPv4 or IPv6 header.
pub const LINKTYPE_RAW: u16 = 101;

const SHB: u32 = 0x0a0d_0d0a;
const IDB: u32 = 1;
const EPB: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;

const OPT_END: u16 = 0;
const OPT_COMMENT: u16 = 1;
const SHB_OS: u16 = 3;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_DESCRIPTION: u16 = 3;
const IF_TSRESOL: u16 = 9;
/// A custom option holding UTF-8 that editors (editcap, mergecap) copy along with the packet.
pub const OPT_CUSTOM_UTF8_COPY: u16 = 2988;

/// The Private Enterprise Number the event option is filed under. pwru has none of its own yet: this is IANA's
/// number for documentation use (RFC 5612), and [`EVENT_TAG`] tells pwru's option apart from anyone else's.
pub const PEN: u32 = 32473;
/// What the event option's text starts with, before the event's JSON; the digit is the layout's version.
pub const EVENT_TAG: &str = "pwru-event/1 ";

/// An option value is at most this long (its length field is 16 bits).
const MAX_OPTION: usize = u16::MAX as usize;

/// One interface of the capture.
#[derive(Clone, Copy, Debug)]
pub struct Interface<'a> {
    /// [`LINKTYPE_ETHERNET`] or [`LINKTYPE_RAW`].
    pub link_type: u16,
    /// `if_name`: the interface's name.
    pub name: &'a str,
    /// `if_description`: where it is (its netns).
    pub description: &'a str,
    /// Most bytes a packet of this interface holds (0: no limit).
    pub snaplen: u32,
}

/// One enhanced packet block.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    /// Index of its interface description in the section, from 0.
    pub interface: u32,
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// The captured bytes.
    pub data: &'a [u8],
    /// The packet's length before the capture cut it.
    pub orig_len: u32,
    /// `opt_comment`s, one each.
    pub comments: &'a [&'a str],
    /// The event as [`event_option`] encodes it.
    pub event: Option<&'a str>,
}

/// An open block: its type and a length to patch in when it ends.
struct Block<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
}

impl<'a> Block<'a> {
    fn begin(out: &'a mut Vec<u8>, ty: u32) -> Self {
        let start = out.len();
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        Block { out, start }
    }

    fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    fn bytes_padded(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
        self.pad();
    }

    fn pad(&mut self) {
        let n = (4 - self.out.len() % 4) % 4;
        self.out.extend(std::iter::repeat_n(0, n));
    }

    /// An option, its value cut to what the 16-bit length can say (on a UTF-8 character boundary).
    fn option(&mut self, code: u16, value: &[u8]) {
        let value = &value[..value.len().min(MAX_OPTION)];
        self.u16(code);
        self.u16(value.len() as u16);
        self.bytes_padded(value);
    }

    fn text_option(&mut self, code: u16, s: &str) {
        self.option(code, cut(s, MAX_OPTION).as_bytes());
    }

    /// The end-of-options marker, the trailing length, and the length patched into the header.
    fn end(self, options: bool) {
        if options {
            self.out.extend_from_slice(&OPT_END.to_le_bytes());
            self.out.extend_from_slice(&0u16.to_le_bytes());
        }
        let len = (self.out.len() - self.start + 4) as u32;
        self.out.extend_from_slice(&len.to_le_bytes());
        self.out[self.start + 4..self.start + 8].copy_from_slice(&len.to_le_bytes());
    }
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Appends a section header naming the writing application (`shb_userappl`) and the system (`shb_os`).
pub fn section_header(out: &mut Vec<u8>, app: &str, os: &str) {
    let mut b = Block::begin(out, SHB);
    b.u32(BYTE_ORDER_MAGIC);
    b.u16(1);
    b.u16(0);
    // Section length: not known in a stream.
    b.out.extend_from_slice(&(-1i64).to_le_bytes());
    if !os.is_empty() {
        b.text_option(SHB_OS, os);
    }
    b.text_option(SHB_USERAPPL, app);
    b.end(true);
}

/// Appends an interface description; packets refer to it by its index in the section.
pub fn interface(out: &mut Vec<u8>, i: &Interface) {
    let mut b = Block::begin(out, IDB);
    b.u16(i.link_type);
    b.u16(0);
    b.u32(i.snaplen);
    b.text_option(IF_NAME, i.name);
    if !i.description.is_empty() {
        b.text_option(IF_DESCRIPTION, i.description);
    }
    // Timestamps in nanoseconds (10^-9), as the kernel takes them.
    b.option(IF_TSRESOL, &[9]);
    b.end(true);
}

/// Appends an enhanced packet block. An event too long for one option is left out (the comments stay).
pub fn packet(out: &mut Vec<u8>, p: &Packet) {
    let mut b = Block::begin(out, EPB);
    b.u32(p.interface);
    b.u32((p.ts_ns >> 32) as u32);
    b.u32(p.ts_ns as u32);
    b.u32(p.data.len() as u32);
    b.u32(p.orig_len.max(p.data.len() as u32));
    b.bytes_padded(p.data);
    for c in p.comments {
        b.text_option(OPT_COMMENT, c);
    }
    let ev = p.event.filter(|e| 4 + e.len() <= MAX_OPTION);
    if let Some(e) = ev {
        b.u16(OPT_CUSTOM_UTF8_COPY);
        b.u16((4 + e.len()) as u16);
        b.u32(PEN);
        b.bytes_padded(e.as_bytes());
    }
    let options = !p.comments.is_empty() || ev.is_some();
    b.end(options);
}

/// The event option's text: [`EVENT_TAG`] and the event as JSON, every field but the packet's bytes, which are
/// the block's ([`with_bytes`] puts them back).
pub fn event_option(ev: &Event) -> String {
    let mut s = String::with_capacity(512);
    s.push_str(EVENT_TAG);
    let shell;
    let ev = if ev.packet.is_some() {
        let mut e = ev.clone();
        if let Some(p) = &mut e.packet {
            p.data = Vec::new();
        }
        shell = e;
        &shell
    } else {
        ev
    };
    // Serialising strings and numbers cannot fail.
    s.push_str(&serde_json::to_string(ev).unwrap_or_default());
    s
}

/// `ev` (from [`parse_event_option`]) with the bytes of its packet block. `l3` says whether the block's interface
/// is raw IP: an Ethernet block of an event whose bytes started at the IP header has the all-zero header
/// `--output-pcap-ethernet` added, which is taken off again.
pub fn with_bytes(mut ev: Event, data: Vec<u8>, l3: bool) -> Event {
    if let Some(p) = &mut ev.packet {
        let added = if p.start == event::PacketStart::L3 && !l3 {
            14.min(data.len())
        } else {
            0
        };
        p.data = data;
        p.data.drain(..added);
    }
    ev
}

/// Why an event option could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum EventOptionError {
    /// Another layout version, or another tool's option under the same number.
    #[error("not a pwru event (it starts with {0:?})")]
    NotPwru(String),
    /// The JSON does not describe an event.
    #[error("damaged event: {0}")]
    Json(#[from] serde_json::Error),
}

/// The event in a custom option's data (after the PEN), as [`event_option`] wrote it.
pub fn parse_event_option(data: &[u8]) -> Result<Event, EventOptionError> {
    let Some(json) = data.strip_prefix(EVENT_TAG.as_bytes()) else {
        let head = String::from_utf8_lossy(&data[..data.len().min(16)]).into_owned();
        return Err(EventOptionError::NotPwru(head));
    };
    Ok(serde_json::from_slice(json)?)
}

/// What the comment of an event's packet says: `kfree_skb_reason(NETFILTER_DROP) skb=0xffff… netns=4026532120
/// mark=0x0 ping:1234`, and the caller when the event has one. Wireshark filters on it with
/// `frame.comment contains "NETFILTER_DROP"`.
pub fn comment(ev: &Event, out: &mut String) {
    use std::fmt::Write;
    out.clear();
    ev.write_func(out);
    let _ = write!(
        out,
        " skb={:#x} netns={} mark={:#x}",
        ev.skb, ev.netns, ev.mark
    );
    if let Some(c) = &ev.caller {
        let _ = write!(out, " caller={c}");
    }
    if !ev.process.is_empty() {
        out.push(' ');
        out.push_str(&ev.process);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use event::DropReason;

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    /// Every block's length is a multiple of 4 and repeated at its end; returns (type, start) per block.
    fn blocks(b: &[u8]) -> Vec<(u32, usize)> {
        let mut at = 0;
        let mut v = Vec::new();
        while at < b.len() {
            let len = u32_at(b, at + 4) as usize;
            assert_eq!(len % 4, 0);
            assert_eq!(u32_at(b, at + len - 4) as usize, len);
            v.push((u32_at(b, at), at));
            at += len;
        }
        assert_eq!(at, b.len());
        v
    }

    #[test]
    fn blocks_are_framed_and_padded() {
        let mut b = Vec::new();
        section_header(&mut b, "pwru 0.1.0", "Linux 6.1");
        interface(
            &mut b,
            &Interface {
                link_type: LINKTYPE_RAW,
                name: "veth0",
                description: "netns 4026531840",
                snaplen: 256,
            },
        );
        packet(
            &mut b,
            &Packet {
                interface: 0,
                ts_ns: 1_700_000_000_123_456_789,
                data: &[0x45, 0, 0],
                orig_len: 84,
                comments: &["ip_rcv"],
                event: Some("pwru-event/1 {}"),
            },
        );
        packet(
            &mut b,
            &Packet {
                interface: 0,
                ts_ns: 1,
                data: &[],
                orig_len: 60,
                comments: &[],
                event: None,
            },
        );
        let bl = blocks(&b);
        let types: Vec<u32> = bl.iter().map(|(t, _)| *t).collect();
        assert_eq!(types, [SHB, IDB, EPB, EPB]);
        let epb = bl[2].1;
        assert_eq!(u32_at(&b, epb + 8), 0);
        let ts = (u32_at(&b, epb + 12) as u64) << 32 | u32_at(&b, epb + 16) as u64;
        assert_eq!(ts, 1_700_000_000_123_456_789);
        assert_eq!((u32_at(&b, epb + 20), u32_at(&b, epb + 24)), (3, 84));
        // A packet without options has no end-of-options marker: 32 bytes of fixed fields.
        assert_eq!(u32_at(&b, bl[3].1 + 4), 32);
    }

    #[test]
    fn long_values_are_cut_at_characters_and_oversized_events_left_out() {
        assert_eq!(cut("aé", 2), "a");
        assert_eq!(cut("abc", 5), "abc");
        let long = "é".repeat(40_000);
        let mut b = Vec::new();
        packet(
            &mut b,
            &Packet {
                interface: 0,
                ts_ns: 0,
                data: &[],
                orig_len: 0,
                comments: &[&long],
                event: Some(&long),
            },
        );
        let bl = blocks(&b);
        assert_eq!(bl.len(), 1);
        // The comment holds 32767 two-byte characters (65534 bytes); there is no custom option.
        let opt_len = u16::from_le_bytes([b[30], b[31]]) as usize;
        assert_eq!(opt_len, 65534);
        assert_eq!(b.len(), 28 + 4 + 65536 + 4 + 4);
    }

    #[test]
    fn events_round_trip_and_strangers_are_refused() {
        let ev = Event {
            skb: 0xffff_8880_0102_0304,
            func: "kfree_skb_reason".into(),
            drop_reason: Some(DropReason {
                code: 6,
                name: Some("NETFILTER_DROP".into()),
            }),
            ktime_ns: u64::MAX,
            stack: vec!["ip_rcv+0x1".into()],
            process: "/usr/bin/ping:77".into(),
            ..Default::default()
        };
        let s = event_option(&ev);
        assert!(s.starts_with(EVENT_TAG));
        assert_eq!(parse_event_option(s.as_bytes()).unwrap(), ev);
        let e = parse_event_option(b"other tool's data").unwrap_err();
        assert!(e.to_string().contains("not a pwru event"), "{e}");
        assert!(parse_event_option(b"pwru-event/1 {\"skb\":").is_err());

        let mut c = String::new();
        comment(&ev, &mut c);
        assert_eq!(
            c,
            "kfree_skb_reason(NETFILTER_DROP) skb=0xffff888001020304 netns=0 mark=0x0 /usr/bin/ping:77"
        );
    }

    #[test]
    fn the_bytes_live_in_the_block_and_come_back_from_an_ethernet_copy() {
        let ev = Event {
            func: "ip_output".into(),
            packet: Some(event::Packet {
                start: event::PacketStart::L3,
                orig_len: 84,
                data: vec![0x45, 1, 2],
            }),
            ..Default::default()
        };
        let opt = event_option(&ev);
        assert!(
            opt.contains(r#""packet":{"start":"l3","orig_len":84,"data":[]}"#),
            "{opt}"
        );
        let back = parse_event_option(opt.as_bytes()).unwrap();
        assert_eq!(with_bytes(back.clone(), vec![0x45, 1, 2], true), ev);
        let mut eth = vec![0; 12];
        eth.extend([8, 0, 0x45, 1, 2]);
        assert_eq!(
            with_bytes(back, eth, false),
            ev,
            "the added Ethernet header is taken off"
        );
        let plain = Event::default();
        assert_eq!(with_bytes(plain.clone(), vec![], false), plain);
    }
}
