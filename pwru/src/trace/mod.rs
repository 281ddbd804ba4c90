//! The trace run: plan ([`crate::plan`]), load, attach, stream events into the sinks ([`crate::sink`]) until a
//! signal, a sink's stop, `--output-limit-lines` or an error, then detach and report. Parts: [`startup`] (signals,
//! interruptible start-up) and [`pump`] (ring → decoder → sinks).
//!
//! Every way out after the probes are attached prints the summary line
//! (`N events produced, M lost, P printed`), errors included.

pub mod pump;
pub mod startup;

use crate::cli::TraceArgs;
use crate::clock::WallClock;
use crate::decode::Decoder;
use crate::plan::Plan;
use crate::progress::Progress;
use crate::say;
use crate::say::{is_broken_pipe, one_line};
use crate::sink::{self, Counts, Sink, Sinks, StopHandle};
use anyhow::{Context, Result, bail};
use pump::{Drained, Pump, WithStacks};
use startup::{Caught, Interrupted, Signals, Startup};
use std::time::Duration;
use tokio::io::unix::AsyncFd;

/// Why streaming ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Signal(Caught),
    /// A sink asked (the TUI's quit).
    Stopped,
    Limit,
}

/// `pwru [flags] [PCAP-FILTER]`: returns the exit code.
pub fn trace(args: TraceArgs) -> Result<i32> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let _enter = rt.enter();
    let mut start = Startup::new(&rt)?;
    match start_and_run(&rt, &mut start, args) {
        Err(e) if e.downcast_ref::<Interrupted>().is_some() => {
            let i = e.downcast_ref::<Interrupted>().expect("checked");
            say!("{i}");
            Ok(128 + i.signal.number)
        }
        r => r,
    }
}

fn start_and_run(
    rt: &tokio::runtime::Runtime,
    start: &mut Startup,
    args: TraceArgs,
) -> Result<i32> {
    let plan = start.run("checking the arguments", move |phase| {
        Plan::new(&args, phase)
    })??;
    for n in &plan.notes {
        say!("{n}");
    }
    let Plan {
        tracer: cfg,
        names,
        want,
        output,
        destination,
        cilium,
        ready_file,
        ..
    } = plan;
    let backend = cfg.backend;
    let track_skb = cfg.track_skb;
    let total = cfg.kprobes.len() + cfg.tracepoints.len();
    let what = if backend == probes::Backend::Tracepoint {
        "tracepoints"
    } else {
        "functions"
    };

    let tracer = start.run("loading the BPF programs", move |_| {
        probes::Tracer::load(cfg)
    })??;
    let progress = Progress::new(total as u64, backend.name(), what);
    let (mut tracer, stats, progress) = start.run("attaching the probes", move |_| {
        let mut tracer = tracer;
        let stats =
            tracer.attach(|done, _total, ignored| progress.update(done as u64, ignored as u64));
        (tracer, stats, progress)
    })?;
    let stats = stats?;
    progress.finish(
        stats.attached as u64,
        stats.ignored.len() as u64,
        stats.elapsed,
    );
    for ig in stats.ignored.iter().take(5) {
        say!("ignored {}: {}", ig.name, ig.reason);
    }
    if stats.ignored.len() > 5 {
        say!("… and {} more ignored", stats.ignored.len() - 5);
    }

    // From here on, every way out prints the summary line.
    let ring = tracer.take_ring().context("the tracer has no event ring")?;
    // SAFETY: the AsyncFd owns the ring, so its fd stays open for as long as it is registered.
    let mut ring = unsafe { AsyncFd::register(ring) }
        .map_err(|e| anyhow::anyhow!("cannot watch the event ring: {e}"))?;
    let mut pump = Pump {
        enrich: cilium,
        limit: output.limit,
        delivered: 0,
    };
    let stop = StopHandle::default();
    let mut sinks = Sinks::default();
    let live = (|| -> Result<End> {
        if stats.attached == 0 {
            bail!("no probe could be attached");
        }
        let attached = sink::Attached {
            backend,
            attached: stats.attached,
            track_skb,
        };
        sinks = sink::build(&output, destination, &attached, &stop)?;
        if let Some(p) = &ready_file {
            std::fs::write(p, b"")
                .with_context(|| format!("cannot write --ready-file {}", p.display()))?;
        }
        let mut dec = Decoder::new(
            WithStacks {
                syms: &names,
                tracer: &tracer,
            },
            WallClock::measure(),
            want,
        );
        rt.block_on(stream(
            &mut start.signals,
            &stop,
            &tracer,
            &mut ring,
            &mut pump,
            &mut dec,
            &mut sinks,
        ))
    })();

    // Links first: after this no new event is produced, and the kernel's counters are final.
    let det = tracer.detach();
    let mut errors = Vec::new();
    if let Ok(End::Signal(_)) = live {
        // What the kernel wrote before the links closed is still in the ring: hand it on too.
        let mut dec = Decoder::new(
            WithStacks {
                syms: &names,
                tracer: &tracer,
            },
            WallClock::measure(),
            want,
        );
        loop {
            match pump.drain(ring.get_mut(), &mut dec, &mut sinks) {
                Ok(Drained::More) => continue,
                Ok(_) => break,
                Err(e) => {
                    errors.push(e);
                    break;
                }
            }
        }
    }
    if let Err(e) = live {
        errors.insert(0, e);
    }
    let counts = Counts {
        produced: det.produced,
        lost: det.lost,
        delivered: pump.delivered,
    };
    for r in [sinks.flush(), sinks.finish(&counts)] {
        if let Err(e) = r {
            errors.push(e);
        }
    }
    // The TUI has left the screen: now the errors and the summary can be read.
    let mut code = 0;
    for e in &errors {
        // A reader that went away is no failure (`pwru | head`), but the summary says what it missed.
        if !is_broken_pipe(e) {
            say!("{}", one_line(e));
            code = 1;
        }
    }
    say!("{}", summary(&counts, sinks.printed(), det.elapsed));
    Ok(code)
}

