//! UI state and key handling, without a terminal: which pane has focus, what is selected, the display filter being
//! typed, pause, messages. The run loop feeds it events and keys; the renderer reads it.

use crate::export;
use crate::filter::DisplayFilter;
use crate::model::{Model, PacketId, Row};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::widgets::{ListState, TableState};
use std::path::PathBuf;

/// What the status line shows about the tracer (filled in by the pwru binary).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusInfo {
    /// `kprobe`, `kprobe-multi`, `tracepoint`.
    pub backend: String,
    /// Number of functions/tracepoints attached.
    pub attached: usize,
    /// The pcap filter expression compiled into the probes (empty: none).
    pub filter: String,
    /// `--filter-track-skb`: show how many skbs it could not remember.
    pub track_skb: bool,
    /// `--drops-only`: only dropped packets arrive; show how many events its caps evicted.
    pub drops_only: bool,
}

/// Live counters shown in the status line, refreshed by the run loop.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Live {
    /// Events received per second, over the last refresh interval.
    pub events_per_sec: f64,
    /// Lost in the kernel (ring buffer full).
    pub lost: u64,
    /// Not taken by the UI (channel full, or paused too long).
    pub ui_dropped: u64,
    /// skbs `--filter-track-skb` could not remember (its table full).
    pub untracked: u64,
    /// Events `--drops-only` evicted (its caps).
    pub evicted: u64,
}

/// The pane that has the keyboard focus (Tab cycles).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pane {
    /// One row per packet.
    Packets,
    /// The selected packet's kernel path.
    Path,
    /// Drops by reason and function.
    Drops,
    /// Cilium's view of the selected packet (only with `--cilium`).
    Cilium,
}

/// What keys do now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Navigation and commands.
    Normal,
    /// Typing a display filter; `prev` is restored by Esc.
    Filter {
        /// What has been typed so far.
        input: String,
        /// The filter before `/` was pressed.
        prev: String,
    },
    /// The key help is shown; any key closes it.
    Help,
}

/// What the run loop must do after a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Keep going.
    None,
    /// Leave the TUI.
    Quit,
}

/// The UI state: the model plus selection, focus, mode and scroll positions. Pure: keys in, state out.
pub struct App {
    /// The packets and drops seen so far.
    pub model: Model,
    /// The fixed part of the status line.
    pub status: StatusInfo,
    /// The counters of the status line.
    pub live: Live,
    /// The focused pane.
    pub pane: Pane,
    /// What keys do now.
    pub mode: Mode,
    /// Paused: new events are held back (up to the channel's capacity) and the screen stays still.
    pub paused: bool,
    /// Keep the newest packet selected until the user moves.
    pub follow: bool,
    /// The selected packet.
    pub selected: Option<PacketId>,
    /// Index into the selected packet's events.
    pub path_sel: usize,
    path_for: Option<PacketId>,
    /// (reason, func) of the selected drop row.
    pub drop_sel: Option<(String, String)>,
    /// A one-line message for the status line (what `w` wrote, an error).
    pub message: Option<String>,
    /// Why the typed display filter does not parse.
    pub filter_error: Option<String>,
    /// Where `w` writes files.
    pub write_dir: PathBuf,
    /// How `w` formats lines: the text output's options.
    pub text_options: event::OutputOptions,
    /// Show times in the local time zone (UTC in tests, for stable golden screens).
    pub local_time: bool,
    /// First visible row of the packets pane.
    pub packets_offset: usize,
    /// Selection and scroll of the path pane.
    pub path_state: ListState,
    /// Selection and scroll of the drops pane.
    pub drops_state: TableState,
    /// Lines scrolled in the Cilium pane.
    pub cilium_scroll: u16,
    /// Rows as of the last `refresh`.
    pub rows: Vec<Row>,
}

impl App {
    /// Starts in normal mode on the packets pane, following the newest packet.
    pub fn new(model: Model, status: StatusInfo, write_dir: PathBuf) -> Self {
        Self {
            model,
            status,
            live: Live::default(),
            pane: Pane::Packets,
            mode: Mode::Normal,
            paused: false,
            follow: true,
            selected: None,
            path_sel: 0,
            path_for: None,
            drop_sel: None,
            message: None,
            filter_error: None,
            write_dir,
            text_options: event::OutputOptions {
                stack: true,
                ..Default::default()
            },
            local_time: true,
            packets_offset: 0,
            path_state: ListState::default(),
            drops_state: TableState::default(),
            cilium_scroll: 0,
            rows: Vec::new(),
        }
    }

