//! Terminal setup and restore, and the run loop: drain the event channel within a time budget, redraw at most
//! ~30 times a second, handle keys. The loop is generic over the ratatui backend so the benchmark and tests drive
//! it headless.

use crate::app::{Action, App};
use crate::model::{Model, ModelConfig};
use crate::{Counters, EventReceiver, TuiConfig, ui};
use anyhow::{Context, bail};
use ratatui::Terminal;
use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::crossterm::event::{self as cevent, Event as CEvent, KeyEvent};
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::crossterm::{cursor, execute};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::TryRecvError;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

/// Minimum time between two frames (~30 per second).
pub const FRAME: Duration = Duration::from_millis(33);
/// Longest the loop spends draining events before it draws and reads keys again.
const DRAIN_BUDGET: Duration = Duration::from_millis(20);

/// Fails with a one-line reason when `--tui` cannot work here.
pub fn check_terminal() -> anyhow::Result<()> {
    if !std::io::stdout().is_terminal() {
        bail!(
            "--tui needs a terminal: standard output is not a tty (drop --tui to get text output)"
        );
    }
    if !std::io::stdin().is_terminal() {
        bail!("--tui needs a terminal: standard input is not a tty (keys cannot be read)");
    }
    Ok(())
}

/// Whether the terminal is in TUI mode; the panic hook restores it only then.
static ACTIVE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

fn restore_terminal() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(std::io::stdout(), LeaveAlternateScreen, cursor::Show);
    }
}

/// Restores the terminal when dropped: covers returns, `?` errors and unwinding panics.
pub struct Restore(());

impl Drop for Restore {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Switches the terminal to the TUI (raw mode, alternate screen, panic hook); the guard switches it back.
pub fn enter() -> anyhow::Result<(Terminal<CrosstermBackend<std::io::Stdout>>, Restore)> {
    HOOK.call_once(|| {
        // Restore before the default hook prints, so the message lands on a sane screen (also for panics on
        // other threads, e.g. the event reader).
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            prev(info);
        }));
    });
    enable_raw_mode().context("--tui: cannot switch the terminal to raw mode")?;
    ACTIVE.store(true, Ordering::SeqCst);
    let guard = Restore(());
    execute!(std::io::stdout(), EnterAlternateScreen, cursor::Hide)
        .context("--tui: cannot set up the screen")?;
    let term = Terminal::new(CrosstermBackend::new(std::io::stdout()))
        .context("--tui: cannot use the terminal")?;
    Ok((term, guard))
}

/// Runs the TUI on this thread until the user quits or `shutdown` is set. The terminal is restored on every exit.
pub fn run(
    cfg: TuiConfig,
    events: EventReceiver,
    stats: Arc<Counters>,
    shutdown: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    check_terminal()?;
    let (mut term, _restore) = enter()?;
    let mut input = crossterm_input;
    run_with_backend(&mut term, cfg, &events, &stats, &shutdown, &mut input)?;
    Ok(())
}

/// Waits up to `timeout` for a key or a resize on the real terminal.
pub fn crossterm_input(timeout: Duration) -> std::io::Result<Input> {
    if !cevent::poll(timeout)? {
        return Ok(Input::None);
    }
    Ok(match cevent::read()? {
        CEvent::Key(k) => Input::Key(k),
        CEvent::Resize(..) => Input::Redraw,
        _ => Input::None,
    })
}

/// What the input source produced while the loop waited.
pub enum Input {
    /// Nothing within the timeout.
    None,
    /// A key press or release.
    Key(KeyEvent),
    /// The terminal was resized: draw again.
    Redraw,
}

/// What a run did (for the benchmark).
#[derive(Clone, Copy, Debug, Default)]
pub struct LoopReport {
    /// Screens drawn.
    pub frames: u64,
    /// Events taken from the channel into the model.
    pub ingested: u64,
}

