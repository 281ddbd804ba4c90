//! `--output-pcap`: each event as a pcapng packet ([`crate::pcapng`]), on an interface per (netns, ifindex, link
//! type) seen, described as it is first seen.

use super::Sink;
use super::writer::Writer;
use crate::pcapng::{self, Interface, LINKTYPE_ETHERNET, LINKTYPE_RAW};
use crate::plan::output::Pcap;
use anyhow::Result;
use event::fate::{self, Life};
use event::{Event, PacketStart};
use std::collections::HashMap;

/// Writes the section header now, then a packet block per event (and an interface description before the first
/// packet of each interface).
pub struct PcapSink {
    out: Writer,
    opts: Pcap,
    /// (netns, ifindex, link type) → interface index in the section.
    ifaces: HashMap<(u32, u32, u16), u32>,
    first: Option<FirstPerSkb>,
    /// Events left out by `--output-pcap-once`, which count as handled.
    skipped: u64,
    block: Vec<u8>,
    comment: String,
    frame: Vec<u8>,
}

impl PcapSink {
    /// `app` names the writer in the section header (`pwru 0.1.0`).
    pub fn new(mut out: Writer, opts: Pcap, app: &str) -> Result<PcapSink> {
        let mut block = Vec::with_capacity(4096);
        pcapng::section_header(&mut block, app, &os_name());
        out.other(&block);
        out.flush()?;
        Ok(PcapSink {
            out,
            opts,
            ifaces: HashMap::new(),
            first: opts.once.then(FirstPerSkb::default),
            skipped: 0,
            block,
            comment: String::with_capacity(160),
            frame: Vec::new(),
        })
    }

    /// The interface of `ev`'s packet, described first when it is new.
    fn interface(&mut self, ev: &Event, link_type: u16) -> u32 {
        let next = self.ifaces.len() as u32;
        let key = (ev.netns, ev.ifindex, link_type);
        if let Some(&i) = self.ifaces.get(&key) {
            return i;
        }
        self.ifaces.insert(key, next);
        let name = match (&ev.ifname, ev.ifindex) {
            (Some(n), _) => n.clone(),
            (None, 0) => "none".to_string(),
            (None, i) => format!("if{i}"),
        };
        let mut description = format!("netns {} ifindex {}", ev.netns, ev.ifindex);
        if link_type == LINKTYPE_RAW {
            description.push_str(", packets from their network header (no MAC header yet)");
        }
        self.block.clear();
        pcapng::interface(
            &mut self.block,
            &Interface {
                link_type,
                name: &name,
                description: &description,
                snaplen: self.opts.snaplen,
            },
        );
        self.out.other(&self.block);
        next
    }
}

/// The bytes the probes copied for `ev`: (data, length before the cut, whether they start at the IP header).
/// Without bytes (`--snaplen 0`), the block still says how long the packet was.
fn packet_bytes(ev: &Event) -> (&[u8], u32, bool) {
    match &ev.packet {
        Some(p) => (&p.data, p.orig_len, p.start == PacketStart::L3),
        None => (&[], ev.len, false),
    }
}

/// An all-zero Ethernet header for bytes that start at the IP header (`--output-pcap-ethernet`).
fn with_ethernet(frame: &mut Vec<u8>, ip: &[u8]) {
    let ethertype: u16 = match ip.first().map(|b| b >> 4) {
        Some(6) => 0x86dd,
        _ => 0x0800,
    };
    frame.clear();
    frame.extend_from_slice(&[0; 12]);
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(ip);
}

impl Sink for PcapSink {
    fn event(&mut self, ev: &Event) -> Result<()> {
        if let Some(f) = &mut self.first
            && !f.is_first(ev)
        {
            self.skipped += 1;
            return Ok(());
        }
        let (bytes, len, l3) = packet_bytes(ev);
        let synthetic = l3 && self.opts.ethernet;
        if synthetic {
            with_ethernet(&mut self.frame, bytes);
        }
        let link_type = if l3 && !synthetic {
            LINKTYPE_RAW
        } else {
            LINKTYPE_ETHERNET
        };
        let interface = self.interface(ev, link_type);
        let (data, orig_len) = if synthetic {
            (&self.frame[..], len + 14)
        } else {
            (bytes, len)
        };
        pcapng::comment(ev, &mut self.comment);
        let mut comments: Vec<&str> = vec![&self.comment];
        comments.extend(
            ev.annotations
                .iter()
                .flat_map(|a| a.lines.iter().map(String::as_str)),
        );
        let json = pcapng::event_option(ev);
        self.block.clear();
        pcapng::packet(
            &mut self.block,
            &pcapng::Packet {
                interface,
                ts_ns: ev.wall_ns,
                data,
                orig_len,
                comments: &comments,
                event: Some(&json),
            },
        );
        self.out.event(&self.block)
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush()
    }

    fn printed(&self) -> Option<u64> {
        Some(self.out.printed() + self.skipped)
    }
}

/// `shb_os`: `Linux 6.1.0-13-cloud-amd64`.
fn os_name() -> String {
    // SAFETY: uname only fills the struct we own.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return String::new();
    }
    let field = |f: &[libc::c_char]| {
        let b: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&b).into_owned()
    };
    format!("{} {}", field(&u.sysname), field(&u.release))
}

