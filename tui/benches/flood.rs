//! Flood benchmark: a producer thread offers synthetic events (the recorded ping/UDP-drop/NAT streams with fresh
//! skb addresses) at a fixed rate for a few seconds while the real run loop draws on a headless 200x60 TestBackend.
//! Prints, per rate, the UI thread's CPU time, frames drawn and the events the UI could not take.
//!
//! `cargo bench -p tui --bench flood` (or `-- 2` for 2-second runs).

use event::Event;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tui::term::Input;
use tui::{Counters, TuiConfig, event_channel, fixtures, run_with_backend};

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes only into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// One "round" of traffic: the three recorded streams, moved to fresh skb addresses and later times.
fn pool(rounds: usize) -> Vec<Event> {
    let base: Vec<Event> = fixtures::ping()
        .into_iter()
        .chain(fixtures::udp_no_socket())
        .chain(fixtures::nat_clone())
        .collect();
    let mut out = Vec::with_capacity(base.len() * rounds);
    for r in 0..rounds as u64 {
        for e in &base {
            let mut e = e.clone();
            e.skb = e.skb.wrapping_add((r + 1) << 20);
            e.ktime_ns += r * 3_000_000_000;
            e.wall_ns += r * 3_000_000_000;
            out.push(e);
        }
    }
    out
}

struct Row {
    rate: String,
    offered: u64,
    ingested: u64,
    dropped: u64,
    frames: u64,
    secs: f64,
    cpu: Duration,
}

fn run(rate: Option<u64>, secs: f64, events: Arc<Vec<Event>>) -> Row {
    let (tx, rx) = event_channel(tui::DEFAULT_CHANNEL_CAPACITY);
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (stop, events, tx) = (stop.clone(), events.clone(), tx.clone());
        std::thread::spawn(move || {
            let start = Instant::now();
            let mut sent = 0u64;
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                if let Some(rate) = rate {
                    let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
                    if sent >= due {
                        std::thread::sleep(Duration::from_micros(200));
                        continue;
                    }
                }
                for _ in 0..64 {
                    tx.send(events[i].clone());
                    i = (i + 1) % events.len();
                    sent += 1;
                }
            }
        })
    };
    let mut term = Terminal::new(TestBackend::new(200, 60)).unwrap();
    let counters = Counters::default();
    let shutdown = AtomicBool::new(false);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    // Stand-in for the terminal: no keys, but wait like crossterm's poll would.
    let mut input = |t: Duration| -> std::io::Result<Input> {
        let now = Instant::now();
        if now >= deadline {
            shutdown.store(true, Ordering::Relaxed);
            return Ok(Input::None);
        }
        std::thread::sleep(t.min(deadline - now));
        Ok(Input::None)
    };
    let cpu0 = thread_cpu();
    let report = run_with_backend(
        &mut term,
        TuiConfig::default(),
        &rx,
        &counters,
        &shutdown,
        &mut input,
    )
    .unwrap();
    let cpu = thread_cpu() - cpu0;
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    producer.join().unwrap();
    let (offered, dropped) = tx.counts();
    Row {
        rate: rate.map_or("unlimited".into(), |r| format!("{r}/s")),
        offered,
        ingested: report.ingested,
        dropped,
        frames: report.frames,
        secs: elapsed,
        cpu,
    }
}

/// Single-threaded costs that do not depend on scheduling: model ingest per event, and one full frame.
fn costs(events: &[Event]) {
    let mut app = tui::app::App::new(
        tui::model::Model::new(tui::model::ModelConfig::default()),
        tui::StatusInfo::default(),
        std::env::temp_dir(),
    );
    let t = Instant::now();
    let cpu0 = thread_cpu();
    for e in events {
        app.model.push(e.clone());
    }
    let cpu = (thread_cpu() - cpu0).as_secs_f64();
    let wall = t.elapsed().as_secs_f64();
    println!(
        "model ingest: {} events (incl. clone) in {:.3} s CPU = {:.2} µs/event = {:.0} events/s per core ({} packets kept, {} evicted)",
        events.len(),
        cpu,
        cpu * 1e6 / events.len() as f64,
        events.len() as f64 / cpu,
        app.model.len(),
        app.model.evicted
    );
    let _ = wall;
    let mut term = Terminal::new(TestBackend::new(200, 60)).unwrap();
    let n = 200;
    let cpu0 = thread_cpu();
    for _ in 0..n {
        app.refresh();
        term.draw(|f| tui::ui::draw(f, &mut app)).unwrap();
    }
    let per = (thread_cpu() - cpu0).as_secs_f64() / n as f64;
    println!(
        "frame (refresh + draw, 5000 packets kept, 200x60): {:.0} µs CPU = {:.1}% of one core at 30 fps",
        per * 1e6,
        per * 30.0 * 100.0
    );
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Resident memory of a model holding its full default event budget (200,000 events).
fn memory(events: &[Event]) {
    let before = rss_bytes();
    let mut m = tui::model::Model::new(tui::model::ModelConfig {
        max_packets: usize::MAX,
        ..Default::default()
    });
    let budget = m.config().max_events_total;
    for e in events.iter().cycle().take(budget) {
        m.push(e.clone());
    }
    let used = rss_bytes().saturating_sub(before);
    println!(
        "memory: {} events kept in {} packets: RSS +{:.1} MB = {:.0} bytes/event",
        m.events_kept,
        m.len(),
        used as f64 / 1e6,
        used as f64 / m.events_kept.max(1) as f64
    );
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    let secs: f64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3.0);
    let events = Arc::new(pool(2000));
    println!(
        "cpus {}, load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    memory(&events);
    costs(&events);
    println!(
        "flood benchmark: {secs} s per rate, 200x60 TestBackend, channel {} events, keep 5000 packets",
        tui::DEFAULT_CHANNEL_CAPACITY
    );
    println!(
        "{:>10} {:>12} {:>12} {:>12} {:>8} {:>8} {:>12} {:>10}",
        "rate", "offered", "ingested", "ui dropped", "drop %", "fps", "UI CPU s", "UI CPU %"
    );
    for rate in [
        Some(10_000),
        Some(100_000),
        Some(300_000),
        Some(1_000_000),
        None,
    ] {
        let r = run(rate, secs, events.clone());
        println!(
            "{:>10} {:>12} {:>12} {:>12} {:>7.2}% {:>8.1} {:>12.3} {:>9.1}%",
            r.rate,
            r.offered,
            r.ingested,
            r.dropped,
            100.0 * r.dropped as f64 / r.offered.max(1) as f64,
            r.frames as f64 / r.secs,
            r.cpu.as_secs_f64(),
            100.0 * r.cpu.as_secs_f64() / r.secs
        );
    }
}
