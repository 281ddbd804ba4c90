//! Saved traces read back: JSON lines (`--output-json`) or pcapng (`--output-pcap`), told apart by their first
//! bytes, an event at a time. Reads are bounded (a JSON line at most [`MAX_LINE`] bytes, pcapng blocks as the
//! capture reader bounds them), and damage ends the trace after every event before it.

use anyhow::{Context, Result, bail};
use event::{Event, JsonEvent};
use pcap_filter::capture::{Capture, PacketOption};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// The longest JSON line read (an event with a long stack and Cilium state is a few KiB).
pub const MAX_LINE: u64 = 16 << 20;

/// The trace's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Json,
    Pcapng,
}

/// An open saved trace.
pub struct Source {
    pub kind: Kind,
    /// How messages name it: the path, or `stdin`.
    pub name: String,
    inner: Inner,
}

enum Inner {
    Json {
        r: Box<dyn BufRead>,
        line: u64,
        buf: Vec<u8>,
    },
    Pcapng {
        cap: Box<Capture<Box<dyn BufRead>>>,
        packet: u64,
    },
    Empty,
}

/// Opens `path` (`-`: stdin, read through `wrap`) and finds out what it holds.
pub fn open(path: &Path, wrap: impl FnOnce(Box<dyn Read>) -> Box<dyn Read>) -> Result<Source> {
    let (name, input): (String, Box<dyn Read>) = if path == Path::new("-") {
        ("stdin".into(), Box::new(std::io::stdin()))
    } else {
        let name = path.display().to_string();
        let f = std::fs::File::open(path).with_context(|| format!("cannot open {name}"))?;
        if f.metadata().is_ok_and(|m| m.is_dir()) {
            bail!("{name} is a directory, not a saved trace");
        }
        (name, Box::new(f))
    };
    let mut r: Box<dyn BufRead> = Box::new(BufReader::with_capacity(1 << 16, wrap(input)));
    let head = r
        .fill_buf()
        .with_context(|| format!("cannot read {name}"))?
        .to_vec();
    let inner = match head.get(..4) {
        _ if head.is_empty() => Inner::Empty,
        Some([0x0a, 0x0d, 0x0d, 0x0a]) => Inner::Pcapng {
            cap: Box::new(Capture::new(r).with_context(|| name.clone())?),
            packet: 0,
        },
        Some(m) if is_pcap_magic(m) => bail!(
            "{name} is a pcap file without pwru's events: replay reads the pcapng files of --output-pcap and \
             the JSON lines of --output-json"
        ),
        _ if head.starts_with(b"SKB ") || head.starts_with(b"TIME ") => bail!(
            "{name} holds pwru's text output, which cannot be read back: save traces with --output-json or \
             --output-pcap"
        ),
        _ if !head.trim_ascii_start().starts_with(b"{") => bail!(
            "{name} is neither pwru's JSON lines nor a pcapng file (it starts with {})",
            hex(&head[..head.len().min(4)])
        ),
        _ => Inner::Json {
            r,
            line: 0,
            buf: Vec::with_capacity(1024),
        },
    };
    let kind = match inner {
        Inner::Pcapng { .. } => Kind::Pcapng,
        _ => Kind::Json,
    };
    Ok(Source { kind, name, inner })
}

