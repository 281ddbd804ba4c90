//! `pwru filter`. (The trace run is in `trace`.)

use crate::cli::FilterArgs;
use anyhow::{Context, Result};
use std::io::Write;

/// `pwru filter [--dump] [--read FILE] EXPR`: the pcap compiler on its own, no tracing (and no root) needed.
pub fn filter_command(f: &FilterArgs) -> Result<i32> {
    let expr = f.expr.join(" ");
    let out = match &f.read {
        Some(path) => pcap_filter::cli::read(path, &expr)?,
        // --dump is the default: with neither flag there is nothing else to show.
        None => pcap_filter::cli::dump(&expr)?,
    };
    // Written, not print!ed: a closed or full stdout is an error to report, not a panic.
    let write = || -> std::io::Result<()> {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(out.as_bytes())?;
        if !out.is_empty() && !out.ends_with('\n') {
            stdout.write_all(b"\n")?;
        }
        stdout.flush()
    };
    write().context("cannot write stdout")?;
    Ok(0)
}
