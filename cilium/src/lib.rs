//! Cilium datapath state read straight from the node's pinned BPF maps (no agent, no kubectl), in the map layouts
//! of Cilium 1.16, 1.17 and 1.18. Everything is read-only: maps are opened with `BPF_F_RDONLY` and `cilium_events`
//! is never opened.
//!
//! The model is what the tracer uses: map access ([`bpf`], [`node`]), the release and map catalog ([`version`]),
//! decoders per map ([`ct`], [`nat`], [`lb`], [`ipcache`], [`endpoint`], [`policy`], [`metrics`], [`nodeid`],
//! [`tunnel`], [`auth`]) and decoding by map name ([`entry`]), the datapath's lookups ([`lookup`]) and policy
//! decisions ([`verdict`]), and the trace-time correlation ([`correlate`], [`drops`]). The presentation of
//! `pwru cilium …` (tables and JSON) is [`cli`], which nothing in the model uses.

#![deny(missing_docs)]

pub mod auth;
pub mod bpf;
pub mod cli;
pub mod clock;
pub mod correlate;
pub mod ct;
pub mod drops;
pub mod endpoint;
pub mod entry;
pub mod error;
pub mod flow;
pub mod ipcache;
pub mod lb;
pub mod lookup;
pub mod metrics;
pub mod names;
pub mod nat;
pub mod node;
pub mod nodeid;
pub mod policy;
pub mod tunnel;
pub mod verdict;
pub mod version;
mod wire;

pub use cli::{Command, Common, Format, run};
pub use correlate::{Correlator, Enricher};
pub use drops::{DropDelta, MetricsSnapshot, drop_reason_from_metrics};
pub use error::Error;
pub use flow::FlowKey;
pub use version::Version;
pub use wire::SizeError;

/// Reads at most `limit` bytes of a text file (the agent's and the kernel's files are small; a huge one is not
/// theirs).
pub(crate) fn read_bounded(path: &str, limit: u64) -> std::io::Result<String> {
    use std::io::Read;
    let mut s = String::new();
    std::fs::File::open(path)?
        .take(limit)
        .read_to_string(&mut s)?;
    Ok(s)
}

#[cfg(test)]
mod golden_tests;