fn is_pcap_magic(m: &[u8]) -> bool {
    let le = u32::from_le_bytes([m[0], m[1], m[2], m[3]]);
    [0xa1b2_c3d4u32, 0xa1b2_3c4d, 0xa1b2_cd34]
        .iter()
        .any(|&x| le == x || le == x.swap_bytes())
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Source {
    /// The next event; `None` at the end; an error at damage (after which there is nothing more).
    pub fn next_event(&mut self) -> Option<Result<Event>> {
        let r = match &mut self.inner {
            Inner::Empty => return None,
            Inner::Json { r, line, buf } => next_json(&self.name, r, line, buf),
            Inner::Pcapng { cap, packet } => next_packet(&self.name, cap, packet),
        };
        if !matches!(r, Some(Ok(_))) {
            self.inner = Inner::Empty;
        }
        r
    }
}

fn next_json(
    name: &str,
    r: &mut Box<dyn BufRead>,
    line: &mut u64,
    buf: &mut Vec<u8>,
) -> Option<Result<Event>> {
    loop {
        buf.clear();
        *line += 1;
        let n = match r.by_ref().take(MAX_LINE + 1).read_until(b'\n', buf) {
            Ok(n) => n,
            Err(e) => return Some(Err(e).with_context(|| format!("cannot read {name}"))),
        };
        if n == 0 {
            return None;
        }
        if n as u64 > MAX_LINE {
            return Some(Err(anyhow::anyhow!(
                "{name}:{line}: a line longer than {} MiB is no pwru event",
                MAX_LINE >> 20
            )));
        }
        if buf.trim_ascii().is_empty() {
            continue;
        }
        return Some(
            serde_json::from_slice::<JsonEvent>(buf)
                .map(|j| j.to_event())
                .map_err(|e| anyhow::anyhow!("{name}:{line}: not a pwru JSON event: {e}")),
        );
    }
}

fn next_packet(
    name: &str,
    cap: &mut Capture<Box<dyn BufRead>>,
    packet: &mut u64,
) -> Option<Result<Event>> {
    let p = match cap.next()? {
        Ok(p) => p,
        Err(e) => return Some(Err(anyhow::Error::new(e).context(name.to_string()))),
    };
    *packet += 1;
    let data = cap.options().iter().find_map(|o| match o {
        PacketOption::Custom { pen, data, .. } if *pen == crate::pcapng::PEN => Some(data),
        _ => None,
    });
    let Some(data) = data else {
        return Some(Err(anyhow::anyhow!(
            "{name}: packet {packet} carries no pwru event (was the file written by pwru --output-pcap?)"
        )));
    };
    Some(
        crate::pcapng::parse_event_option(data)
            .map(|ev| crate::pcapng::with_bytes(ev, p.data, p.l3))
            .map_err(|e| anyhow::anyhow!("{name}: packet {packet}: {e}")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source_of(bytes: &[u8]) -> Result<Source> {
        let dir = std::env::temp_dir().join(format!(
            "pwru-source-{}-{:x}",
            std::process::id(),
            bytes.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t");
        std::fs::write(&p, bytes).unwrap();
        let s = open(&p, |r| r);
        std::fs::remove_dir_all(&dir).unwrap();
        s
    }

    fn all(mut s: Source) -> (Vec<Event>, Option<String>) {
        let mut v = Vec::new();
        while let Some(r) = s.next_event() {
            match r {
                Ok(ev) => v.push(ev),
                Err(e) => return (v, Some(format!("{e:#}"))),
            }
        }
        (v, None)
    }

    #[test]
    fn json_lines_come_back_until_damage() {
        let mut f = event::JsonFormatter::new(event::OutputOptions::default());
        let ev = Event {
            skb: 0xffff_0001,
            func: "ip_rcv".into(),
            ktime_ns: 5,
            ..Default::default()
        };
        let text = format!("{}\n{}{{\"skb\": 1}}\n", f.format(&ev), f.format(&ev));
        let s = source_of(text.as_bytes()).unwrap();
        assert_eq!(s.kind, Kind::Json);
        let (evs, err) = all(s);
        assert_eq!(evs, [ev.clone(), ev]);
        let err = err.unwrap();
        assert!(err.contains(":4: not a pwru JSON event"), "{err}");
    }

    #[test]
    fn what_is_no_saved_trace_is_named() {
        let e = |b: &[u8]| source_of(b).err().map(|e| format!("{e:#}")).unwrap();
        assert!(e(b"SKB                CPU").contains("text output"));
        assert!(e(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0]).contains("pcap file without pwru's events"));
        assert!(
            e(b"\x7fELF").contains(
                "neither pwru's JSON lines nor a pcapng file (it starts with 7f 45 4c 46)"
            )
        );
        assert!(all(source_of(b"").unwrap()).0.is_empty());
    }

    #[test]
    fn a_packet_without_an_event_is_refused() {
        let mut b = Vec::new();
        crate::pcapng::section_header(&mut b, "x", "");
        crate::pcapng::interface(
            &mut b,
            &crate::pcapng::Interface {
                link_type: crate::pcapng::LINKTYPE_RAW,
                name: "lo",
                description: "",
                snaplen: 0,
            },
        );
        let ev = Event {
            func: "ip_rcv".into(),
            packet: Some(event::Packet {
                start: event::PacketStart::L3,
                orig_len: 20,
                data: vec![0x45, 0],
            }),
            ..Default::default()
        };
        let json = crate::pcapng::event_option(&ev);
        for event in [Some(json.as_str()), None] {
            crate::pcapng::packet(
                &mut b,
                &crate::pcapng::Packet {
                    interface: 0,
                    ts_ns: 0,
                    data: &[0x45, 0],
                    orig_len: 20,
                    comments: &[],
                    event,
                },
            );
        }
        let s = source_of(&b).unwrap();
        assert_eq!(s.kind, Kind::Pcapng);
        let mut s = s;
        assert_eq!(
            s.next_event().unwrap().unwrap(),
            ev,
            "the event with its bytes"
        );
        let e = s.next_event().unwrap().unwrap_err().to_string();
        assert!(e.contains("packet 2 carries no pwru event"), "{e}");
        assert!(s.next_event().is_none());
    }
}