    /// Recomputes the visible rows and fixes the selection; call after events arrive and before drawing.
    pub fn refresh(&mut self) {
        self.rows = self.model.rows();
        let sel = match (self.follow, self.selected) {
            (true, _) | (false, None) => self.rows.last().map(|r| r.id),
            (false, Some(id)) => {
                if self.rows.iter().any(|r| r.id == id) {
                    Some(id)
                } else {
                    // Evicted or filtered out: the next newer shown packet, else the newest.
                    self.rows
                        .iter()
                        .find(|r| r.id > id)
                        .or(self.rows.last())
                        .map(|r| r.id)
                }
            }
        };
        self.select_packet(sel);
        if self.drop_sel.is_none() {
            self.drop_sel = self
                .model
                .drops()
                .first()
                .map(|d| (d.reason.clone(), d.func.clone()));
        }
    }

    fn select_packet(&mut self, id: Option<PacketId>) {
        self.selected = id;
        if self.path_for != id {
            self.path_for = id;
            self.cilium_scroll = 0;
            // Start on the drop when there is one: that is what the user came for.
            self.path_sel = id
                .and_then(|id| self.model.packet(id))
                .and_then(|p| {
                    p.events().iter().position(|e| {
                        matches!(crate::fate::classify(e), crate::fate::Step::Drop { .. })
                    })
                })
                .unwrap_or(0);
        }
        let n = self.selected_packet().map_or(0, |p| p.events().len());
        self.path_sel = self.path_sel.min(n.saturating_sub(1));
    }

    /// The selected packet, if it is still kept.
    pub fn selected_packet(&self) -> Option<&crate::model::Packet> {
        self.selected.and_then(|id| self.model.packet(id))
    }

    /// The selected packet's position among the visible rows.
    pub fn selected_row_index(&self) -> Option<usize> {
        let id = self.selected?;
        self.rows.iter().position(|r| r.id == id)
    }

    fn panes(&self) -> Vec<Pane> {
        let mut v = vec![Pane::Packets, Pane::Path, Pane::Drops];
        if self.model.has_cilium {
            v.push(Pane::Cilium);
        }
        v
    }

