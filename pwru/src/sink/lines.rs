//! Text or JSON lines (any [`event::Formatter`]) on stdout or in `--output-file`, counting exactly which events
//! reached the file ([`Writer`]): when stdout closes or the disk fills, the summary says how many were printed.

use super::Sink;
use super::writer::Writer;
use anyhow::Result;
use event::{Event, Formatter};

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
    use super::super::writer::test_out::Small;
    use super::*;
    use event::{OutputOptions, TextFormatter};

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
