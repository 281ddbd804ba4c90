//! Text captures of the screen on ratatui's `TestBackend`: the golden buffers of the tests and the screenshots in
//! docs/tui.md (`cargo run -p tui --example screens > docs/tui.md`) come from the same scenarios.

use crate::app::{App, StatusInfo};
use crate::fixtures;
use crate::model::{Model, ModelConfig};
use crate::ui;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub const WIDTH: u16 = 150;
pub const HEIGHT: u16 = 42;

/// The buffer as lines of text, trailing spaces removed.
pub fn buffer_text(buf: &Buffer) -> String {
    let w = buf.area.width as usize;
    let mut out = String::new();
    for row in buf.content.chunks(w) {
        let mut line = String::new();
        let mut skip = 0;
        for c in row {
            // A wide symbol covers the next cell(s), which hold an empty placeholder.
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = c.symbol();
            skip = unicode_width(sym).saturating_sub(1);
            line.push_str(sym);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn unicode_width(s: &str) -> usize {
    // Only the symbols this UI draws; all of them are one column wide.
    s.chars().count().min(1)
}

pub fn render(app: &mut App, w: u16, h: u16) -> (String, Buffer) {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    app.refresh();
    term.draw(|f| ui::draw(f, app)).expect("draw");
    let buf = term.backend().buffer().clone();
    (buffer_text(&buf), buf)
}

pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    pub app: App,
}

fn key(app: &mut App, c: KeyCode) {
    app.refresh();
    app.on_key(KeyEvent::new(c, KeyModifiers::NONE));
}

fn new_app(track: bool) -> App {
    let model = Model::new(ModelConfig {
        track_skb: track,
        ..Default::default()
    });
    let status = StatusInfo {
        backend: "kprobe-multi".into(),
        attached: 1523,
        filter: "host 10.0.0.2".into(),
        ..Default::default()
    };
    let mut app = App::new(model, status, std::env::temp_dir());
    app.local_time = false;
    app.live.events_per_sec = 1240.0;
    app
}

fn feed(app: &mut App, evs: Vec<event::Event>) {
    evs.into_iter().for_each(|e| app.model.push(e));
    app.refresh();
}

/// The recorded streams in the states the docs show.
pub fn scenarios() -> Vec<Scenario> {
    let mut v = Vec::new();

    let mut ping = new_app(false);
    feed(&mut ping, fixtures::ping());
    key(&mut ping, KeyCode::Up);
    key(&mut ping, KeyCode::Enter);
    v.push(Scenario {
        name: "ping",
        about: "`ping -c1 10.0.0.2` across veth0 into a netns: two packets (request, reply). The request is selected \
                and Enter moved the focus to its path: the netns, interface and length changes are highlighted where \
                they happen (yellow on a terminal).",
        app: ping,
    });

    let mut udp = new_app(false);
    udp.status = StatusInfo {
        backend: "tracepoint".into(),
        attached: 7,
        filter: "udp".into(),
        ..Default::default()
    };
    feed(&mut udp, fixtures::udp_no_socket());
    v.push(Scenario {
        name: "udp-no-socket",
        about: "A UDP datagram to a closed port, traced with the tracepoint backend: DROPPED with NO_SOCKET (red). \
                The path opens on the drop and shows its stack; the Drops pane counts it.",
        app: udp,
    });

    let mut nat = new_app(true);
    feed(&mut nat, fixtures::nat_clone());
    key(&mut nat, KeyCode::Up);
    v.push(Scenario {
        name: "nat-clone",
        about: "With `--filter-track-skb`: a pod's DNS query translated by Cilium to a backend (NAT), its clone for \
                a packet socket grouped under it, and the Cilium pane for the selected packet.",
        app: nat,
    });

    let mut all = new_app(true);
    feed(&mut all, fixtures::ping());
    feed(&mut all, fixtures::udp_no_socket());
    feed(&mut all, fixtures::nat_clone());
    all.live.lost = 17;
    all.live.ui_dropped = 3;
    key(&mut all, KeyCode::Char('/'));
    for c in "10.0.0.2".chars() {
        key(&mut all, KeyCode::Char(c));
    }
    key(&mut all, KeyCode::Enter);
    key(&mut all, KeyCode::Tab);
    key(&mut all, KeyCode::Tab);
    key(&mut all, KeyCode::Char(' '));
    v.push(Scenario {
        name: "filtered-paused",
        about: "All three streams, display filter `10.0.0.2` typed after `/`, focus on the Drops pane (Tab, Tab), \
                paused (space). Lost and UI-dropped events are always on the status line.",
        app: all,
    });

    let mut help = new_app(false);
    feed(&mut help, fixtures::ping());
    key(&mut help, KeyCode::Char('?'));
    v.push(Scenario {
        name: "help",
        about: "`?` shows the keys.",
        app: help,
    });
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::Color;
    use std::path::PathBuf;

    fn golden_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden")
    }

    /// Compares the whole screen with `golden/<name>.txt`; `UPDATE_GOLDEN=1` rewrites the files.
    #[test]
    fn screens_match_golden_buffers() {
        let mut failures = Vec::new();
        for mut s in scenarios() {
            let (text, _) = render(&mut s.app, WIDTH, HEIGHT);
            let path = golden_dir().join(format!("{}.txt", s.name));
            if let Err(e) = testkit::golden::check(&path, &text) {
                failures.push(format!("{}: {e}", s.name));
            }
        }
        assert!(
            failures.is_empty(),
            "screens differ from golden buffers:\n{}",
            failures.join("\n")
        );
    }

    #[test]
    fn docs_show_the_current_screens() {
        let docs = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/tui.md"),
        )
        .expect("docs/tui.md (regenerate: cargo run -p tui --example screens > docs/tui.md)");
        for mut s in scenarios() {
            let (text, _) = render(&mut s.app, WIDTH, HEIGHT);
            assert!(
                docs.contains(&text),
                "docs/tui.md is stale for {} (cargo run -p tui --example screens)",
                s.name
            );
        }
    }

    fn find(text: &str, needle: &str) -> (u16, u16) {
        for (y, line) in text.lines().enumerate() {
            if let Some(x) = line.find(needle) {
                return (line[..x].chars().count() as u16, y as u16);
            }
        }
        panic!("{needle:?} not on screen:\n{text}");
    }

    #[test]
    fn drop_is_red_and_changes_are_highlighted() {
        let mut v = scenarios();
        let (text, buf) = render(&mut v[1].app, WIDTH, HEIGHT);
        let (x, y) = find(&text, "DROPPED NO_SOCKET (kfree_skb)");
        assert_eq!(buf[(x, y)].fg, Color::Red);
        let (x, y) = find(&text, "kfree_skb(NO_SOCKET)");
        assert_eq!(buf[(x, y)].fg, Color::Red);
        // netif_rx moved the packet into the peer netns on eth0: both cells highlighted.
        let (text, buf) = render(&mut v[0].app, WIDTH, HEIGHT);
        let line = text
            .lines()
            .position(|l| l.contains("__netif_rx") && l.contains("4026532301"))
            .unwrap() as u16;
        let (x, _) = find(text.lines().nth(line as usize).unwrap(), "4026532301");
        assert_eq!(buf[(x, line)].fg, Color::Yellow);
        // Status line: lost events shown in red when non-zero.
        let (text, buf) = render(&mut v[3].app, WIDTH, HEIGHT);
        let (x, y) = find(&text, "lost 17");
        assert_eq!(buf[(x, y)].fg, Color::Red);
        // With --filter-track-skb and --drops-only their counters join it, red when non-zero.
        let app = &mut v[3].app;
        app.status.track_skb = true;
        app.status.drops_only = true;
        app.live.untracked = 4;
        let (text, buf) = render(app, WIDTH, HEIGHT);
        let (x, y) = find(&text, "untracked 4");
        assert_eq!(buf[(x, y)].fg, Color::Red);
        let (x, y) = find(&text, "drops only, evicted 0");
        assert_ne!(buf[(x, y)].fg, Color::Red);
    }

    /// On an 80x24 terminal the fate column stays (interfaces and counts give way) and the panes stack.
    #[test]
    fn narrow_terminal_keeps_the_fate_column() {
        let mut v = scenarios();
        let (text, _) = render(&mut v[1].app, 80, 24);
        testkit::assert_golden(&golden_dir().join("udp-no-socket-80x24.txt"), &text);
        assert!(text.contains("DROPPED NO_SOCKET (kfree_skb)"), "{text}");
        assert!(text.contains("kfree_skb(NO_SOCKET)"), "{text}");
    }

    /// A drop Cilium counted: its reason shows next to the kernel's, and the Cilium pane lists both annotations.
    #[test]
    fn cilium_drop_reason_is_shown() {
        let t = fixtures::tuple("10.244.0.7", 40000, "10.244.1.5", 8080, 17);
        let mut drop = fixtures::Ev::new(0xffff_8880_0d00_0000, 5, "kfree_skb")
            .tp()
            .tuple(&t)
            .dev("lxc12ab", 12)
            .reason(43, "TC_INGRESS")
            .cilium(&["src identity 34567 -> dst endpoint 2001, policy DENIED"]);
        drop.0.annotations.push(event::Annotation {
            name: "cilium_drop".into(),
            lines: vec!["cilium drop: POLICY_DENIED (133, Policy denied) ingress at bpf_lxc.c:2101 (+1 packets)".into()],
            json: serde_json::json!([{ "name": "POLICY_DENIED", "code": 133 }]),
        });
        let stream = [
            fixtures::Ev::new(0xffff_8880_0d00_0000, 0, "netif_receive_skb")
                .tp()
                .tuple(&t)
                .dev("lxc12ab", 12),
            drop,
        ];
        let mut app = new_app(false);
        feed(&mut app, stream.into_iter().map(|e| e.0).collect());
        let (text, _) = render(&mut app, WIDTH, HEIGHT);
        assert!(
            text.contains("DROPPED TC_INGRESS · POLICY_DENIED (kfree_skb)"),
            "{text}"
        );
        assert!(
            text.contains("kfree_skb(TC_INGRESS) [cilium_drop]"),
            "{text}"
        );
        assert!(text.contains("src identity 34567"), "{text}");
        assert!(text.contains("cilium drop: POLICY_DENIED"), "{text}");
    }

    #[test]
    fn tiny_terminal_does_not_panic() {
        for (w, h) in [(1, 1), (20, 5), (40, 12), (80, 24)] {
            for mut s in scenarios() {
                render(&mut s.app, w, h);
            }
        }
    }
}
