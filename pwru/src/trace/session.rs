//! A run with its probes attached: stream into the sinks, then detach, drain, finish the sinks and report. Every
//! way out of here prints the summary line.

use super::pump::{Drained, Pump, WithStacks};
use super::startup::{Caught, Signals};
use crate::clock::WallClock;
use crate::decode::{Decoder, Learned, Lookups, Want};
use crate::lookups::Symbols;
use crate::plan::{Destinations, Metrics, Output};
use crate::progress::DetachProgress;
use crate::say;
use crate::sink::tally::KernelCounts;
use crate::sink::{self, Counts, Held, Sink, Sinks, Source, StopHandle};
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
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

/// Everything the run needs once the probes are attached.
pub struct Session {
    pub tracer: probes::Tracer,
    pub source: Source,
    pub names: Symbols,
    pub want: Want,
    pub pump: Pump,
    pub output: Output,
    pub metrics: Option<Metrics>,
    pub ready_file: Option<PathBuf>,
    /// Detach with expedited RCU grace periods ([`crate::rcu`]).
    pub expedite_detach: bool,
    pub sinks: Sinks,
    pub stop: StopHandle,
}

impl Session {
    /// Streams until a signal, a sink's stop, the line limit or an error, then ends the run; returns the exit code.
    pub fn run(
        mut self,
        rt: &tokio::runtime::Runtime,
        signals: &mut Signals,
        destinations: Destinations,
    ) -> i32 {
        let ring = self
            .tracer
            .take_ring()
            .context("the tracer has no event ring")
            // SAFETY: the AsyncFd owns the ring, so its fd stays open for as long as it is registered.
            .and_then(|r| unsafe { AsyncFd::register(r) }.context("cannot watch the event ring"));
        let (live, ring) = match ring {
            Ok(mut ring) => (self.live(rt, signals, &mut ring, destinations), Some(ring)),
            Err(e) => (Err(e), None),
        };
        self.end(rt, signals, live, ring)
    }

    /// The functions of the kernel's counters in a summary-only run.
    fn kernel_names(&self) -> Option<Vec<String>> {
        self.tracer.summarizing().then(|| {
            crate::plan::kernel_summary::names(self.tracer.config(), &self.names.tracepoints)
        })
    }

    /// Ends a run interrupted while attaching: what was attached is detached (with progress) and the summary
    /// line printed, as after a trace; nothing was streamed.
    pub fn interrupted(mut self, rt: &tokio::runtime::Runtime, signals: &mut Signals) {
        let det = self.detach(rt, signals);
        let c = counts(&det, 0, self.tracer.track_overflows());
        let track = self.source.track_skb.then_some(c.untracked);
        say!("{}", summary(&c, Some(0), None, track, det.elapsed));
    }

    /// Detaches on a helper thread, showing progress, while this thread answers signals: another Ctrl-C says what
    /// is still being undone (ending now would leave the kernel to remove the rest after pwru is gone).
    fn detach(
        &mut self,
        rt: &tokio::runtime::Runtime,
        signals: &mut Signals,
    ) -> probes::DetachStats {
        let total = self.tracer.attached_links() as u64;
        let progress = DetachProgress::new(total, &self.source.name);
        let _expedited = self.expedite_detach.then(crate::rcu::Expedited::start);
        let tracer = &mut self.tracer;
        let det = std::thread::scope(|s| {
            let (tx, mut rx) = tokio::sync::oneshot::channel();
            let progress = &progress;
            s.spawn(move || {
                let det = tracer.detach_with(&|done, _| progress.update(done as u64));
                let _ = tx.send(det);
            });
            rt.block_on(async {
                loop {
                    tokio::select! {
                        biased;
                        r = &mut rx => return r.ok(),
                        s = signals.recv() => {
                            let (done, total) = progress.done();
                            say!(
                                "{}: still detaching, {} of {total} probes left to remove (the kernel waits for \
                                 each); pwru ends when they are gone",
                                s.name,
                                total - done
                            );
                        }
                    }
                }
            })
        });
        progress.finish();
        // The helper cannot fail to send unless it panicked; then detach once more here (it is idempotent).
        det.unwrap_or_else(|| self.tracer.detach())
    }