/// Streams until a signal, a sink's stop, the line limit or an error.
async fn stream<L: crate::decode::Lookups>(
    signals: &mut Signals,
    stop: &StopHandle,
    tracer: &probes::Tracer,
    ring: &mut AsyncFd<probes::RingReader>,
    pump: &mut Pump,
    dec: &mut Decoder<L>,
    sinks: &mut Sinks,
) -> Result<End> {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            biased;
            s = signals.recv() => return Ok(End::Signal(s)),
            _ = stop.stopped() => return Ok(End::Stopped),
            _ = tick.tick() => sinks.tick(&Counts {
                produced: tracer.produced(),
                lost: tracer.lost(),
                delivered: pump.delivered,
            })?,
            g = ring.readable_mut() => {
                let mut g = g?;
                match pump.drain(g.get_inner_mut(), dec, sinks)? {
                    Drained::Limit => return Ok(End::Limit),
                    // Ready again only when the kernel writes more.
                    Drained::Empty => g.clear_ready(),
                    // Let the runtime look at its signal pipe and timers before the next batch.
                    Drained::More => tokio::task::yield_now().await,
                }
            }
        }
    }
}

/// `N events produced, M lost, P printed[, W not written][, U not read] (detached in T ms)`: every event
/// produced is lost, printed, not written (the output failed) or not read (the run stopped first).
fn summary(c: &Counts, printed: Option<u64>, detach: Duration) -> String {
    let printed = printed.unwrap_or(c.delivered);
    let mut s = format!(
        "{} events produced, {} lost, {printed} printed",
        c.produced, c.lost
    );
    let unwritten = c.delivered.saturating_sub(printed);
    if unwritten > 0 {
        s.push_str(&format!(", {unwritten} not written"));
    }
    let unread = c
        .produced
        .saturating_sub(c.lost)
        .saturating_sub(c.delivered);
    if unread > 0 {
        s.push_str(&format!(", {unread} not read"));
    }
    s.push_str(&format!(" (detached in {} ms)", detach.as_millis()));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_accounts_for_every_event() {
        let c = Counts {
            produced: 100,
            lost: 10,
            delivered: 80,
        };
        assert_eq!(
            summary(&c, Some(75), Duration::from_millis(3)),
            "100 events produced, 10 lost, 75 printed, 5 not written, 10 not read (detached in 3 ms)"
        );
        let c = Counts {
            produced: 5,
            lost: 0,
            delivered: 5,
        };
        assert_eq!(
            summary(&c, None, Duration::ZERO),
            "5 events produced, 0 lost, 5 printed (detached in 0 ms)"
        );
    }
}
