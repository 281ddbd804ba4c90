//! Where decoded events go. The run hands every event to one [`Sinks`] fan-out and knows nothing of what is
//! behind it: text or JSON lines ([`lines`]), the TUI ([`tui`]), pcapng ([`pcap`]), the live loss notice
//! ([`loss`]), `--drops-only` ([`drops_only`], which holds events and hands the dropped packets' paths to the
//! printers behind it), `--summary` and the counting behind `--metrics` ([`summary`], over [`tally`]), the metrics
//! endpoint ([`metrics`]), side by side. [`paths`] groups events into packets for the drop views. [`writer`] counts
//! what the streams wrote.
//!
//! A sink is told about each event, is flushed after each batch, sees the kernel's counters about once a second
//! ([`Sink::tick`]) and once more at the end ([`Sink::finish`], after the probes are detached). A sink that wants
//! the run to end (the TUI's quit key) calls [`StopHandle::stop`] from any thread. An error from a sink ends the
//! run; the summary line is printed all the same.
//!
//! Adding a sink: implement [`Sink`] in a module here, and push it in [`build`] when the plan asks for it.

pub mod drops_only;
pub mod lines;
pub mod loss;
pub mod metrics;
pub mod paths;
pub mod pcap;
pub mod summary;
pub mod tally;
pub mod tui;
pub mod writer;

use crate::plan::{Destinations, Format, Metrics, Output};
use crate::say;
use crate::say::{is_broken_pipe, one_line};
use anyhow::Result;
use event::{Event, JsonFormatter, TextFormatter};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

/// The kernel's counters and the run's own, as a sink sees them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Events the probes produced (selected by the filters), plus the probe runs the kernel skipped.
    pub produced: u64,
    /// Events lost: those the ring buffer had no room for, plus the skipped runs.
    pub lost: u64,
    /// Of `lost`, the probe runs the kernel skipped because another BPF program was running on that CPU
    /// (`recursion_misses`): each may have been an event.
    pub skipped: u64,
    /// Events read from the ring and handed to the sinks.
    pub delivered: u64,
    /// skbs `--filter-track-skb` could not remember (its table full).
    pub untracked: u64,
    /// Events `--drops-only` evicted (its caps), as the printers behind it are told.
    pub evicted: u64,
    /// Of `produced`, events the kernel counted and did not ship (a summary-only run).
    pub summed: u64,
}

/// What `--drops-only` held back from the printers, for the summary line: every event it was given is printed (by
/// the printers), `not_dropped` or `evicted`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// Dropped packets whose paths were handed on.
    pub paths: u64,
    /// Events of packets not seen to be dropped (ended normally, or still in flight at the end), and events after
    /// a drop (release helpers).
    pub not_dropped: u64,
    /// Events evicted by the caps.
    pub evicted: u64,
}

impl Counts {
    /// The counters of `tracer` now, with `delivered` events handed on.
    pub fn of(tracer: &probes::Tracer, delivered: u64) -> Counts {
        let skipped = tracer.recursion_misses();
        Counts {
            produced: tracer.produced() + skipped,
            lost: tracer.lost() + skipped,
            skipped,
            delivered,
            untracked: tracer.track_overflows(),
            evicted: 0,
            summed: tracer.summed(),
        }
    }
}

/// One consumer of decoded events.
pub trait Sink {
    /// Takes one event (buffering is fine: [`Sink::flush`] follows each batch).
    fn event(&mut self, ev: &Event) -> Result<()>;
    /// Pushes buffered output out: after each batch of events, and before [`Sink::finish`].
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
    /// About once a second while tracing.
    fn tick(&mut self, _counts: &Counts) -> Result<()> {
        Ok(())
    }
    /// In a summary-only run, what the kernel counted (before each [`Sink::tick`] and before [`Sink::finish`]).
    fn kernel(&mut self, _counts: &tally::KernelCounts) {}
    /// The run is over and the counters are final: restore the terminal, write trailers.
    fn finish(&mut self, _counts: &Counts) -> Result<()> {
        Ok(())
    }
    /// For sinks that print every event: how many were written out completely (the summary's "printed").
    fn printed(&self) -> Option<u64> {
        None
    }
    /// For sinks that hold events back from the printers behind them (`--drops-only`): what they held.
    fn held(&self) -> Option<Held> {
        None
    }
}

/// Every sink of the run, itself a sink. The first sink that prints events gives the summary its count.
#[derive(Default)]
pub struct Sinks {
    sinks: Vec<Box<dyn Sink>>,
}

impl Sinks {
    /// Adds a sink; events reach sinks in the order they were added.
    pub fn push(&mut self, s: Box<dyn Sink>) {
        self.sinks.push(s);
    }