/// Tells a packet's first event from its later ones, by `event::fate`'s rules of a packet's life: an address is a
/// new packet once its skb was freed (or its release ended), when an skb handed to a device is queued for transmit
/// on that device again (its free was filtered out of the trace), or after a pause no packet takes in the kernel.
/// Unlike the TUI it never splits a packet on a late receive: under load a veth's backlog runs milliseconds after
/// the handoff, and a capture must not show one packet twice.
#[derive(Default)]
struct FirstPerSkb {
    /// skb address → its packet's life, latest function, device and time.
    last: HashMap<u64, Seen>,
}

struct Seen {
    life: Life,
    func: String,
    iface: Option<String>,
    ktime_ns: u64,
}

/// A packet's events are microseconds to milliseconds apart; the same address a second later is another packet.
const NEW_AFTER_NS: u64 = 1_000_000_000;
/// Bounds the memory on long runs (the oldest addresses are long freed).
const MAX_TRACKED: usize = 1 << 18;

impl FirstPerSkb {
    fn is_first(&mut self, ev: &Event) -> bool {
        let same = self.last.get(&ev.skb).is_some_and(|s| {
            ev.ktime_ns.saturating_sub(s.ktime_ns) <= NEW_AFTER_NS
                && match s.life {
                    Life::Live => {
                        !(fate::is_handoff(&s.func)
                            && fate::starts_tx_path(&ev.func)
                            && s.iface == fate::iface_label(ev))
                    }
                    Life::Releasing => fate::is_release_step(&ev.func),
                    Life::Freed => false,
                }
        });
        let life = match (same, self.last.get(&ev.skb)) {
            (true, Some(s)) => s.life.after(ev),
            _ => Life::Live.after(ev),
        };
        if life == Life::Freed {
            self.last.remove(&ev.skb);
        } else {
            if self.last.len() >= MAX_TRACKED {
                self.last.clear();
            }
            self.last.insert(
                ev.skb,
                Seen {
                    life,
                    func: ev.func.clone(),
                    iface: fate::iface_label(ev),
                    ktime_ns: ev.ktime_ns,
                },
            );
        }
        !same
    }
}

#[cfg(test)]
mod tests {
    use super::super::writer::test_out::Small;
    use super::*;
    use pcap_filter::capture::Capture;

    fn ev(skb: u64, func: &str, ktime_ns: u64) -> Event {
        Event {
            skb,
            func: func.into(),
            func_kind: event::FuncKind::Tracepoint,
            ktime_ns,
            ifindex: 3,
            ifname: Some("veth0".into()),
            netns: 7,
            len: 84,
            ..Default::default()
        }
    }

    #[test]
    fn first_event_per_skb() {
        let mut f = FirstPerSkb::default();
        let seq = [
            (ev(1, "net_dev_queue", 0), true),
            (ev(1, "net_dev_start_xmit", 10), false),
            (ev(2, "netif_receive_skb", 20), true),
            (ev(1, "consume_skb", 30), false),
            // Freed: the address is a new packet now.
            (ev(1, "net_dev_queue", 40), true),
            (ev(1, "net_dev_start_xmit", 50), false),
            // Handed to the device, then queued again on it: the free was not seen, this is another packet.
            (ev(1, "net_dev_queue", 60), true),
            (ev(1, "net_dev_start_xmit", 70), false),
            // A receive long after the handoff is still the same packet (a veth's backlog under load)...
            (ev(1, "netif_receive_skb", 70 + 50_000_000), false),
            // ...but not a second later.
            (
                ev(1, "netif_receive_skb", 71 + 50_000_000 + NEW_AFTER_NS),
                true,
            ),
        ];
        for (i, (e, want)) in seq.iter().enumerate() {
            assert_eq!(f.is_first(e), *want, "event {i}: {}", e.func);
        }
    }

    #[test]
    fn one_interface_per_netns_ifindex_and_every_event_a_packet() {
        let got = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let out = Writer::to(
            "--output-pcap x".into(),
            Box::new(Small {
                room: 1 << 20,
                got: got.clone(),
            }),
        );
        let opts = Pcap {
            snaplen: 256,
            once: false,
            ethernet: false,
        };
        let mut s = PcapSink::new(out, opts, "pwru test").unwrap();
        let mut other_ns = ev(5, "netif_receive_skb", 3);
        other_ns.netns = 8;
        let evs = [
            ev(5, "net_dev_queue", 1),
            ev(5, "net_dev_start_xmit", 2),
            other_ns,
        ];
        for e in &evs {
            s.event(e).unwrap();
        }
        s.flush().unwrap();
        assert_eq!(s.printed(), Some(3));
        assert_eq!(s.ifaces.len(), 2);
        let bytes = got.borrow().clone();
        let mut c = Capture::new(&bytes[..]).unwrap();
        for e in &evs {
            let p = c.next().unwrap().unwrap();
            assert_eq!(p.wirelen, 84);
            let json = c
                .options()
                .iter()
                .find_map(|o| match o {
                    pcap_filter::capture::PacketOption::Custom { data, .. } => Some(data),
                    _ => None,
                })
                .unwrap();
            assert_eq!(&pcapng::parse_event_option(json).unwrap(), e);
        }
        assert!(c.next().is_none());
    }

    #[test]
    fn ethernet_header_for_ip_bytes() {
        let mut f = Vec::new();
        with_ethernet(&mut f, &[0x60, 1]);
        assert_eq!(&f[12..], &[0x86, 0xdd, 0x60, 1]);
        with_ethernet(&mut f, &[0x45]);
        assert_eq!(&f[12..], &[0x08, 0x00, 0x45]);
    }
}
