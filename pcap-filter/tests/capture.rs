//! The capture reader: pcap and pcapng in both byte orders give back what was written; a file cut at any byte
//! gives every packet before the cut and then says where it was cut; damaged lengths are refused, not trusted.

use pcap_filter::capture::{Capture, CaptureError, Packet};

/// Bytes of a capture, written as its format says.
struct W {
    be: bool,
    out: Vec<u8>,
    /// Where each packet's record or block ends.
    packet_ends: Vec<usize>,
    /// Where each record or block ends.
    ends: Vec<usize>,
}

impl W {
    fn new(be: bool) -> W {
        W {
            be,
            out: Vec::new(),
            packet_ends: Vec::new(),
            ends: Vec::new(),
        }
    }
    fn u16(&mut self, v: u16) {
        let b = if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.out.extend(b);
    }
    fn u32(&mut self, v: u32) {
        let b = if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.out.extend(b);
    }

    fn pcap(be: bool, magic: u32, linktype: u32) -> W {
        let mut w = W::new(be);
        w.u32(magic);
        w.u16(2);
        w.u16(4);
        w.u32(0);
        w.u32(0);
        w.u32(65535);
        w.u32(linktype);
        w
    }
    fn record(&mut self, data: &[u8], wirelen: u32, extra: usize) {
        self.u32(1);
        self.u32(2);
        self.u32(data.len() as u32);
        self.u32(wirelen);
        self.out.extend(std::iter::repeat_n(0, extra));
        self.out.extend(data);
        self.packet_ends.push(self.out.len());
        self.ends.push(self.out.len());
    }

    /// A pcapng block: type, length, body padded to 4, length.
    fn block(&mut self, ty: u32, body: &[u8]) {
        let pad = (4 - body.len() % 4) % 4;
        let len = (12 + body.len() + pad) as u32;
        self.u32(ty);
        self.u32(len);
        self.out.extend(body);
        self.out.extend(std::iter::repeat_n(0, pad));
        self.u32(len);
        self.ends.push(self.out.len());
    }
    fn body(&self, f: impl FnOnce(&mut W)) -> Vec<u8> {
        let mut b = W::new(self.be);
        f(&mut b);
        b.out
    }
    fn shb(&mut self) {
        let body = self.body(|b| {
            b.u32(0x1a2b_3c4d);
            b.u16(1);
            b.u16(0);
            b.u32(u32::MAX);
            b.u32(u32::MAX);
        });
        // The type word reads the same in both orders.
        self.out.extend([0x0a, 0x0d, 0x0d, 0x0a]);
        let len = (12 + body.len()) as u32;
        self.u32(len);
        self.out.extend(body);
        self.u32(len);
        self.ends.push(self.out.len());
    }
    fn idb(&mut self, linktype: u16) {
        let body = self.body(|b| {
            b.u16(linktype);
            b.u16(0);
            b.u32(0);
            // An option (if_tsresol) and the end of options, which the reader skips.
            b.u16(9);
            b.u16(1);
            b.out.extend([6, 0, 0, 0]);
            b.u32(0);
        });
        self.block(1, &body);
    }
    fn epb(&mut self, iface: u32, data: &[u8], wirelen: u32) {
        let body = self.body(|b| {
            b.u32(iface);
            b.u32(0);
            b.u32(0);
            b.u32(data.len() as u32);
            b.u32(wirelen);
            b.out.extend(data);
        });
        self.block(6, &body);
        self.packet_ends.push(self.out.len());
    }
    fn spb(&mut self, data: &[u8]) {
        let body = self.body(|b| {
            b.u32(data.len() as u32);
            b.out.extend(data);
        });
        self.block(3, &body);
        self.packet_ends.push(self.out.len());
    }
    fn opb(&mut self, iface: u16, data: &[u8], wirelen: u32) {
        let body = self.body(|b| {
            b.u16(iface);
            b.u16(0);
            b.u32(0);
            b.u32(0);
            b.u32(data.len() as u32);
            b.u32(wirelen);
            b.out.extend(data);
        });
        self.block(2, &body);
        self.packet_ends.push(self.out.len());
    }
}

fn packet(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + n) as u8).collect()
}

fn read(bytes: &[u8]) -> (Vec<Packet>, Option<CaptureError>) {
    let mut got = Vec::new();
    match Capture::new(bytes) {
        Err(e) => (got, Some(e)),
        Ok(c) => {
            for p in c {
                match p {
                    Ok(p) => got.push(p),
                    Err(e) => return (got, Some(e)),
                }
            }
            (got, None)
        }
    }
}

fn pkt(data: Vec<u8>, wirelen: u32, l3: bool) -> Packet {
    Packet { data, wirelen, l3 }
}