    /// Ends the run (a trace or a replay): flushes and finishes every sink, then says each error of the run and of
    /// the sinks on stderr, after the TUI has left the screen. Returns the exit code so far: 1 after an error.
    pub fn close(&mut self, counts: &Counts, mut errors: Vec<anyhow::Error>) -> i32 {
        for r in [self.flush(), self.finish(counts)] {
            if let Err(e) = r {
                errors.push(e);
            }
        }
        let mut code = 0;
        for e in &errors {
            // A reader that went away is no failure (`pwru | head`), but the summary says what it missed.
            if !is_broken_pipe(e) {
                say!("{}", one_line(e));
                code = 1;
            }
        }
        code
    }
}

impl Sink for Sinks {
    fn event(&mut self, ev: &Event) -> Result<()> {
        self.sinks.iter_mut().try_for_each(|s| s.event(ev))
    }
    fn flush(&mut self) -> Result<()> {
        self.sinks.iter_mut().try_for_each(|s| s.flush())
    }
    fn tick(&mut self, c: &Counts) -> Result<()> {
        self.sinks.iter_mut().try_for_each(|s| s.tick(c))
    }
    fn kernel(&mut self, k: &tally::KernelCounts) {
        self.sinks.iter_mut().for_each(|s| s.kernel(k))
    }
    /// Finishes every sink, also after one failed (each may hold a terminal or a file); the first error wins.
    fn finish(&mut self, c: &Counts) -> Result<()> {
        let mut first = Ok(());
        for s in &mut self.sinks {
            let r = s.finish(c);
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
    fn printed(&self) -> Option<u64> {
        self.sinks.iter().find_map(|s| s.printed())
    }
    fn held(&self) -> Option<Held> {
        self.sinks.iter().find_map(|s| s.held())
    }
}

/// Lets a sink end the run, from any thread.
#[derive(Clone, Debug, Default)]
pub struct StopHandle(Arc<StopInner>);

#[derive(Debug, Default)]
struct StopInner {
    notify: tokio::sync::Notify,
    asked: std::sync::atomic::AtomicBool,
}

impl StopHandle {
    /// Asks the run to stop (it detaches, finishes the sinks and prints the summary).
    pub fn stop(&self) {
        self.0
            .asked
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.0.notify.notify_one();
    }

    /// Waits until a sink asked to stop (also when it asked before the wait began).
    pub async fn stopped(&self) {
        self.0.notify.notified().await
    }

    /// Whether a sink asked to stop (for loops that do not wait: a replay).
    pub fn is_stopped(&self) -> bool {
        self.0.asked.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// What the sinks need to know about where the events come from.
pub struct Source {
    /// The backend (`tracepoint`), or `replay FILE`.
    pub name: String,
    /// Probes attached (0 for a replay).
    pub attached: usize,
    /// `--filter-track-skb`.
    pub track_skb: bool,
    /// The kernel counts for the summary and ships only drops ([`probes::Tracer::summarizing`]).
    pub kernel_summary: bool,
    /// A replay, and the flag its signal handler sets: the TUI takes every event, stays up after the last one
    /// until the user quits, and ends at once when the flag is set.
    pub replay: Option<Arc<std::sync::atomic::AtomicBool>>,
}

/// The sinks the plan asks for. Text and JSON write their header (if any) now, pcapng its section header; the
/// metrics endpoint starts serving.
pub fn build(
    output: &Output,
    destinations: Destinations,
    metrics: Option<Metrics>,
    source: &Source,
    stop: &StopHandle,
) -> Result<Sinks> {
    let writer: Option<lines::SharedWriter> = destinations
        .lines
        .map(|d| std::rc::Rc::new(std::cell::RefCell::new(writer::Writer::new(d))));
    let mut printers = Sinks::default();
    if output.events {
        match (&output.format, &writer) {
            (Format::Tui { max_packets }, _) => {
                let cfg = tui::config(output, *max_packets, source);
                printers.push(Box::new(tui::TuiSink::start(
                    cfg,
                    source.replay.clone(),
                    stop.clone(),
                )?));
            }
            (Format::Text, Some(w)) => printers.push(Box::new(lines::LineSink::new(
                TextFormatter::new(output.options),
                w.clone(),
            )?)),
            (Format::Json, Some(w)) => printers.push(Box::new(lines::LineSink::new(
                JsonFormatter::new(output.options),
                w.clone(),
            )?)),
            (_, None) => {}
        }
    }
    // Beside the printers, also under --summary alone; behind --drops-only, it holds the dropped paths only.
    if let (Some(opts), Some(d)) = (output.pcap, destinations.pcap) {
        printers.push(Box::new(pcap::PcapSink::new(
            writer::Writer::new(d),
            opts,
            concat!("pwru ", env!("CARGO_PKG_VERSION")),
        )?));
    }
    let mut sinks = Sinks::default();
    match output.drops_only {
        Some(caps) => sinks.push(Box::new(drops_only::DropsOnly::new(
            printers,
            caps,
            output.limit,
            stop.clone(),
        ))),
        None => sinks.sinks.append(&mut printers.sinks),
    }
    // After the printers, so the TUI has left the screen before the summary is written.
    if output.summary.is_some() || metrics.is_some() {
        let stats = Arc::new(Mutex::new(summary::Stats {
            tally: tally::Tally::new(metrics.as_ref().map_or(0, |m| m.max_series).max(4096)),
            counts: Counts::default(),
            attached: source.attached,
            track_skb: source.track_skb,
        }));
        let printer = match (output.summary, writer) {
            (None, _) => None,
            (Some(s), Some(out)) => Some(summary::Printer {
                out,
                json: output.format == Format::Json,
                interval: s.interval,
            }),
            // The plan refuses this before attaching.
            (Some(_), None) => anyhow::bail!("--summary: stdout carries the pcapng"),
        };
        sinks.push(Box::new(summary::TallySink::new(
            stats.clone(),
            printer,
            source.kernel_summary,
        )));
        if let Some(m) = metrics {
            let info = metrics::Info {
                backend: source.name.clone(),
                max_series: m.max_series,
                cilium: output.cilium,
            };
            sinks.push(Box::new(metrics::MetricsSink::start(
                m.listener, stats, info,
            )?));
        }
    }
    if !matches!(output.format, Format::Tui { .. }) && std::io::stderr().is_terminal() {
        sinks.push(Box::new(loss::LossNotice::default()));
    }
    Ok(sinks)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what it was told; fails on the event numbered `fail_at`.
    #[derive(Default)]
    struct Probe {
        seen: std::rc::Rc<std::cell::RefCell<Vec<String>>>,
        fail_at: Option<usize>,
        printed: Option<u64>,
    }

    impl Sink for Probe {
        fn event(&mut self, ev: &Event) -> Result<()> {
            let mut seen = self.seen.borrow_mut();
            seen.push(ev.func.clone());
            if self.fail_at == Some(seen.len()) {
                anyhow::bail!("full");
            }
            Ok(())
        }
        fn tick(&mut self, c: &Counts) -> Result<()> {
            self.seen.borrow_mut().push(format!("tick {}", c.lost));
            Ok(())
        }
        fn finish(&mut self, c: &Counts) -> Result<()> {
            self.seen
                .borrow_mut()
                .push(format!("finish {}", c.produced));
            anyhow::ensure!(self.fail_at.is_none(), "finish failed");
            Ok(())
        }
        fn printed(&self) -> Option<u64> {
            self.printed
        }
    }

    #[test]
    fn fan_out_in_order_and_first_printer_counts() {
        let (a, b) = (
            Probe::default(),
            Probe {
                printed: Some(7),
                ..Default::default()
            },
        );
        let (seen_a, seen_b) = (a.seen.clone(), b.seen.clone());
        let mut s = Sinks::default();
        s.push(Box::new(a));
        s.push(Box::new(b));
        let ev = Event {
            func: "ip_rcv".into(),
            ..Default::default()
        };
        s.event(&ev).unwrap();
        s.tick(&Counts {
            lost: 3,
            ..Default::default()
        })
        .unwrap();
        s.finish(&Counts {
            produced: 9,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(*seen_a.borrow(), ["ip_rcv", "tick 3", "finish 9"]);
        assert_eq!(*seen_a.borrow(), *seen_b.borrow());
        assert_eq!(s.printed(), Some(7));
    }

    #[test]
    fn an_error_stops_the_event_but_every_sink_is_finished() {
        let a = Probe {
            fail_at: Some(1),
            ..Default::default()
        };
        let b = Probe::default();
        let (seen_a, seen_b) = (a.seen.clone(), b.seen.clone());
        let mut s = Sinks::default();
        s.push(Box::new(a));
        s.push(Box::new(b));
        assert!(s.event(&Event::default()).is_err());
        assert!(
            seen_b.borrow().is_empty(),
            "the run stops at the first error"
        );
        let e = s.finish(&Counts::default()).unwrap_err();
        assert_eq!(e.to_string(), "finish failed");
        assert_eq!(seen_a.borrow().last().unwrap(), "finish 0");
        assert_eq!(seen_b.borrow().last().unwrap(), "finish 0");
    }

    #[test]
    fn stop_before_the_wait_is_not_lost() {
        let h = StopHandle::default();
        h.clone().stop();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(5), h.stopped())
                .await
                .expect("a stop asked before the wait must end it");
        });
    }
}
