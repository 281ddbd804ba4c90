//! Text or JSON lines (any [`event::Formatter`]) on stdout or in `--output-file`, counting exactly which events
//! reached the file: when stdout closes or the disk fills, the summary says how many were printed.

use super::Sink;
use crate::plan::Destination;
use anyhow::{Context, Result};
use event::{Event, Formatter};
use std::io::Write;
use std::os::fd::AsFd;

/// Writes buffered output and counts the events whose bytes were all written.
pub struct Writer {
    name: String,
    out: Box<dyn Write>,
    buf: Vec<u8>,
    /// Where each buffered event ends in `buf`.
    ends: std::collections::VecDeque<usize>,
    /// Bytes of `buf` already written.
    done: usize,
    printed: u64,
    /// After a write error nothing more is written: the run is ending and the count must stay exact.
    failed: bool,
}

/// Buffered bytes beyond which an event write flushes by itself.
const FLUSH_AT: usize = 1 << 16;

impl Writer {
    pub fn new(dest: Destination) -> Writer {
        let name = dest.name();
        let out: Box<dyn Write> = match dest {
            // Not io::stdout(): its LineWriter would copy every byte once more.
            Destination::Stdout => match std::io::stdout().as_fd().try_clone_to_owned() {
                Ok(fd) => Box::new(std::fs::File::from(fd)),
                Err(_) => Box::new(std::io::stdout()),
            },
            Destination::File { file, .. } => Box::new(file),
        };
        Writer::to(name, out)
    }

    /// A writer to `out`, named `name` in errors.
    pub fn to(name: String, out: Box<dyn Write>) -> Writer {
        Writer {
            name,
            out,
            buf: Vec::with_capacity(FLUSH_AT * 2),
            ends: Default::default(),
            done: 0,
            printed: 0,
            failed: false,
        }
    }

    /// Buffers one event's bytes; flushes when the buffer is full.
    pub fn event(&mut self, bytes: &[u8]) -> Result<()> {
        if self.failed {
            return Ok(());
        }
        self.buf.extend_from_slice(bytes);
        self.ends.push_back(self.buf.len());
        if self.buf.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    /// Buffers bytes that are no event (a header).
    pub fn other(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub fn flush(&mut self) -> Result<()> {
        if self.failed {
            return Ok(());
        }
        let r = self.write_out();
        if r.is_err() {
            self.failed = true;
        }
        r.with_context(|| format!("cannot write to {}", self.name))
    }

    fn write_out(&mut self) -> std::io::Result<()> {
        while self.done < self.buf.len() {
            match self.out.write(&self.buf[self.done..]) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.done += n;
                    while self.ends.front().is_some_and(|&e| e <= self.done) {
                        self.ends.pop_front();
                        self.printed += 1;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.buf.clear();
        self.done = 0;
        self.out.flush()
    }

    /// Events written out completely.
    pub fn printed(&self) -> u64 {
        self.printed
    }
}

/// A writer the event lines and the summary share (the summary follows the events in the same file).
pub type SharedWriter = std::rc::Rc<std::cell::RefCell<Writer>>;

/// Events as lines of one format.
pub struct LineSink<F> {
    fmt: F,
    out: SharedWriter,
    line: String,
}

impl<F: Formatter> LineSink<F> {
    /// Writes the format's header line, if it has one.
    pub fn new(fmt: F, out: SharedWriter) -> Result<Self> {
        if let Some(h) = fmt.header() {
            let mut w = out.borrow_mut();
            w.other(h.as_bytes());
            w.other(b"\n");
            w.flush()?;
        }
        Ok(Self {
            fmt,
            out,
            line: String::with_capacity(512),
        })
    }
}

impl<F: Formatter> Sink for LineSink<F> {
    fn event(&mut self, ev: &Event) -> Result<()> {
        self.line.clear();
        self.fmt.format_into(ev, &mut self.line);
        self.out.borrow_mut().event(self.line.as_bytes())
    }

    fn flush(&mut self) -> Result<()> {
        self.out.borrow_mut().flush()
    }

    fn printed(&self) -> Option<u64> {
        Some(self.out.borrow().printed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use event::{OutputOptions, TextFormatter};

    /// Takes `room` bytes, a few at a time, then fails like a full disk.
    struct Small {
        room: usize,
        got: std::rc::Rc<std::cell::RefCell<Vec<u8>>>,
    }

    impl Write for Small {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if self.room == 0 {
                return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
            }
            let n = b.len().min(self.room).min(7);
            self.room -= n;
            self.got.borrow_mut().extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn counts_only_events_written_whole() {
        let got = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let w = Writer::to(
            "--output-file /x".into(),
            Box::new(Small {
                room: 25,
                got: got.clone(),
            }),
        );
        let mut w = w;
        for _ in 0..4 {
            w.event(b"0123456789\n").unwrap();
        }
        let e = w.flush().unwrap_err();
        assert_eq!(w.printed(), 2, "22 of 25 bytes are two whole lines");
        assert!(
            e.to_string().contains("cannot write to --output-file /x"),
            "{e}"
        );
        assert!(format!("{e:#}").contains("No space left"), "{e:#}");
        assert_eq!(got.borrow().len(), 25);
        // Nothing more is written or counted after the error.
        w.event(b"x\n").unwrap();
        w.flush().unwrap();
        assert_eq!((w.printed(), got.borrow().len()), (2, 25));
    }

    #[test]
    fn header_is_no_event() {
        let got = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let w = Writer::to(
            "stdout".into(),
            Box::new(Small {
                room: 1 << 20,
                got: got.clone(),
            }),
        );
        let w = std::rc::Rc::new(std::cell::RefCell::new(w));
        let mut s = LineSink::new(TextFormatter::new(OutputOptions::default()), w).unwrap();
        s.event(&Event {
            func: "ip_rcv".into(),
            ..Default::default()
        })
        .unwrap();
        s.flush().unwrap();
        assert_eq!(s.printed(), Some(1));
        let text = String::from_utf8(got.borrow().clone()).unwrap();
        assert!(
            text.starts_with("SKB ") && text.trim_end().ends_with("ip_rcv"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 2);
    }
}