/// A pcap file of each flavour and byte order, and what it holds.
fn pcaps() -> Vec<(String, W, Vec<Packet>)> {
    let mut out = Vec::new();
    for be in [false, true] {
        for (magic, extra) in [(0xa1b2_c3d4, 0), (0xa1b2_3c4d, 0), (0xa1b2_cd34, 8)] {
            for (lt, l3) in [(1, false), (101, true), (228, true), (12, true)] {
                let mut w = W::pcap(be, magic, lt);
                let mut want = Vec::new();
                for n in [60, 0, 1514, 7] {
                    w.record(&packet(n), n as u32 + 3, extra);
                    want.push(pkt(packet(n), n as u32 + 3, l3));
                }
                out.push((format!("pcap be={be} magic={magic:#x} lt={lt}"), w, want));
            }
        }
    }
    out
}

/// Two sections of opposite byte order, several interfaces and every packet block.
fn pcapng(be: bool) -> (W, Vec<Packet>) {
    let mut w = W::new(be);
    w.shb();
    w.idb(1);
    w.idb(101);
    w.block(4, &[0; 8]); // name resolution: skipped
    w.epb(0, &packet(60), 60);
    w.epb(1, &packet(21), 40);
    w.spb(&packet(42));
    w.opb(1, &packet(3), 3);
    w.block(5, &[0; 28]); // interface statistics: skipped
    let mut want = vec![
        pkt(packet(60), 60, false),
        pkt(packet(21), 40, true),
        pkt(packet(42), 42, false),
        pkt(packet(3), 3, true),
    ];
    // A new section of the other byte order starts with no interfaces.
    w.be = !be;
    w.shb();
    w.idb(101);
    w.epb(0, &packet(33), 33);
    want.push(pkt(packet(33), 33, true));
    (w, want)
}

#[test]
fn reads_what_was_written() {
    for (name, w, want) in pcaps() {
        let (got, err) = read(&w.out);
        assert!(err.is_none(), "{name}: {err:?}");
        assert_eq!(got, want, "{name}");
    }
    for be in [false, true] {
        let (w, want) = pcapng(be);
        let (got, err) = read(&w.out);
        assert!(err.is_none(), "pcapng be={be}: {err:?}");
        assert_eq!(got, want, "pcapng be={be}");
    }
}

/// Cut at every byte: the packets wholly before the cut come out, then the reader says which packet was cut.
#[test]
fn a_cut_file_gives_every_packet_before_the_cut() {
    let mut files: Vec<(String, W, usize)> = pcaps()
        .into_iter()
        .map(|(n, w, _)| (n, w, 24))
        .filter(|(n, ..)| n.ends_with("lt=1") || n.ends_with("lt=101"))
        .collect();
    for be in [false, true] {
        let (w, _) = pcapng(be);
        files.push((format!("pcapng be={be}"), w, 28));
    }
    for (name, w, header) in files {
        for cut in 0..w.out.len() {
            let (got, err) = read(&w.out[..cut]);
            let whole = w.packet_ends.iter().filter(|e| **e <= cut).count();
            assert_eq!(got.len(), whole, "{name} cut at {cut}");
            let at_boundary = cut == header || w.ends.contains(&cut);
            match err {
                None => assert!(at_boundary, "{name} cut at {cut}: no error"),
                Some(CaptureError::TruncatedHeader { got, .. }) => {
                    assert!(cut < header, "{name} cut at {cut}");
                    assert_eq!(got, cut, "{name}");
                }
                Some(CaptureError::Truncated { packet, offset, .. }) => {
                    assert_eq!(packet as usize, whole + 1, "{name} cut at {cut}");
                    assert!(
                        (offset as usize) < cut,
                        "{name} cut at {cut}: offset {offset}"
                    );
                }
                Some(e) => panic!("{name} cut at {cut}: {e}"),
            }
        }
    }
}

fn damaged(bytes: &[u8]) -> String {
    let (_, err) = read(bytes);
    err.expect("an error").to_string()
}

