//! Where decoded events go: text or JSON lines, on stdout or in `--output-file`.

pub mod json;
pub mod text;
pub mod tui;

use anyhow::{Context, Result};
use event::{Event, TextFormatter, TextOptions};
use std::io::Write;
use std::path::Path;

pub trait Sink {
    /// Writes one event (buffered).
    fn event(&mut self, ev: &Event) -> Result<()>;
    /// Pushes buffered output out (called when the ring buffer is drained, and at exit).
    fn flush(&mut self) -> Result<()>;
}

/// stdout, or the `--output-file` (created/truncated).
pub fn open_writer(path: Option<&Path>) -> Result<Box<dyn Write + Send>> {
    Ok(match path {
        Some(p) => Box::new(std::io::BufWriter::with_capacity(
            1 << 16,
            std::fs::File::create(p)
                .with_context(|| format!("cannot create --output-file {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::with_capacity(
            1 << 16,
            std::io::stdout(),
        )),
    })
}

/// Builds the sink the options ask for and writes its header.
pub fn new_sink(
    json: bool,
    opts: TextOptions,
    out: Box<dyn Write + Send>,
) -> Result<Box<dyn Sink + Send>> {
    let f = TextFormatter::new(opts);
    Ok(if json {
        Box::new(json::JsonSink::new(f, out))
    } else {
        Box::new(text::TextSink::new(f, out)?)
    })
}

/// A stdout that went away (`pwru | head`) ends the run quietly, like other Unix tools.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}
