//! Try the TUI without root or a kernel: replays the recorded streams (ping across a veth, a UDP datagram dropped
//! with NO_SOCKET, a Cilium-NAT'ed DNS query with its clone) with fresh skb addresses, a few packets a second.
//!
//! `cargo run -p tui --example demo [-- --rate EVENTS_PER_SEC] [--panic-after-ms N]`
//! `--panic-after-ms` panics inside the UI loop, to check that the terminal is restored on a panic.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use tui::term::{crossterm_input, enter, run_with_backend};
use tui::{Counters, StatusInfo, TuiConfig, event_channel, fixtures};

fn arg(name: &str) -> Option<u64> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

fn main() -> anyhow::Result<()> {
    let rate = arg("--rate").unwrap_or(200).max(1);
    let panic_after = arg("--panic-after-ms").map(Duration::from_millis);
    tui::check_terminal()?;
    let (tx, rx) = event_channel(tui::DEFAULT_CHANNEL_CAPACITY);
    std::thread::spawn(move || {
        let base: Vec<event::Event> = fixtures::ping()
            .into_iter()
            .chain(fixtures::udp_no_socket())
            .chain(fixtures::nat_clone())
            .collect();
        for round in 0u64.. {
            for e in &base {
                let mut e = e.clone();
                e.skb = e.skb.wrapping_add((round + 1) << 20);
                e.ktime_ns += round * 3_000_000_000;
                e.wall_ns += round * 3_000_000_000;
                tx.send(e);
                std::thread::sleep(Duration::from_secs_f64(1.0 / rate as f64));
            }
        }
    });
    let cfg = TuiConfig {
        track_skb: true,
        status: StatusInfo {
            backend: "demo".into(),
            attached: 0,
            filter: "(recorded streams)".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    let (mut term, _restore) = enter()?;
    let t0 = Instant::now();
    let mut input = |t: Duration| {
        if panic_after.is_some_and(|p| t0.elapsed() >= p) {
            panic!("demo: panic inside the UI loop as asked (--panic-after-ms)");
        }
        crossterm_input(t)
    };
    run_with_backend(
        &mut term,
        cfg,
        &rx,
        &Counters::default(),
        &AtomicBool::new(false),
        &mut input,
    )?;
    Ok(())
}