    fn live(
        &mut self,
        rt: &tokio::runtime::Runtime,
        signals: &mut Signals,
        ring: &mut AsyncFd<probes::RingReader>,
        destinations: Destinations,
    ) -> Result<(End, Learned)> {
        if self.source.attached == 0 {
            bail!("no probe could be attached");
        }
        self.sinks = sink::build(
            &self.output,
            destinations,
            self.metrics.take(),
            &self.source,
            &self.stop,
        )?;
        if let Some(p) = &self.ready_file {
            std::fs::write(p, b"")
                .with_context(|| format!("cannot write --ready-file {}", p.display()))?;
        }
        let lookups = WithStacks {
            syms: &self.names,
            tracer: &self.tracer,
            progs: self.tracer.prog_table(),
        };
        let mut dec = Decoder::new(lookups, WallClock::measure(), self.want);
        let src = Feed {
            tracer: &self.tracer,
            say_changes: !matches!(self.output.format, crate::plan::Format::Tui { .. }),
            kernel_names: self.kernel_names(),
        };
        let end = rt.block_on(stream(
            signals,
            &self.stop,
            src,
            ring,
            &mut self.pump,
            &mut dec,
            &mut self.sinks,
        ))?;
        Ok((end, dec.into_learned()))
    }

    /// Detaches, hands on what is left in the ring after a signal, finishes the sinks, reports errors and the
    /// summary.
    fn end(
        mut self,
        rt: &tokio::runtime::Runtime,
        signals: &mut Signals,
        live: Result<(End, Learned)>,
        ring: Option<AsyncFd<probes::RingReader>>,
    ) -> i32 {
        // Links first: after this no new event is produced, and the kernel's counters are final.
        let det = self.detach(rt, signals);
        let mut errors = Vec::new();
        let (live, learned) = match live {
            Ok((end, learned)) => (Ok(end), Some(learned)),
            Err(e) => (Err(e), None),
        };
        if let (Ok(End::Signal(_)), Some(mut ring), Some(learned)) = (&live, ring, learned) {
            // What the kernel wrote before the links closed is still in the ring: hand it on too, named as the
            // live stream named it.
            let lookups = WithStacks {
                syms: &self.names,
                tracer: &self.tracer,
                progs: self.tracer.prog_table(),
            };
            let mut dec = Decoder::resume(lookups, self.want, learned);
            if let Err(e) = self
                .pump
                .drain_all(ring.get_mut(), &mut dec, &mut self.sinks)
            {
                errors.push(e);
            }
        }
        if let Err(e) = live {
            errors.insert(0, e);
        }
        let counts = counts(&det, self.pump.delivered, self.tracer.track_overflows());
        if let Some(names) = self.kernel_names() {
            self.sinks.kernel(&kernel_counts(&self.tracer, &names));
        }
        let code = self.sinks.close(&counts, errors);
        let track = self.source.track_skb.then_some(counts.untracked);
        say!(
            "{}",
            summary(
                &counts,
                self.sinks.printed(),
                self.sinks.held(),
                track,
                det.elapsed
            )
        );
        code
    }
}

/// The tracer, and whether the BPF programs it traces or lets go while running are said on stderr (not while
/// the TUI holds the terminal).
struct Feed<'a> {
    tracer: &'a probes::Tracer,
    say_changes: bool,
    /// The functions of the kernel's counters, when it counts (a summary-only run).
    kernel_names: Option<Vec<String>>,
}