#[test]
fn damaged_lengths_are_refused_with_where() {
    // A record that claims 2 GiB: refused before allocating it, after the packet before it.
    let mut w = W::pcap(false, 0xa1b2_c3d4, 1);
    w.record(&packet(60), 60, 0);
    let at = w.out.len();
    w.record(&packet(60), 60, 0);
    w.out[at + 8..at + 12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let (got, err) = read(&w.out);
    assert_eq!(got.len(), 1);
    assert_eq!(
        err.unwrap().to_string(),
        format!(
            "damaged at byte {at}, where packet 2 should start: a record of 2147483647 captured bytes \
             (at most 262144 exist); the packet before it was read"
        )
    );

    let (ng, _) = pcapng(false);
    let first_epb = ng.packet_ends[0] - (12 + 20 + 60);
    // Length not a multiple of 4, too big, and different at both ends.
    for (len, what) in [
        (93u32, "a block claiming 93 bytes"),
        (0x7fff_fff0, "a block claiming 2147483632 bytes"),
        (
            12,
            "a block whose length is 12 at its start and 0 at its end",
        ),
    ] {
        let mut b = ng.out.clone();
        b[first_epb + 4..first_epb + 8].copy_from_slice(&len.to_le_bytes());
        let e = damaged(&b);
        assert!(
            e.starts_with(&format!(
                "damaged at byte {first_epb}, where packet 1 should start: {what}"
            )),
            "{e}"
        );
    }
    // A captured length past the block's end.
    let mut b = ng.out.clone();
    b[first_epb + 20..first_epb + 24].copy_from_slice(&61u32.to_le_bytes());
    assert!(damaged(&b).contains("a packet of 61 captured bytes in a 92-byte block"));
    // A packet on an interface the section does not describe.
    let mut b = ng.out.clone();
    b[first_epb + 8] = 7;
    assert!(damaged(&b).contains("a packet on interface 7, but the section describes 2"));
    // A section header whose byte-order mark is wrong, and an unknown pcapng version.
    let mut b = ng.out.clone();
    b[8] = 0x99;
    assert!(damaged(&b).contains("byte-order mark"));
    let mut b = ng.out.clone();
    b[12] = 2;
    assert!(damaged(&b).contains("pcapng version 2"));
}

#[test]
fn headers_say_what_the_file_is_not() {
    assert_eq!(damaged(b""), "truncated file header: 0 of its 4 bytes");
    assert_eq!(
        damaged(b"GET / HTTP/1.1\r\n\r\n"),
        "not a pcap or pcapng file (it starts with 47 45 54 20)"
    );
    let w = W::pcap(true, 0xa1b2_c3d4, 1);
    assert_eq!(
        damaged(&w.out[..10]),
        "truncated file header: 10 of its 24 bytes"
    );
    let mut v1 = w.out.clone();
    v1[5] = 1;
    assert!(damaged(&v1).contains("pcap version 1"));
    // A header alone is an empty capture, as tcpdump reads it.
    let (got, err) = read(&w.out);
    assert!(got.is_empty() && err.is_none(), "{err:?}");
    for lt in [113u32, 276, 0] {
        let w = W::pcap(false, 0xa1b2_c3d4, lt);
        assert!(damaged(&w.out).starts_with(&format!("link type {lt} (")));
    }
    // pcapng: the link type is refused at the first packet on that interface, after those before it.
    let mut w = W::new(false);
    w.shb();
    w.idb(1);
    w.idb(113);
    w.epb(0, &packet(60), 60);
    w.epb(1, &packet(60), 60);
    let (got, err) = read(&w.out);
    assert_eq!(got.len(), 1);
    assert!(err.unwrap().to_string().contains("LINUX_SLL"));
}

/// Comments and custom options of packet blocks come back in either byte order; other options are skipped, and a
/// damaged option list ends the list, not the capture.
#[test]
fn packet_options_are_kept() {
    use pcap_filter::capture::PacketOption;
    for be in [false, true] {
        let mut w = W::new(be);
        w.shb();
        w.idb(1);
        let body = w.body(|b| {
            for v in [0, 0, 0, 3, 3] {
                b.u32(v);
            }
            b.out.extend([1, 2, 3, 0]);
            b.u16(1);
            b.u16(5);
            b.out.extend(b"hello\0\0\0");
            b.u16(2); // epb_flags: skipped
            b.u16(4);
            b.u32(1);
            b.u16(2988);
            b.u16(7);
            b.u32(32473);
            b.out.extend(b"abc\0");
            b.u16(0);
            b.u16(0);
        });
        w.block(6, &body);
        // An option claiming more than the block holds.
        let body = w.body(|b| {
            for v in [0, 0, 0, 0, 0] {
                b.u32(v);
            }
            b.u16(1);
            b.u16(2);
            b.out.extend(b"ok\0\0");
            b.u16(1);
            b.u16(400);
            b.u32(0);
        });
        w.block(6, &body);
        w.epb(0, &packet(4), 4);
        let mut c = Capture::new(&w.out[..]).unwrap();
        let want = [
            vec![
                PacketOption::Comment("hello".into()),
                PacketOption::Custom {
                    code: 2988,
                    pen: 32473,
                    data: b"abc".to_vec(),
                },
            ],
            vec![PacketOption::Comment("ok".into())],
            vec![],
        ];
        for (i, want) in want.iter().enumerate() {
            c.next().unwrap().unwrap();
            assert_eq!(c.options(), &want[..], "packet {i}, be={be}");
        }
        assert!(c.next().is_none());
        assert!(c.options().is_empty());
    }
}
