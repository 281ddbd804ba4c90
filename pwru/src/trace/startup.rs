//! Signals, and a start-up that they can always interrupt.
//!
//! BTF parsing, target discovery, loading (the verifier) and attaching can each take seconds, and a read of a
//! wrong path (`--kernel-btf FIFO`) can wait forever. Each phase runs on a helper thread while the main thread
//! waits for it or for a signal. On a signal pwru exits at once: nothing needs undoing, since every program,
//! link and perf event it made is held by a file descriptor, and the kernel removes them when the process ends.
//! Attaching is the exception ([`Startup::run_cancellable`]): it stops at the next probe, and pwru detaches what
//! it attached, with progress, and prints the summary line, as at the end of a trace.

use anyhow::Result;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// A signal that ends pwru: SIGINT, SIGTERM, SIGHUP or SIGQUIT, all handled alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caught {
    pub name: &'static str,
    pub number: i32,
}

/// The signals pwru stops on, caught from [`Signals::install`] on (inside a tokio runtime).
pub struct Signals {
    int: Signal,
    term: Signal,
    hup: Signal,
    quit: Signal,
}

impl Signals {
    pub fn install() -> Result<Signals> {
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            quit: signal(SignalKind::quit())?,
        })
    }

    /// Waits for the next of them.
    pub async fn recv(&mut self) -> Caught {
        let (name, number) = tokio::select! {
            _ = self.int.recv() => ("SIGINT", libc::SIGINT),
            _ = self.term.recv() => ("SIGTERM", libc::SIGTERM),
            _ = self.hup.recv() => ("SIGHUP", libc::SIGHUP),
            _ = self.quit.recv() => ("SIGQUIT", libc::SIGQUIT),
        };
        Caught { name, number }
    }
}

/// A start-up phase ended by a signal.
#[derive(Debug)]
pub struct Interrupted {
    pub signal: Caught,
    /// What was being done.
    pub phase: &'static str,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "interrupted ({}) while {}: stopped before tracing began",
            self.signal.name, self.phase
        )
    }
}

impl std::error::Error for Interrupted {}

/// Runs start-up phases so that a signal ends them.
pub struct Startup<'a> {
    rt: &'a tokio::runtime::Runtime,
    pub signals: Signals,
    phase: Arc<Mutex<&'static str>>,
}

impl<'a> Startup<'a> {
    /// Installs the signal handlers (from here on SIGINT and the others no longer kill pwru outright).
    pub fn new(rt: &'a tokio::runtime::Runtime) -> Result<Startup<'a>> {
        let _enter = rt.enter();
        timing(format_args!("starting"));
        Ok(Startup {
            rt,
            signals: Signals::install()?,
            phase: Arc::new(Mutex::new("starting")),
        })
    }

    /// Runs `f` on a helper thread; `f` may name finer phases through its argument. A signal first makes this an
    /// [`Interrupted`] error, and the helper thread is left to die with the process.
    pub fn run<T: Send + 'static>(
        &mut self,
        phase: &'static str,
        f: impl FnOnce(&dyn Fn(&'static str)) -> T + Send + 'static,
    ) -> Result<T> {
        set(&self.phase, phase);
        let cell = self.phase.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("pwru-startup".into())
            .spawn(move || {
                let _ = tx.send(f(&|p| set(&cell, p)));
            })?;
        let signals = &mut self.signals;
        let cell = &self.phase;
        self.rt.block_on(async {
            tokio::select! {
                biased;
                s = signals.recv() => Err(Interrupted {
                    signal: s,
                    phase: *cell.lock().unwrap_or_else(|e| e.into_inner()),
                }
                .into()),
                r = rx => r.map_err(|_| anyhow::anyhow!("start-up ({phase}) failed unexpectedly")),
            }
        })
    }
}

impl Startup<'_> {
    /// Runs `f` on a helper thread until it returns, also after a signal: the signal sets the flag `f` is given
    /// (attaching stops starting new probes), and what `f` made is then undone by the caller, so nothing is left
    /// for the kernel to tear down after pwru is gone. Returns what `f` returned and the signal, if one came.
    pub fn run_cancellable<T: Send + 'static>(
        &mut self,
        phase: &'static str,
        f: impl FnOnce(&AtomicBool) -> T + Send + 'static,
    ) -> Result<(T, Option<Caught>)> {
        set(&self.phase, phase);
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("pwru-startup".into())
            .spawn(move || {
                let _ = tx.send(f(&flag));
            })?;
        let signals = &mut self.signals;
        self.rt.block_on(async {
            let mut caught = None;
            loop {
                tokio::select! {
                    biased;
                    s = signals.recv() => {
                        if caught.is_none() {
                            caught = Some(s);
                            cancel.store(true, Ordering::Relaxed);
                        }
                    }
                    r = &mut rx => {
                        return r
                            .map(|t| (t, caught))
                            .map_err(|_| anyhow::anyhow!("start-up ({phase}) failed unexpectedly"));
                    }
                }
            }
        })
    }
}

fn set(cell: &Mutex<&'static str>, phase: &'static str) {
    let mut now = cell.lock().unwrap_or_else(|e| e.into_inner());
    // A helper's first phase may repeat the name its caller started it under: one timing line for it.
    if *now != phase {
        timing(format_args!("{phase}"));
    }
    *now = phase;
}

/// `PWRU_STARTUP_TIMES=1` (for the benchmarks, tests/vm/guest/bench.sh): when each start-up phase began, in
/// seconds from the start of the trace, on stderr.
static TIMES: std::sync::OnceLock<Option<Instant>> = std::sync::OnceLock::new();

/// Prints `start-up +S.SSS s [rss R MB, peak P MB]: what` when `PWRU_STARTUP_TIMES` is set.
pub fn timing(what: std::fmt::Arguments<'_>) {
    let start =
        TIMES.get_or_init(|| std::env::var_os("PWRU_STARTUP_TIMES").map(|_| Instant::now()));
    if let Some(t0) = start {
        let secs = t0.elapsed().as_secs_f64();
        let (rss, peak) = memory();
        crate::say!("start-up +{secs:.3} s [rss {rss:.1} MB, peak {peak:.1} MB]: {what}");
    }
}

/// VmRSS and VmHWM in MB (0 where /proc/self/status does not say).
fn memory() -> (f64, f64) {
    use std::io::Read;
    let mut status = String::new();
    if let Ok(f) = std::fs::File::open("/proc/self/status") {
        let _ = f.take(64 << 10).read_to_string(&mut status);
    }
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (kb("VmRSS:"), kb("VmHWM:"))
}
