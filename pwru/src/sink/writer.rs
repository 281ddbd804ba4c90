//! Buffered output that knows which events reached it: every sink that writes a stream (lines, pcapng) counts
//! through it, so that when stdout closes or the disk fills the summary says exactly what was written, and a file
//! is cut back to its last whole event (a line, a packet block), so what was written stays readable.

use crate::plan::Destination;
use anyhow::{Context, Result};
use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;

/// Writes buffered output and counts the events whose bytes were all written.
pub struct Writer {
    name: String,
    out: Box<dyn Write>,
    /// The same file when it is a regular one: what is cut back after a failed write.
    file: Option<File>,
    buf: Vec<u8>,
    /// Where each buffered unit ends in `buf`, and whether it is an event (else a header).
    ends: VecDeque<(usize, bool)>,
    /// Bytes of `buf` already written.
    done: usize,
    /// Bytes written before `buf`'s.
    base: u64,
    /// Where the last whole unit ends in the output.
    whole: u64,
    printed: u64,
    /// After a write error nothing more is written: the run is ending and the count must stay exact.
    failed: bool,
}

/// Buffered bytes beyond which an event write flushes by itself.
const FLUSH_AT: usize = 1 << 16;

impl Writer {
    /// A writer to `dest`, named as the destination names itself in errors.
    pub fn new(dest: Destination) -> Writer {
        let name = dest.name();
        match dest {
            // Not io::stdout(): its LineWriter would copy every byte once more.
            Destination::Stdout => match std::io::stdout().as_fd().try_clone_to_owned() {
                Ok(fd) => Writer::to(name, Box::new(File::from(fd))),
                Err(_) => Writer::to(name, Box::new(std::io::stdout())),
            },
            Destination::File { file, .. } => {
                let regular = file.metadata().is_ok_and(|m| m.is_file());
                let cut = regular.then(|| file.try_clone().ok()).flatten();
                let mut w = Writer::to(name, Box::new(file));
                w.file = cut;
                w
            }
        }
    }

    /// A writer to `out`, named `name` in errors.
    pub fn to(name: String, out: Box<dyn Write>) -> Writer {
        Writer {
            name,
            out,
            file: None,
            buf: Vec::with_capacity(FLUSH_AT * 2),
            ends: Default::default(),
            done: 0,
            base: 0,
            whole: 0,
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
        self.ends.push_back((self.buf.len(), true));
        if self.buf.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    /// Buffers bytes that are no event (a header).
    pub fn other(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.ends.push_back((self.buf.len(), false));
    }

    /// Writes out what is buffered. After an error, a regular file is cut back to its last whole unit.
    pub fn flush(&mut self) -> Result<()> {
        if self.failed {
            return Ok(());
        }
        let r = self.write_out();
        if r.is_err() {
            self.failed = true;
            if let Some(f) = &self.file {
                // Best effort: the write error is what gets reported.
                let _ = f.set_len(self.whole);
            }
        }
        r.with_context(|| format!("cannot write to {}", self.name))
    }

    fn write_out(&mut self) -> std::io::Result<()> {
        while self.done < self.buf.len() {
            match self.out.write(&self.buf[self.done..]) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.done += n;
                    while let Some(&(end, event)) = self.ends.front()
                        && end <= self.done
                    {
                        self.ends.pop_front();
                        self.whole = self.base + end as u64;
                        self.printed += event as u64;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.base += self.buf.len() as u64;
        self.buf.clear();
        self.done = 0;
        self.out.flush()
    }

    /// Events written out completely.
    pub fn printed(&self) -> u64 {
        self.printed
    }
}

/// Outputs for tests.
#[cfg(test)]
pub mod test_out {
    use std::io::Write;

    /// Takes `room` bytes, a few at a time, then fails like a full disk.
    pub struct Small {
        pub room: usize,
        pub got: std::rc::Rc<std::cell::RefCell<Vec<u8>>>,
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
}

#[cfg(test)]
mod tests {
    use super::test_out::Small;
    use super::*;

    #[test]
    fn counts_only_events_written_whole() {
        let got = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut w = Writer::to(
            "--output-file /x".into(),
            Box::new(Small {
                room: 25,
                got: got.clone(),
            }),
        );
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

    /// A real file whose writes fail part-way through a unit, as on a full disk: the partial unit is cut off.
    #[test]
    fn a_regular_file_is_cut_back_to_its_last_whole_event() {
        let dir = std::env::temp_dir().join(format!("pwru-writer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out");
        struct Failing {
            f: File,
            room: usize,
        }
        impl Write for Failing {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                if self.room == 0 {
                    return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
                }
                let n = b.len().min(self.room);
                self.room -= n;
                self.f.write(&b[..n])
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let f = File::create(&path).unwrap();
        let mut w = Writer::to(
            "--output-pcap x".into(),
            Box::new(Failing {
                f: f.try_clone().unwrap(),
                room: 4 + 6 + 6 + 3,
            }),
        );
        w.file = Some(f);
        w.other(b"head");
        w.event(b"first\n").unwrap();
        w.flush().unwrap();
        w.event(b"secnd\n").unwrap();
        w.event(b"third\n").unwrap();
        assert!(w.flush().is_err());
        assert_eq!(w.printed(), 2);
        assert_eq!(std::fs::read(&path).unwrap(), b"headfirst\nsecnd\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