/// Streams until a signal, a sink's stop, the line limit or an error.
async fn stream<L: Lookups>(
    signals: &mut Signals,
    stop: &StopHandle,
    src: Feed<'_>,
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
            _ = tick.tick() => {
                let tracer = src.tracer;
                for ev in tracer.prog_events() {
                    if src.say_changes {
                        say!("{}", crate::progs_report::change(&ev));
                    }
                }
                if let Some(names) = &src.kernel_names {
                    sinks.kernel(&kernel_counts(tracer, names));
                    // Counting in the kernel, the probes do not wake us for the drops they ship (ring_wakeup() in
                    // probes/bpf/handle.h): read them here, after the counts, so that this tick's summary has the
                    // drop of every packet counted so far.
                    if pump.drain_all(ring.get_mut(), dec, sinks)? == Drained::Limit {
                        return Ok(End::Limit);
                    }
                }
                sinks.tick(&Counts::of(tracer, pump.delivered))?
            }
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

/// The final counters: [`Counts::of`] as read by [`probes::Tracer::detach`].
fn counts(det: &probes::DetachStats, delivered: u64, untracked: u64) -> Counts {
    Counts {
        produced: det.produced + det.recursion_misses,
        lost: det.lost + det.recursion_misses,
        skipped: det.recursion_misses,
        delivered,
        untracked,
        evicted: 0,
        summed: det.summed,
    }
}

/// What the kernel counted in a summary-only run, by the names of its targets.
fn kernel_counts(tracer: &probes::Tracer, names: &[String]) -> KernelCounts {
    KernelCounts {
        functions: names
            .iter()
            .cloned()
            .zip(tracer.function_events())
            .collect(),
        packets: tracer.packets(),
        untracked: tracer.paths_full(),
    }
}

/// `N events produced, M lost, P printed[ (D drop paths), X not in a drop path, E evicted (--drops-only caps)][, W
/// not written][, K skbs untracked (…)][, U not read] (detached in T ms)`: every event produced is lost, printed,
/// held back by --drops-only, not written (the output failed) or not read (the run stopped first). Without a
/// printer (`--summary` alone) the events are `counted` (`(K in the kernel)`: counted there, not shipped).
/// `untracked` is given with --filter-track-skb.
fn summary(
    c: &Counts,
    printed: Option<u64>,
    held: Option<Held>,
    untracked: Option<u64>,
    detach: Duration,
) -> String {
    let mut s = format!("{} events produced, {} lost, ", c.produced, c.lost);
    let mut accounted = match (printed, held) {
        (Some(p), _) => {
            s.push_str(&format!("{p} printed"));
            p
        }
        (None, None) if c.summed > 0 => {
            let n = c.delivered + c.summed;
            s.push_str(&format!("{n} counted ({} in the kernel)", c.summed));
            n
        }
        (None, None) => {
            s.push_str(&format!("{} counted", c.delivered));
            c.delivered
        }
        (None, Some(_)) => {
            s.push_str("0 printed");
            0
        }
    };
    if let Some(h) = held {
        s.push_str(&format!(
            " ({} drop paths), {} not in a drop path, {} evicted (--drops-only caps)",
            h.paths, h.not_dropped, h.evicted
        ));
        accounted += h.not_dropped + h.evicted;
    }
    let unwritten = c.delivered.saturating_sub(accounted);
    if unwritten > 0 {
        s.push_str(&format!(", {unwritten} not written"));
    }
    if let Some(n) = untracked {
        s.push_str(&format!(
            ", {n} skbs untracked (--filter-track-skb table full)"
        ));
    }
    let unread = c
        .produced
        .saturating_sub(c.lost)
        .saturating_sub(c.delivered)
        .saturating_sub(c.summed);
    if unread > 0 {
        s.push_str(&format!(", {unread} not read"));
    }
    if c.skipped > 0 {
        s.push_str(&format!(
            "; {} of the lost are probe runs the kernel skipped (a probe fired inside another)",
            c.skipped
        ));
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
            skipped: 0,
            delivered: 80,
            ..Default::default()
        };
        assert_eq!(
            summary(&c, Some(75), None, None, Duration::from_millis(3)),
            "100 events produced, 10 lost, 75 printed, 5 not written, 10 not read (detached in 3 ms)"
        );
        let c = Counts {
            produced: 5,
            lost: 0,
            skipped: 0,
            delivered: 5,
            ..Default::default()
        };
        assert_eq!(
            summary(&c, None, None, Some(2), Duration::ZERO),
            "5 events produced, 0 lost, 5 counted, 2 skbs untracked (--filter-track-skb table full) (detached in 0 ms)"
        );
        let c = Counts {
            produced: 50,
            lost: 1,
            delivered: 4,
            summed: 45,
            ..Default::default()
        };
        assert_eq!(
            summary(&c, None, None, None, Duration::ZERO),
            "50 events produced, 1 lost, 49 counted (45 in the kernel) (detached in 0 ms)"
        );
        let held = Held {
            paths: 2,
            not_dropped: 60,
            evicted: 5,
        };
        assert_eq!(
            summary(
                &Counts {
                    produced: 80,
                    delivered: 80,
                    ..Default::default()
                },
                Some(12),
                Some(held),
                None,
                Duration::ZERO
            ),
            "80 events produced, 0 lost, 12 printed (2 drop paths), 60 not in a drop path, 5 evicted (--drops-only caps), 3 not written (detached in 0 ms)"
        );
        let det = probes::DetachStats {
            produced: 10,
            lost: 1,
            recursion_misses: 2,
            ..Default::default()
        };
        assert_eq!(
            summary(&counts(&det, 9, 0), Some(9), None, None, Duration::ZERO),
            "12 events produced, 3 lost, 9 printed; 2 of the lost are probe runs the kernel skipped (a probe \
             fired inside another) (detached in 0 ms)"
        );
    }
}
