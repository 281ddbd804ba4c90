//! Attach and detach progress on stderr: an indicatif bar on a terminal, plain lines otherwise (logs stay
//! readable).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
}

impl Progress {
    pub fn new(total: u64, backend: &str, what: &str) -> Self {
        if std::io::stderr().is_terminal() {
            let _ = what;
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:20}] {pos}/{len} attached, {msg} ignored",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(format!("pwru: {backend}"));
            bar.set_message("0");
            Self {
                bar: Some(bar),
                total,
            }
        } else {
            crate::say!("attaching {total} {what} ({backend})");
            Self { bar: None, total }
        }
    }

    pub fn update(&self, done: u64, ignored: u64) {
        if let Some(b) = &self.bar {
            b.set_position(done);
            b.set_message(ignored.to_string());
        }
    }

    pub fn finish(&self, attached: u64, ignored: u64, took: Duration) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        crate::say!(
            "{attached}/{} attached, {ignored} ignored ({} ms)",
            self.total,
            took.as_millis()
        );
    }
}

/// Detach progress on a terminal: a bar that appears once detaching has taken more than a moment (removing
/// plain kprobes takes about as long as attaching them), and the count a second Ctrl-C reports.
pub struct DetachProgress {
    bar: Option<ProgressBar>,
    shown: AtomicBool,
    t0: Instant,
    done: AtomicU64,
    total: u64,
}

/// How long detaching runs silently before the bar shows.
const QUIET: Duration = Duration::from_millis(300);

impl DetachProgress {
    /// `total` links or perf events of `backend` to close.
    pub fn new(total: u64, backend: &str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:20}] {pos}/{len} detached")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(format!("pwru: {backend}"));
            bar
        });
        Self {
            bar,
            shown: AtomicBool::new(false),
            t0: Instant::now(),
            done: AtomicU64::new(0),
            total,
        }
    }

    /// `done` of the total are closed (called from the detaching threads).
    pub fn update(&self, done: u64) {
        self.done.fetch_max(done, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            if self.t0.elapsed() > QUIET && !self.shown.swap(true, Ordering::Relaxed) {
                b.set_draw_target(ProgressDrawTarget::stderr());
            }
            b.set_position(done);
        }
    }

    /// (closed, total) so far.
    pub fn done(&self) -> (u64, u64) {
        (self.done.load(Ordering::Relaxed), self.total)
    }

    /// Clears the bar, so the summary line follows the last output.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
