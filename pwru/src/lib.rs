//! The pwru binary's parts, as a library so benchmarks and tests can drive the decoder and sinks directly.

pub mod cli;
pub mod clock;
pub mod decode;
pub mod filter_cmd;
pub mod filters;
pub mod ifnames;
pub mod lookups;
pub mod privileges;
pub mod process;
pub mod progress;
pub mod run;
pub mod sink;
