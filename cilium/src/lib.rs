//! Cilium datapath state read straight from the node's pinned BPF maps (no agent, no kubectl): decoders for the
//! map layouts of Cilium 1.16, 1.17 and 1.18, the `pwru cilium …` commands, and the trace correlator.
//!
//! Everything here is read-only: maps are opened with `BPF_F_RDONLY` and `cilium_events` is never opened.

pub mod bpf;
pub mod clock;
pub mod cmd;
pub mod correlate;
pub mod ct;
pub mod endpoint;
pub mod flow;
pub mod ipcache;
pub mod lb;
pub mod lookup;
pub mod metrics;
pub mod misc;
pub mod names;
pub mod node;
pub mod policy;
pub mod table;
pub mod version;
mod wire;

pub use cmd::{Command, Common, Format, run};
pub use correlate::{Correlator, DropDelta, Enricher, MetricsSnapshot, drop_reason_from_metrics};
pub use flow::FlowKey;
pub use version::Version;
pub use wire::SizeError;

#[cfg(test)]
mod golden_tests;
