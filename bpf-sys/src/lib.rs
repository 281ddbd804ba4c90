//! Typed wrappers over the `bpf(2)` and `perf_event_open(2)` calls the workspace makes itself, beside aya.
//!
//! aya 0.14 cannot load a program with an arbitrary `expected_attach_type`/`attach_btf_id`, create kprobe-multi
//! links or read pinned maps of unknown layout; `probes`, `cilium` and the tests do that through this crate. The
//! attribute and info structs are the kernel's own, as bound by [`uapi`] (`aya_obj::generated`).
//!
//! ```no_run
//! use bpf_sys::{map::{Map, MapSpec}, uapi::bpf_map_type};
//! let map = Map::create(&MapSpec::new(bpf_map_type::BPF_MAP_TYPE_HASH, "demo", 4, 8, 16))?;
//! map.update(&1u32.to_ne_bytes(), &7u64.to_ne_bytes(), 0)?;
//! assert_eq!(map.get(&1u32.to_ne_bytes())?, Some(7u64.to_ne_bytes().to_vec()));
//! # Ok::<(), bpf_sys::Error>(())
//! ```
//!
//! Every call returns [`Error`]: which command failed, with the kernel's [`Errno`] as its source.
#![deny(missing_docs)]

mod error;
pub mod link;
pub mod map;
pub mod obj;
pub mod perf;
pub mod prog;
pub mod rlimit;
mod sys;

pub use aya_obj::generated as uapi;
pub use error::{Errno, Error};
