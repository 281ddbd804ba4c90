//! The fixtures pwru's tests and benches share (a dev-dependency only; nothing here reaches the tool).
//!
//! Layout: [`cmd`] runs commands and fails a test that cannot run (`need_root`, `need_tool`); [`netns`] is the
//! netns + veth pair every traffic test uses; [`mount`] mounts a private bpffs or tracefs; [`paths`] finds the
//! workspace, the pwru binary, cargo artifacts and the shared filter corpus; [`pwru`] starts and stops the real
//! binary; [`golden`] compares with golden files (`UPDATE_GOLDEN=1`); [`libpcap`] is the oracle of the filter
//! compiler; [`btf`] reads and writes BTF; [`bpf`] lists the BPF objects a process holds, for leak checks;
//! [`flood`] is the ping flood the kernel-cost benches time.
//!
//! Tests that need root, the kernel or tools beyond cargo are `#[ignore = "<what they need>"]`, so that a plain
//! `cargo test` is green for any user; `tests/run.sh` runs them all with `--include-ignored`, and there a test
//! that cannot do its check fails (the `need_*` helpers panic), it never skips.

#![deny(missing_docs)]

pub mod bpf;
pub mod btf;
pub mod cmd;
pub mod flood;
pub mod golden;
pub mod libpcap;
pub mod mount;
pub mod netns;
pub mod paths;
pub mod pwru;

pub use bpf::serial;
pub use cmd::{
    as_nobody, is_root, need_root, need_tool, output, proptest_cases, run, sh, tshark,
    tshark_fields, tshark_frames,
};
pub use golden::assert_golden;
pub use mount::Mount;
pub use netns::NetnsPair;
pub use paths::{TempDir, cargo_build, corpus_expressions, pcap_corpus, pwru_bin, workspace_root};
