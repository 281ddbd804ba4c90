//! JSON lines: one object per event, no header.

use super::Sink;
use anyhow::Result;
use event::{Event, TextFormatter};
use std::io::Write;

pub struct JsonSink {
    fmt: TextFormatter,
    out: Box<dyn Write + Send>,
}

impl JsonSink {
    pub fn new(fmt: TextFormatter, out: Box<dyn Write + Send>) -> Self {
        Self { fmt, out }
    }
}

impl Sink for JsonSink {
    fn event(&mut self, ev: &Event) -> Result<()> {
        self.out.write_all(self.fmt.format_json(ev).as_bytes())?;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush()?;
        Ok(())
    }
}
