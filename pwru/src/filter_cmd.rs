//! `pwru filter`: the pcap compiler on its own, no tracing (and no root) needed.

use crate::cli::FilterArgs;
use anyhow::Result;

/// `pwru filter [--dump] [--read FILE] EXPR`.
pub fn run(f: &FilterArgs) -> Result<i32> {
    let expr = f.expr.join(" ");
    let out = match &f.read {
        Some(path) => pcap_filter::cli::read(path, &expr)?,
        // --dump is the default: with neither flag there is nothing else to show.
        None => pcap_filter::cli::dump(&expr)?,
    };
    let _ = f.dump;
    print!("{out}");
    if !out.is_empty() && !out.ends_with('\n') {
        println!();
    }
    Ok(0)
}
