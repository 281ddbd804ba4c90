//! The pwru binary's parts, as a library so benchmarks and tests can drive the decoder and sinks directly.
//!
//! Flow of a trace: `cli` (raw flags) → `plan` (checked, resolved) → `trace` (load, attach, stream, detach,
//! report) → `decode` (+ `kernel_values`, `lookups`, `ifnames`, `netns_names`, `process`, `clock`, Cilium's enricher) → `sink`
//! (text, JSON, TUI, pcapng, drops-only, summary, metrics, …). `filter_cmd` is `pwru filter`; `replay` is `pwru
//! replay` (a saved trace → the same sinks); `pcapng` encodes `--output-pcap`'s blocks; `manual` is `pwru
//! completions` and `pwru man`; `say` prints every stderr line; `privileges` and `progress` serve the plan and the
//! run, `rcu` its detach.

pub mod cli;
pub mod clock;
pub mod decode;
pub mod filter_cmd;
pub mod ifnames;
pub mod kernel_values;
pub mod lookups;
pub mod manual;
pub mod netns_names;
pub mod pcapng;
pub mod plan;
pub mod privileges;
pub mod process;
pub mod progress;
pub mod progs_report;
pub mod rcu;
pub mod replay;
pub mod say;
pub mod sink;
pub mod trace;