/// The run loop over any backend; `input(timeout)` waits at most `timeout` for a key.
pub fn run_with_backend<B: Backend>(
    term: &mut Terminal<B>,
    cfg: TuiConfig,
    events: &EventReceiver,
    stats: &Counters,
    shutdown: &AtomicBool,
    input: &mut dyn FnMut(Duration) -> std::io::Result<Input>,
) -> anyhow::Result<LoopReport>
where
    B::Error: Send + Sync + 'static,
{
    let model = Model::new(ModelConfig {
        max_packets: cfg.max_packets,
        track_skb: cfg.track_skb,
        ..Default::default()
    });
    let mut app = App::new(model, cfg.status, cfg.write_dir);
    app.text_options = cfg.text_options;
    let mut report = LoopReport::default();
    let mut next_frame = Instant::now();
    let mut dirty = true;
    let mut closed = false;
    let (mut rate_at, mut rate_offered) = (Instant::now(), events.offered());
    loop {
        if shutdown.load(Ordering::Relaxed) {
            break;
        }
        // Events left in the channel when the drain budget ran out: don't sleep before the next drain.
        let mut backlog = false;
        if !app.paused && !closed {
            let until = Instant::now() + DRAIN_BUDGET;
            let mut n = 0u64;
            loop {
                match events.rx.try_recv() {
                    Ok(ev) => {
                        app.model.push(ev);
                        n += 1;
                        // Checking the clock every event would cost more than the event.
                        if n.is_multiple_of(256) && Instant::now() >= until {
                            backlog = true;
                            break;
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        closed = true;
                        app.message = Some("the event source stopped; q quits".into());
                        dirty = true;
                        break;
                    }
                }
            }
            report.ingested += n;
            dirty |= n > 0;
        }
        let now = Instant::now();
        let dt = now.duration_since(rate_at);
        if dt >= Duration::from_secs(1) {
            let offered = events.offered();
            app.live.events_per_sec = (offered - rate_offered) as f64 / dt.as_secs_f64();
            (rate_at, rate_offered) = (now, offered);
            dirty = true;
        }
        let live = crate::app::Live {
            events_per_sec: app.live.events_per_sec,
            lost: stats.lost.load(Ordering::Relaxed),
            ui_dropped: events.dropped(),
            untracked: stats.untracked.load(Ordering::Relaxed),
            evicted: stats.evicted.load(Ordering::Relaxed),
        };
        if live != app.live {
            app.live = live;
            dirty = true;
        }
        let now = Instant::now();
        if dirty && now >= next_frame {
            app.refresh();
            term.draw(|f| ui::draw(f, &mut app))
                .map_err(|e| anyhow::anyhow!("--tui: drawing failed: {e}"))?;
            report.frames += 1;
            dirty = false;
            next_frame = now + FRAME;
        }
        // Wait for keys until the next frame is due; events pile up in the channel meanwhile.
        let wait = if backlog {
            Duration::ZERO
        } else if dirty {
            next_frame
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        } else {
            FRAME
        };
        match input(wait).context("--tui: reading the terminal")? {
            Input::None => {}
            Input::Redraw => {
                dirty = true;
                next_frame = Instant::now();
            }
            Input::Key(k) => {
                if app.on_key(k) == Action::Quit {
                    break;
                }
                dirty = true;
                next_frame = Instant::now();
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{event_channel, fixtures};
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::{KeyCode, KeyModifiers};

    fn key(c: char) -> Input {
        Input::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
    }

    /// Pause stops reading the channel: the reader's sends fail and are counted; resume reads what is queued.
    #[test]
    fn pause_stops_draining_and_counts_what_the_reader_could_not_send() {
        let (tx, rx) = event_channel(4);
        let evs = fixtures::udp_no_socket();
        for e in &evs[..3] {
            assert!(tx.send(e.clone()));
        }
        let mut term = Terminal::new(TestBackend::new(100, 30)).unwrap();
        let mut calls = 0;
        let mut input = |_t: Duration| -> std::io::Result<Input> {
            calls += 1;
            Ok(match calls {
                1 => key(' '), // pause (the first 3 events were read before)
                2 => {
                    let sent = evs
                        .iter()
                        .cycle()
                        .take(6)
                        .filter(|e| tx.send((*e).clone()))
                        .count();
                    assert_eq!(sent, 4, "the channel holds 4");
                    Input::None
                }
                3 => {
                    assert!(
                        !tx.send(evs[0].clone()),
                        "still full: nothing was read while paused"
                    );
                    key(' ') // resume
                }
                _ => key('q'),
            })
        };
        let report = run_with_backend(
            &mut term,
            TuiConfig::default(),
            &rx,
            &Counters::default(),
            &AtomicBool::new(false),
            &mut input,
        )
        .unwrap();
        assert_eq!(report.ingested, 3 + 4);
        assert_eq!(tx.counts(), (3 + 6 + 1, 3));
        // The status line of the last frame shows the drops.
        let text = crate::snapshot::buffer_text(term.backend().buffer());
        assert!(text.contains("ui dropped 3"), "{text}");
    }

    #[test]
    fn shutdown_flag_ends_the_loop() {
        let (_tx, rx) = event_channel(4);
        let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let shutdown = AtomicBool::new(false);
        let mut input = |_t: Duration| -> std::io::Result<Input> {
            shutdown.store(true, Ordering::Relaxed);
            Ok(Input::None)
        };
        let r = run_with_backend(
            &mut term,
            TuiConfig::default(),
            &rx,
            &Counters::default(),
            &shutdown,
            &mut input,
        );
        assert_eq!(r.unwrap().frames, 1);
    }
}
