//! Live loss notices on a terminal: the first moment the ring buffer overflows is the moment to change flags.

use super::{Counts, Sink};
use crate::say;
use anyhow::Result;
use event::Event;

/// Says on stderr, at most once a tick, how many events were lost so far.
#[derive(Default)]
pub struct LossNotice {
    reported: u64,
}

impl Sink for LossNotice {
    fn event(&mut self, _: &Event) -> Result<()> {
        Ok(())
    }

    fn tick(&mut self, c: &Counts) -> Result<()> {
        if c.lost > self.reported {
            let full = c.lost - c.skipped;
            let why = match (full, c.skipped) {
                (_, 0) => "ring buffer full: try --ringbuf-size or a narrower filter".to_string(),
                (0, k) => {
                    format!("{k} probe runs skipped by the kernel: a probe fired inside another")
                }
                (f, k) => format!(
                    "{f} with the ring buffer full, {k} probe runs skipped by the kernel: a probe fired inside another"
                ),
            };
            say!("{} events lost so far ({why})", c.lost);
            self.reported = c.lost;
        }
        Ok(())
    }
}
