//! The trace command: check, discover, attach, stream, detach.

use crate::cli::{FilterArgs, TraceArgs};
use anyhow::{Result, bail};

pub fn filter_command(_f: &FilterArgs) -> Result<i32> {
    bail!("`pwru filter` is not available yet: the pcap compiler is not wired into this build")
}

pub fn cilium_command(_args: &[String]) -> Result<i32> {
    bail!("`pwru cilium` is not available yet in this build")
}

pub fn trace(args: TraceArgs) -> Result<i32> {
    crate::privileges::check()?;
    let _ = args;
    bail!("tracing is not wired yet")
}
