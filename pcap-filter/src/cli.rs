//! The work behind `pwru filter --dump EXPR` and `pwru filter --read FILE EXPR`: the listing, and whole captures
//! read into memory (for the differential test and the benchmark; `--read` streams with [`Capture`]).

use std::path::Path;

pub use crate::capture::{Capture, CaptureError, Packet};
use crate::{Program, disassemble};

/// Why a capture could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The capture cannot be opened.
    #[error("{path}: {source}")]
    Open {
        /// The file.
        path: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The capture cannot be read (to its end).
    #[error("{path}: {source}")]
    Capture {
        /// The file.
        path: String,
        /// What is wrong with it.
        #[source]
        source: CaptureError,
    },
}

/// Every packet of a pcap or pcapng file, or the first reason it cannot be read to its end.
pub fn read_capture(path: &Path) -> Result<Vec<Packet>, CliError> {
    let capture_err = |source| CliError::Capture {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(|source| CliError::Open {
        path: path.display().to_string(),
        source,
    })?;
    Capture::new(std::io::BufReader::with_capacity(1 << 16, file))
        .map_err(capture_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(capture_err)
}

/// The listing `--dump` prints: a summary line, then one instruction a line.
pub fn listing(p: &Program) -> String {
    format!(
        "; {} instructions, snaplen {}\n{}",
        p.insns.len(),
        p.snaplen,
        disassemble(p)
    )
}
