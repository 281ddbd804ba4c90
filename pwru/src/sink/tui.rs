//! `--tui`: events go to the terminal UI (crate `tui`), which runs on its own thread until the user quits.

use super::{Counts, Sink, Source, StopHandle};
use crate::plan::Output;
use anyhow::Result;
use event::{Event, OutputOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// What the `--tui` status line and `w` export need.
pub fn config(output: &Output, max_packets: usize, a: &Source) -> ::tui::TuiConfig {
    ::tui::TuiConfig {
        max_packets,
        track_skb: a.track_skb,
        // `w` writes what the text output would print with the same flags (stacks whenever events carry them).
        text_options: OutputOptions {
            stack: true,
            ..output.options
        },
        status: ::tui::StatusInfo {
            backend: a.name.clone(),
            attached: a.attached,
            filter: output.filter_words.clone(),
            track_skb: a.track_skb,
            drops_only: output.drops_only.is_some(),
        },
        ..Default::default()
    }
}

/// Hands events to the UI without ever blocking the ring reader (what the UI cannot take is counted there).
/// Finishing (or dropping) it stops the UI and waits for it, so the terminal is restored before pwru prints
/// anything else. For a replay it waits for every event to be taken, and finishing waits for the user to quit.
pub struct TuiSink {
    /// Dropped when a replay has handed on its last event: the UI then says the source has stopped.
    tx: Option<::tui::EventSender>,
    replay: bool,
    counters: Arc<::tui::Counters>,
    shutdown: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<()>>>,
    /// Events handed to the UI.
    sent: u64,
}

impl TuiSink {
    /// Starts the UI thread; when the user quits, it asks the run to stop.
    /// For a replay, `replay` is the flag that ends the UI at once (a signal).
    pub fn start(
        cfg: ::tui::TuiConfig,
        replay: Option<Arc<AtomicBool>>,
        stop: StopHandle,
    ) -> Result<TuiSink> {
        let (tx, rx) = ::tui::event_channel(::tui::DEFAULT_CHANNEL_CAPACITY);
        let counters = Arc::new(::tui::Counters::default());
        let is_replay = replay.is_some();
        let shutdown = replay.unwrap_or_default();
        let (c, s) = (counters.clone(), shutdown.clone());
        let thread = std::thread::Builder::new()
            .name("pwru-tui".into())
            .spawn(move || {
                let r = ::tui::run(cfg, rx, c, s);
                stop.stop();
                r
            })?;
        Ok(TuiSink {
            tx: Some(tx),
            replay: is_replay,
            counters,
            shutdown,
            thread: Some(thread),
            sent: 0,
        })
    }

    /// Ends the UI: at once, or for a replay when the user quits.
    fn stop_ui(&mut self, now: bool) -> Result<()> {
        self.tx = None;
        if now {
            self.shutdown.store(true, Ordering::Relaxed);
        }
        match self.thread.take().map(|t| t.join()) {
            None => Ok(()),
            Some(Ok(r)) => r.map_err(|e| e.context("--tui")),
            Some(Err(_)) => anyhow::bail!("--tui: the terminal UI crashed"),
        }
    }
}

impl Sink for TuiSink {
    fn event(&mut self, ev: &Event) -> Result<()> {
        if let Some(tx) = &self.tx {
            if self.replay {
                tx.send_wait(ev.clone());
            } else {
                tx.send(ev.clone());
            }
            self.sent += 1;
        }
        Ok(())
    }

    fn tick(&mut self, c: &Counts) -> Result<()> {
        store(&self.counters, c);
        Ok(())
    }

    fn finish(&mut self, c: &Counts) -> Result<()> {
        store(&self.counters, c);
        self.stop_ui(!self.replay)
    }

    /// What the UI was given (it counts what it could not take itself, on screen).
    fn printed(&self) -> Option<u64> {
        Some(self.sent)
    }
}

/// The counters the status line shows.
fn store(to: &::tui::Counters, c: &Counts) {
    to.lost.store(c.lost, Ordering::Relaxed);
    to.untracked.store(c.untracked, Ordering::Relaxed);
    to.evicted.store(c.evicted, Ordering::Relaxed);
}

impl Drop for TuiSink {
    fn drop(&mut self) {
        let _ = self.stop_ui(true);
    }
}
