//! `pwru --tui`: a live terminal view of the kernel path of each packet, its drops and Cilium state.
//!
//! The pwru binary owns the tracer; this crate only consumes decoded [`event::Event`]s:
//! ```no_run
//! # use std::sync::{Arc, atomic::AtomicBool};
//! let (tx, rx) = tui::event_channel(tui::DEFAULT_CHANNEL_CAPACITY);
//! // reader thread: tx.send(event) — never blocks; what the UI cannot take is counted and shown.
//! let stats = Arc::new(tui::Counters::default()); // the binary bumps `lost` (ring-buffer losses)
//! let cfg = tui::TuiConfig::default();
//! tui::run(cfg, rx, stats, Arc::new(AtomicBool::new(false)))?; // returns when the user quits
//! # anyhow::Ok(())
//! ```
//! Layout: `model` (grouping, fate, eviction — pure), `fate` (name rules, from the `event` crate), `filter` (display filter), `app` (UI state
//! and keys — pure), `ui` (drawing), `term` (terminal setup/restore and the run loop).

#![deny(missing_docs)]

pub mod app;
pub mod export;
pub mod filter;
#[doc(hidden)]
pub mod fixtures;
pub mod model;
#[doc(hidden)]
pub mod snapshot;
pub mod term;
pub mod ui;

pub use app::StatusInfo;
/// The fate and packet-boundary rules, shared with pwru's drop views (they live in the `event` crate).
pub use event::fate;
pub use term::{LoopReport, check_terminal, run, run_with_backend};

use event::Event;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

/// Events buffered between the reader and the UI (about 20–40 MB at the worst).
pub const DEFAULT_CHANNEL_CAPACITY: usize = 65_536;
/// Packets kept by default (`--tui-max-packets`).
pub const DEFAULT_MAX_PACKETS: usize = 5_000;

/// What the binary tells the TUI before it starts.
#[derive(Clone, Debug)]
pub struct TuiConfig {
    /// Newest packets kept; older ones are evicted (and counted).
    pub max_packets: usize,
    /// `--filter-track-skb` is on: group clones/copies under their packet.
    pub track_skb: bool,
    /// The fixed part of the status line (backend, attach count, filter).
    pub status: StatusInfo,
    /// Where `w` writes files.
    pub write_dir: PathBuf,
    /// The text output's options, so `w` writes the lines `pwru` would print with the same flags.
    pub text_options: event::OutputOptions,
}

impl Default for TuiConfig {
    fn default() -> Self {
        Self {
            max_packets: DEFAULT_MAX_PACKETS,
            track_skb: false,
            status: StatusInfo::default(),
            write_dir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            text_options: event::OutputOptions {
                stack: true,
                ..Default::default()
            },
        }
    }
}

/// Tracer-side counters the status line shows live. The binary updates them; the TUI only reads.
#[derive(Debug, Default)]
pub struct Counters {
    /// Events lost in the kernel (ring buffer full).
    pub lost: AtomicU64,
    /// skbs `--filter-track-skb` could not remember (its table full).
    pub untracked: AtomicU64,
    /// Events `--drops-only` evicted (its caps).
    pub evicted: AtomicU64,
}

#[derive(Debug, Default)]
struct ChannelStats {
    offered: AtomicU64,
    dropped: AtomicU64,
}

/// The reader's end: `send` never blocks.
#[derive(Clone, Debug)]
pub struct EventSender {
    tx: SyncSender<Event>,
    stats: Arc<ChannelStats>,
}

impl EventSender {
    /// Queues the event for the UI. Returns false if it was dropped because the UI is behind (or paused), or gone.
    pub fn send(&self, ev: Event) -> bool {
        self.stats.offered.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(ev) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// Queues the event, waiting while the UI is behind (a replay, where nothing is lost by waiting). Returns false
    /// if the UI is gone.
    pub fn send_wait(&self, ev: Event) -> bool {
        self.stats.offered.fetch_add(1, Ordering::Relaxed);
        self.tx.send(ev).is_ok()
    }

    /// Events offered and events dropped so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.stats.offered.load(Ordering::Relaxed),
            self.stats.dropped.load(Ordering::Relaxed),
        )
    }
}

/// The UI's end, passed to [`run`].
#[derive(Debug)]
pub struct EventReceiver {
    rx: Receiver<Event>,
    stats: Arc<ChannelStats>,
}

impl EventReceiver {
    fn offered(&self) -> u64 {
        self.stats.offered.load(Ordering::Relaxed)
    }
    fn dropped(&self) -> u64 {
        self.stats.dropped.load(Ordering::Relaxed)
    }
}

/// A bounded channel from the event reader to the UI.
pub fn event_channel(capacity: usize) -> (EventSender, EventReceiver) {
    let (tx, rx) = sync_channel(capacity.max(1));
    let stats = Arc::new(ChannelStats::default());
    (
        EventSender {
            tx,
            stats: stats.clone(),
        },
        EventReceiver { rx, stats },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_never_blocks_and_counts_drops() {
        let (tx, rx) = event_channel(2);
        assert!(tx.send(Event::default()));
        assert!(tx.send(Event::default()));
        assert!(!tx.send(Event::default()));
        assert_eq!(tx.counts(), (3, 1));
        assert_eq!((rx.offered(), rx.dropped()), (3, 1));
        drop(rx);
        assert!(!tx.send(Event::default()));
        assert!(!tx.send_wait(Event::default()));
    }
}
