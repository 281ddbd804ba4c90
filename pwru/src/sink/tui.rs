//! `--tui`: events go to the terminal UI (crate `tui`), which runs on its own thread until the user quits.

use super::Sink;
use anyhow::Result;
use event::Event;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// Hands events to the UI without ever blocking the ring reader (what the UI cannot take is counted there).
pub struct TuiSink {
    tx: ::tui::EventSender,
}

impl Sink for TuiSink {
    fn event(&mut self, ev: &Event) -> Result<()> {
        self.tx.send(ev.clone());
        Ok(())
    }
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
}

/// The running UI. Dropping it (any exit path) stops the UI and waits for it, so the terminal is restored before
/// pwru prints anything else.
pub struct TuiHandle {
    pub counters: Arc<::tui::Counters>,
    shutdown: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<()>>>,
    /// Fires when the UI returns (the user quit).
    pub done: Option<oneshot::Receiver<()>>,
}

/// Starts the UI thread.
pub fn start(cfg: ::tui::TuiConfig) -> Result<(TuiSink, TuiHandle)> {
    let (tx, rx) = ::tui::event_channel(::tui::DEFAULT_CHANNEL_CAPACITY);
    let counters = Arc::new(::tui::Counters::default());
    let shutdown = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = oneshot::channel();
    let (c, s) = (counters.clone(), shutdown.clone());
    let thread = std::thread::Builder::new()
        .name("pwru-tui".into())
        .spawn(move || {
            let r = ::tui::run(cfg, rx, c, s);
            let _ = done_tx.send(());
            r
        })?;
    Ok((
        TuiSink { tx },
        TuiHandle {
            counters,
            shutdown,
            thread: Some(thread),
            done: Some(done_rx),
        },
    ))
}

impl TuiHandle {
    /// Stops the UI (if still running) and returns its error, if any.
    pub fn finish(mut self) -> Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> Result<()> {
        self.shutdown.store(true, Ordering::Relaxed);
        match self.thread.take().map(|t| t.join()) {
            None => Ok(()),
            Some(Ok(r)) => r,
            Some(Err(_)) => anyhow::bail!("the terminal UI crashed"),
        }
    }
}

impl Drop for TuiHandle {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Waits until the UI returns; never, without a UI.
pub async fn quit(done: &mut Option<oneshot::Receiver<()>>) {
    match done {
        Some(rx) => {
            let _ = rx.await;
        }
        None => std::future::pending::<()>().await,
    }
}
