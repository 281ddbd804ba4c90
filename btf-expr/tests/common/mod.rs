//! Shared by the tests: the BTF blobs (committed kernel subsets and a hand-built one with every edge case),
//! a random generator of member paths, memory images and expressions, and a plain evaluator (the oracle) of
//! those expressions on those images. The generator derives offsets by walking the BTF itself, member by
//! member, so the compiler's name lookup, offsets, bitfields and byte order are checked against an
//! independent computation.
// Each test binary uses a part of it.
#![allow(dead_code, unused_imports)]

mod corpus;
mod image;
mod oracle;
mod walker;

pub use corpus::*;
pub use image::*;
pub use oracle::*;
pub use walker::*;
