//! `pwru filter`: the pcap compiler on its own, no tracing (and no root) needed.

use crate::cli::FilterArgs;
use crate::say;
use anyhow::{Context, Result};
use pcap_filter::capture::Capture;
use pcap_filter::{FilterError, Options, Program};
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// A refused expression (a pcap filter, a BTF expression), with the excerpt that points at the fault (shown on a
/// terminal under the error line).
#[derive(Debug)]
pub struct BadFilter {
    /// What the expression was given as: `filter` (the positional one), or a flag.
    what: String,
    err: FilterError,
    excerpt: Option<String>,
}

impl BadFilter {
    /// `err`, found in the pcap filter `expr`.
    pub fn new(expr: &str, err: FilterError) -> Self {
        Self::of("filter", expr, err)
    }

    /// `err`, found in `expr` given as `what` (`--filter-tunnel-pcap-l3`, `--filter-skb-expr`).
    pub fn of(what: impl Into<String>, expr: &str, err: FilterError) -> Self {
        BadFilter {
            what: what.into(),
            excerpt: err.excerpt(expr),
            err,
        }
    }

    /// The expression, and a caret under the column at fault.
    pub fn excerpt(&self) -> Option<&str> {
        self.excerpt.as_deref()
    }
}

impl std::fmt::Display for BadFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.what, self.err)
    }
}

impl std::error::Error for BadFilter {}

/// `pwru filter [--dump] [--read FILE] EXPR`: the listing, the numbers of the matching packets, or both.
/// Exits 1 after the matches when the capture is damaged, as tcpdump does.
pub fn run(f: &FilterArgs) -> Result<i32> {
    let expr = f.expr.join(" ");
    // Like `tcpdump -r`: a capture's packets come from no known network, so the netmask is 0.
    let opts = Options {
        netmask: f.read.as_ref().map(|_| 0),
    };
    let prog = pcap_filter::compile_with(&expr, &opts).map_err(|e| BadFilter::new(&expr, e))?;
    let mut out = Stdout(BufWriter::new(std::io::stdout().lock()));
    // --dump is the default: with neither flag there is nothing else to show.
    if f.dump || f.read.is_none() {
        out.write(pcap_filter::cli::listing(&prog).as_bytes())?;
    }
    let code = match &f.read {
        Some(path) => print_matches(&prog, path, &mut out)?,
        None => 0,
    };
    out.flush()?;
    Ok(code)
}

/// Standard output whose errors say so (a closed pipe still reads as `BrokenPipe`, which ends quietly).
struct Stdout<W>(W);

impl<W: Write> Stdout<W> {
    fn write(&mut self, b: &[u8]) -> Result<()> {
        self.0.write_all(b).context("cannot write to stdout")
    }
    fn flush(&mut self) -> Result<()> {
        self.0.flush().context("cannot write to stdout")
    }
}

/// Prints the 1-based numbers of the packets of `path` (`-`: stdin) that `prog` matches, one a line. At damage,
/// stops with the matches so far printed and a warning; returns the exit code.
fn print_matches(prog: &Program, path: &Path, out: &mut Stdout<impl Write>) -> Result<i32> {
    let (name, input): (String, Box<dyn Read>) = if path == Path::new("-") {
        ("stdin".into(), Box::new(std::io::stdin().lock()))
    } else {
        let name = path.display().to_string();
        // Opening a FIFO blocks until something writes to it: say so rather than wait in silence.
        if std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo()) {
            say!("--read {name} is a FIFO: waiting for a writer (Ctrl-C to stop)");
        }
        let file = std::fs::File::open(path).with_context(|| format!("--read {name}"))?;
        (name, Box::new(file))
    };
    let capture = Capture::new(std::io::BufReader::with_capacity(1 << 16, input))
        .with_context(|| name.clone())?;
    for (i, packet) in capture.enumerate() {
        let packet = match packet {
            Ok(p) => p,
            Err(e) => {
                out.flush()?;
                let _ = writeln!(std::io::stderr(), "pwru: warning: {name}: {e}");
                return Ok(1);
            }
        };
        let verdict =
            pcap_filter::interpret_with_len(prog, &packet.data, packet.wirelen, packet.l3)
                .with_context(|| {
                    format!(
                        "internal error: the filter program faulted on packet {}",
                        i + 1
                    )
                })?;
        if verdict != 0 {
            out.write(format!("{}\n", i + 1).as_bytes())?;
        }
    }
    Ok(0)
}
