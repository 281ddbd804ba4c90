//! Attach progress on stderr: an indicatif bar on a terminal, plain lines otherwise (logs stay readable).

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

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
