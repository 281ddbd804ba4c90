//! Kernel BTF for tests, independent of the `symbols` crate they check: a reader for real blobs (the running
//! kernel's, the `.BTF` of our BPF objects) and a writer for hand-built ones (base and split). Tests of a BTF
//! parser of their own import [`write`](mod@write)`::*`: the writer and the kinds, without this reader's [`Btf`].

pub mod kind;
mod read;
pub mod write;

pub use kind::*;
pub use read::{Btf, SkbSite, Ty};
pub use write::{Base, BtfBuilder, base};