    /// Applies one key press (releases are ignored; Ctrl-C always quits).
    pub fn on_key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c')) {
            return Action::Quit;
        }
        match self.mode.clone() {
            Mode::Help => {
                if matches!(key.code, KeyCode::Char('q')) {
                    return Action::Quit;
                }
                self.mode = Mode::Normal;
                Action::None
            }
            Mode::Filter { input, prev } => {
                self.filter_key(key, input, prev);
                Action::None
            }
            Mode::Normal => self.normal_key(key),
        }
    }

    fn filter_key(&mut self, key: KeyEvent, mut input: String, prev: String) {
        match key.code {
            KeyCode::Enter => {
                // Keep the last filter that parsed.
                self.mode = Mode::Normal;
                self.filter_error = None;
                return;
            }
            KeyCode::Esc => {
                self.apply_filter(&prev);
                self.filter_error = None;
                self.mode = Mode::Normal;
                return;
            }
            KeyCode::Backspace => {
                input.pop();
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => input.clear(),
            KeyCode::Char(c) => input.push(c),
            _ => {}
        }
        self.apply_filter(&input);
        self.mode = Mode::Filter { input, prev };
    }

    /// Applies at once to the kept packets; a filter that does not parse leaves the previous one in force.
    fn apply_filter(&mut self, text: &str) {
        match DisplayFilter::parse(text) {
            Ok(f) => {
                self.model.set_filter(f);
                self.filter_error = None;
            }
            Err(e) => self.filter_error = Some(e.to_string()),
        }
        self.refresh();
    }

    fn normal_key(&mut self, key: KeyEvent) -> Action {
        self.message = None;
        match key.code {
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Char('?') => self.mode = Mode::Help,
            KeyCode::Char('/') => {
                let prev = self.model.filter().text().to_string();
                self.mode = Mode::Filter {
                    input: prev.clone(),
                    prev,
                };
            }
            KeyCode::Char(' ') => {
                self.paused = !self.paused;
            }
            KeyCode::Char('w') => self.write_selected(),
            KeyCode::Tab | KeyCode::BackTab => {
                let panes = self.panes();
                let i = panes.iter().position(|p| *p == self.pane).unwrap_or(0);
                let n = panes.len();
                let next = if key.code == KeyCode::Tab {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                self.pane = panes[next];
            }
            KeyCode::Enter => self.enter(),
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1),
            KeyCode::PageUp => self.move_by(-10),
            KeyCode::PageDown => self.move_by(10),
            KeyCode::Home | KeyCode::Char('g') => self.move_by(i64::MIN / 2),
            KeyCode::End | KeyCode::Char('G') => self.move_by(i64::MAX / 2),
            KeyCode::Esc => self.pane = Pane::Packets,
            _ => {}
        }
        Action::None
    }

    fn enter(&mut self) {
        match self.pane {
            Pane::Packets => {
                if self.selected.is_some() {
                    self.follow = false;
                    self.pane = Pane::Path;
                }
            }
            Pane::Drops => self.jump_to_drop(),
            Pane::Path | Pane::Cilium => {}
        }
    }

    /// Selects the newest packet that had the selected (reason, function) drop.
    fn jump_to_drop(&mut self) {
        let Some(key) = self.drop_sel.clone() else {
            return;
        };
        let Some(stat) = self
            .model
            .drops()
            .into_iter()
            .find(|d| (&d.reason, &d.func) == (&key.0, &key.1))
            .cloned()
        else {
            return;
        };
        if self.model.packet(stat.last_packet).is_none() {
            self.message = Some(format!("the latest {} drop was evicted", stat.reason));
            return;
        }
        if !self.rows.iter().any(|r| r.id == stat.last_packet) {
            self.message = Some(format!(
                "the latest {} drop is hidden by the display filter",
                stat.reason
            ));
            return;
        }
        self.follow = false;
        self.path_for = None; // re-pick the drop event in the path
        self.select_packet(Some(stat.last_packet));
        self.pane = Pane::Packets;
    }

    fn move_by(&mut self, delta: i64) {
        match self.pane {
            Pane::Packets => {
                if self.rows.is_empty() {
                    return;
                }
                let last = self.rows.len() as i64 - 1;
                let cur = self.selected_row_index().map_or(last, |i| i as i64);
                let to = (cur.saturating_add(delta)).clamp(0, last);
                self.follow = to == last && delta > 0;
                self.select_packet(Some(self.rows[to as usize].id));
            }
            Pane::Path => {
                let n = self.selected_packet().map_or(0, |p| p.events().len()) as i64;
                if n > 0 {
                    self.path_sel =
                        (self.path_sel as i64).saturating_add(delta).clamp(0, n - 1) as usize;
                }
            }
            Pane::Drops => {
                let drops = self.model.drops();
                if drops.is_empty() {
                    return;
                }
                let cur = self
                    .drop_sel
                    .as_ref()
                    .and_then(|k| {
                        drops
                            .iter()
                            .position(|d| (&d.reason, &d.func) == (&k.0, &k.1))
                    })
                    .unwrap_or(0) as i64;
                let to = cur.saturating_add(delta).clamp(0, drops.len() as i64 - 1) as usize;
                self.drop_sel = Some((drops[to].reason.clone(), drops[to].func.clone()));
            }
            Pane::Cilium => {
                self.cilium_scroll = (self.cilium_scroll as i64)
                    .saturating_add(delta)
                    .clamp(0, u16::MAX as i64) as u16;
            }
        }
    }

    fn write_selected(&mut self) {
        let Some(p) = self.selected_packet() else {
            self.message = Some("no packet selected".into());
            return;
        };
        self.message = Some(
            match export::write_packet(&self.write_dir, p, self.text_options) {
                Ok((path, n)) => format!("wrote {n} lines to {}", path.display()),
                Err(e) => format!("write failed: {e}"),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::model::ModelConfig;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn app(track: bool) -> App {
        let mut a = App::new(
            Model::new(ModelConfig {
                track_skb: track,
                ..Default::default()
            }),
            StatusInfo::default(),
            std::env::temp_dir(),
        );
        a.local_time = false;
        a
    }

    fn feed(a: &mut App, evs: Vec<event::Event>) {
        evs.into_iter().for_each(|e| a.model.push(e));
        a.refresh();
    }

    #[test]
    fn follows_newest_until_the_user_moves() {
        let mut a = app(false);
        feed(&mut a, fixtures::ping());
        assert_eq!(a.selected, Some(2));
        a.on_key(key(KeyCode::Up));
        assert_eq!((a.selected, a.follow), (Some(1), false));
        feed(&mut a, fixtures::udp_no_socket());
        assert_eq!(
            a.selected,
            Some(1),
            "selection stays while new packets arrive"
        );
        a.on_key(key(KeyCode::Char('G')));
        assert_eq!((a.selected, a.follow), (Some(3), true));
        // Moving down onto the last row resumes following.
        a.on_key(key(KeyCode::Char('k')));
        a.on_key(key(KeyCode::Char('j')));
        assert!(a.follow);
    }

    #[test]
    fn path_starts_on_the_drop_and_enter_jumps_from_drops() {
        let mut a = app(false);
        feed(&mut a, fixtures::udp_no_socket());
        assert_eq!(a.path_sel, 5);
        feed(&mut a, fixtures::ping());
        assert_eq!(a.selected, Some(3));
        a.on_key(key(KeyCode::Tab));
        a.on_key(key(KeyCode::Tab));
        assert_eq!(a.pane, Pane::Drops);
        a.on_key(key(KeyCode::Enter));
        assert_eq!(
            (a.selected, a.pane, a.follow),
            (Some(1), Pane::Packets, false)
        );
        assert_eq!(
            a.selected_packet().unwrap().events()[a.path_sel].func,
            "kfree_skb"
        );
    }

    #[test]
    fn filter_typing_applies_at_once_and_esc_restores() {
        let mut a = app(false);
        feed(&mut a, fixtures::ping());
        feed(&mut a, fixtures::udp_no_socket());
        a.on_key(key(KeyCode::Char('/')));
        for c in "udp".chars() {
            a.on_key(key(KeyCode::Char(c)));
        }
        assert_eq!(a.rows.len(), 1);
        a.on_key(key(KeyCode::Char(':')));
        assert_eq!(a.filter_error.as_deref(), Some("empty value for 'udp'"));
        a.on_key(key(KeyCode::Char('x')));
        assert!(
            a.filter_error
                .as_deref()
                .unwrap()
                .starts_with("unknown key 'udp'")
        );
        assert_eq!(a.rows.len(), 1, "the last valid filter stays in force");
        a.on_key(key(KeyCode::Esc));
        assert_eq!((a.rows.len(), a.mode.clone()), (3, Mode::Normal));
        a.on_key(key(KeyCode::Char('/')));
        "icmp".chars().for_each(|c| {
            a.on_key(key(KeyCode::Char(c)));
        });
        a.on_key(key(KeyCode::Enter));
        assert_eq!(a.rows.len(), 2);
        assert_eq!(a.model.filter().text(), "icmp");
    }

    #[test]
    fn pause_quit_and_help_keys() {
        let mut a = app(false);
        a.on_key(key(KeyCode::Char(' ')));
        assert!(a.paused);
        a.on_key(key(KeyCode::Char(' ')));
        assert!(!a.paused);
        a.on_key(key(KeyCode::Char('?')));
        assert_eq!(a.mode, Mode::Help);
        assert_eq!(a.on_key(key(KeyCode::Esc)), Action::None);
        assert_eq!(a.mode, Mode::Normal);
        assert_eq!(a.on_key(key(KeyCode::Char('q'))), Action::Quit);
        assert_eq!(
            a.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Action::Quit
        );
        // In the filter prompt 'q' is text, Ctrl-C still quits.
        a.on_key(key(KeyCode::Char('/')));
        assert_eq!(a.on_key(key(KeyCode::Char('q'))), Action::None);
        assert_eq!(
            a.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Action::Quit
        );
    }

    #[test]
    fn tab_reaches_cilium_only_when_present() {
        let mut a = app(true);
        feed(&mut a, fixtures::ping());
        for _ in 0..3 {
            a.on_key(key(KeyCode::Tab));
        }
        assert_eq!(a.pane, Pane::Packets);
        feed(&mut a, fixtures::nat_clone());
        for _ in 0..3 {
            a.on_key(key(KeyCode::Tab));
        }
        assert_eq!(a.pane, Pane::Cilium);
    }

    #[test]
    fn w_writes_the_selected_packet() {
        let mut a = app(false);
        let dir = std::env::temp_dir().join(format!("tui-app-w-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        a.write_dir = dir.clone();
        feed(&mut a, fixtures::udp_no_socket());
        a.on_key(key(KeyCode::Char('w')));
        let msg = a.message.clone().unwrap();
        let files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(files.len(), 1);
        assert!(msg.starts_with("wrote 15 lines to "), "{msg}");
    }
}
