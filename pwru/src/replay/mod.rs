//! `pwru replay FILE`: a saved trace read back ([`source`]: `--output-json` lines or an `--output-pcap` file),
//! filtered like a live run ([`select`]) and handed to the sinks a live run uses, so it prints the lines the live
//! run printed, as text, JSON, pcapng or in the TUI.
//!
//! Every way out prints the summary line (`N events read, M selected, P printed`), also after damage (the events
//! before it are printed, then the damage is named and the exit status is 1) and after a signal.

pub mod select;
pub mod source;

use crate::cli::ReplayArgs;
use crate::plan::output;
use crate::say;
use crate::sink::{self, Counts, Sink, StopHandle};
use anyhow::Result;
use select::Select;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// The signal that ended the replay (0: none).
static SIGNAL: AtomicI32 = AtomicI32::new(0);
/// Set with [`SIGNAL`]: what the TUI watches.
static STOP: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();

extern "C" fn on_signal(sig: libc::c_int) {
    // Only atomic stores: async-signal-safe.
    SIGNAL.store(sig, Ordering::Relaxed);
    if let Some(f) = STOP.get() {
        f.store(true, Ordering::Relaxed);
    }
}

/// SIGINT, SIGTERM, SIGHUP and SIGQUIT end the replay after the event being handled. Without SA_RESTART, so a
/// read waiting on a pipe returns and sees the signal ([`Interruptible`]).
fn install_signals() -> Arc<AtomicBool> {
    let flag = STOP.get_or_init(Default::default).clone();
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
        // SAFETY: a zeroed sigaction with a handler that only stores atomics.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
    flag
}

fn signalled() -> Option<i32> {
    Some(SIGNAL.load(Ordering::Relaxed)).filter(|&s| s != 0)
}

/// A read that a signal ends (an EINTR after the handler ran is an error, not a retry).
struct Interruptible(Box<dyn Read>);

impl Read for Interruptible {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.0.read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                    if signalled().is_some() {
                        return Err(std::io::Error::other("interrupted"));
                    }
                }
                r => return r,
            }
        }
    }
}

/// `pwru replay`: returns the exit code.
pub fn run(args: &ReplayArgs) -> Result<i32> {
    let expr = args.filter_expr();
    let mut select = Select::new(&args.select, expr.as_deref())?;
    let words = output::filter_words(expr, &args.select, [None, None]);
    let out = output::plan(&args.output, words, None)?;
    let stop_flag = install_signals();
    let mut src = match source::open(&args.file, |r| Box::new(Interruptible(r))) {
        Ok(s) => s,
        // Interrupted while waiting for the first bytes (a pipe with nothing in it yet).
        Err(_) if let Some(sig) = signalled() => {
            say!("interrupted ({})", signal_name(sig));
            say!("{}", summary(0, 0, None));
            return Ok(128 + sig);
        }
        Err(e) => return Err(e),
    };
    let dests = output::open_all(&out, &args.output)?;
    let source = sink::Source {
        name: format!("replay {}", src.name),
        attached: 0,
        track_skb: args.select.filter_track_skb,
        kernel_summary: false,
        replay: Some(stop_flag),
    };
    let stop = StopHandle::default();
    let mut sinks = sink::build(&out, dests, None, &source, &stop)?;

    let (mut read, mut selected, mut with_bytes) = (0u64, 0u64, 0u64);
    let mut errors = Vec::new();
    let mut batch = 0;
    while signalled().is_none() && !stop.is_stopped() && out.limit.is_none_or(|l| selected < l) {
        let ev = match src.next_event() {
            None => break,
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                if signalled().is_none() {
                    errors.push(e);
                }
                break;
            }
        };
        read += 1;
        with_bytes += ev.packet.is_some() as u64;
        if !select.keep(&ev) {
            continue;
        }
        selected += 1;
        if let Err(e) = sinks.event(&ev) {
            errors.push(e);
            break;
        }
        batch += 1;
        if batch == 4096 {
            batch = 0;
            if let Err(e) = sinks.flush() {
                errors.push(e);
                break;
            }
        }
    }
    let counts = Counts {
        produced: read,
        lost: 0,
        delivered: selected,
        ..Default::default()
    };
    let mut code = sinks.close(&counts, errors);
    if select.needs_bytes() && read > 0 && with_bytes == 0 {
        say!(
            "{}: no event carries packet bytes (traced without --output-pcap), so the pcap filter matched none; \
             select with --filter-func, --filter-netns, --filter-mark or --filter-ifname",
            src.name
        );
    }
    if let Some(sig) = signalled() {
        say!("interrupted ({})", signal_name(sig));
        code = 128 + sig;
    }
    say!("{}", summary(read, selected, sinks.printed()));
    Ok(code)
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        libc::SIGQUIT => "SIGQUIT",
        _ => "signal",
    }
}

/// `N events read, M selected, P printed[, W not written]`.
fn summary(read: u64, selected: u64, printed: Option<u64>) -> String {
    let printed = printed.unwrap_or(selected);
    let mut s = format!("{read} events read, {selected} selected, {printed} printed");
    if selected > printed {
        s.push_str(&format!(", {} not written", selected - printed));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts() {
        assert_eq!(
            summary(10, 4, Some(4)),
            "10 events read, 4 selected, 4 printed"
        );
        assert_eq!(
            summary(10, 4, Some(1)),
            "10 events read, 4 selected, 1 printed, 3 not written"
        );
        assert_eq!(summary(0, 0, None), "0 events read, 0 selected, 0 printed");
    }
}
