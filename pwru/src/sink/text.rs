//! pwru-compatible plain text.

use super::Sink;
use anyhow::Result;
use event::{Event, TextFormatter};
use std::io::Write;

pub struct TextSink {
    fmt: TextFormatter,
    out: Box<dyn Write + Send>,
    line: String,
}

impl TextSink {
    pub fn new(fmt: TextFormatter, mut out: Box<dyn Write + Send>) -> Result<Self> {
        writeln!(out, "{}", fmt.header())?;
        Ok(Self {
            fmt,
            out,
            line: String::with_capacity(512),
        })
    }
}

impl Sink for TextSink {
    fn event(&mut self, ev: &Event) -> Result<()> {
        self.line.clear();
        self.fmt.format_into(ev, &mut self.line);
        self.out.write_all(self.line.as_bytes())?;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush()?;
        Ok(())
    }
}
