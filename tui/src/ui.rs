//! Drawing the app state: packets, path, drops and Cilium panes, the status line and the help overlay.

use crate::app::{App, Mode, Pane};
use crate::fate::{self, Delivery, Fate};
use crate::model::{Packet, iface_label};
use event::{Event, Tuple};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, List, ListItem, Paragraph, Row, Table};

const CHANGED: Style = Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD);
const DROPPED: Style = Style::new().fg(Color::Red).add_modifier(Modifier::BOLD);
const HEADER: Style = Style::new().add_modifier(Modifier::BOLD);
const SELECTED: Style = Style::new().add_modifier(Modifier::REVERSED);
/// Below this many columns the layout stacks the panes instead of putting them side by side.
const NARROW_WIDTH: u16 = 110;

/// Packets pane columns; the less important ones go first on narrow terminals so FATE stays visible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Col {
    Time,
    Tuple,
    Nat,
    Ifaces,
    Funcs,
    Duration,
    Fate,
}

fn packet_columns(width: u16) -> Vec<Col> {
    let mut v = vec![
        Col::Time,
        Col::Tuple,
        Col::Nat,
        Col::Ifaces,
        Col::Funcs,
        Col::Duration,
        Col::Fate,
    ];
    if width < 120 {
        v.retain(|c| *c != Col::Ifaces);
    }
    if width < 96 {
        v.retain(|c| !matches!(c, Col::Funcs | Col::Duration | Col::Nat));
    }
    v
}

fn col_header(c: Col) -> &'static str {
    match c {
        Col::Time => "TIME",
        Col::Tuple => "TUPLE",
        Col::Nat => "",
        Col::Ifaces => "IFACES",
        Col::Funcs => "FUNCS",
        Col::Duration => " DURATION",
        Col::Fate => "FATE",
    }
}

fn col_width(c: Col, width: u16) -> Constraint {
    match c {
        Col::Time => Constraint::Length(15),
        Col::Tuple if width >= 130 => Constraint::Length(38),
        Col::Tuple => Constraint::Fill(1),
        Col::Nat => Constraint::Length(3),
        Col::Ifaces => Constraint::Length(24),
        Col::Funcs => Constraint::Length(5),
        Col::Duration => Constraint::Length(9),
        Col::Fate => Constraint::Fill(1),
    }
}

const DIM: Style = Style::new().fg(Color::DarkGray);

/// Draws the whole screen: the packets pane on top; below it the path beside (on a narrow terminal: above) the
/// drops and Cilium panes; then the status line and the prompt.
pub fn draw(f: &mut Frame, app: &mut App) {
    let [top, bottom, status, prompt] = Layout::vertical([
        Constraint::Percentage(35),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    draw_packets(f, app, top);
    // Wide: path on the left, drops/Cilium on the right. Narrow: the path gets the full width, the others a strip.
    let wide = f.area().width >= NARROW_WIDTH;
    let (path, side) = if wide {
        let [p, s] =
            Layout::horizontal([Constraint::Percentage(62), Constraint::Fill(1)]).areas(bottom);
        (p, s)
    } else {
        let [p, s] = Layout::vertical([Constraint::Fill(1), Constraint::Length(7)]).areas(bottom);
        (p, s)
    };
    draw_path(f, app, path);
    if app.model.has_cilium {
        let [drops, cilium] = if wide {
            Layout::vertical([Constraint::Percentage(45), Constraint::Fill(1)]).areas(side)
        } else {
            Layout::horizontal([Constraint::Percentage(50), Constraint::Fill(1)]).areas(side)
        };
        draw_drops(f, app, drops);
        draw_cilium(f, app, cilium);
    } else {
        draw_drops(f, app, side);
    }
    draw_status(f, app, status);
    draw_prompt(f, app, prompt);
    if app.mode == Mode::Help {
        draw_help(f, f.area());
    }
}

fn pane_block(app: &App, pane: Pane, title: String) -> Block<'static> {
    let b = Block::bordered().title(title);
    if app.pane == pane {
        b.border_style(Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD))
    } else {
        b
    }
}

/// `20:31:05.000041` (local time, or UTC for reproducible screens).
pub fn clock(wall_ns: u64, local: bool) -> String {
    let secs = wall_ns / 1_000_000_000;
    let micros = (wall_ns % 1_000_000_000) / 1000;
    let utc = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let (h, m, s) = match local.then(|| event::time::local(wall_ns)).flatten() {
        Some(t) => (t.hour as u64, t.minute as u64, t.second as u64),
        None => utc,
    };
    format!("{h:02}:{m:02}:{s:02}.{micros:06}")
}

fn addr_port(a: &std::net::IpAddr, port: u16, with_port: bool) -> String {
    let a = match a {
        std::net::IpAddr::V4(v) => v.to_string(),
        std::net::IpAddr::V6(v) if with_port => format!("[{v}]"),
        std::net::IpAddr::V6(v) => v.to_string(),
    };
    if with_port { format!("{a}:{port}") } else { a }
}

/// `10.0.0.1:40000->10.0.0.2:9999 udp`, ports left out for ICMP.
pub fn tuple_text(t: &Tuple) -> String {
    let ports = !matches!(t.proto, 1 | 58) || t.sport != 0 || t.dport != 0;
    format!(
        "{}->{} {}",
        addr_port(&t.saddr, t.sport, ports),
        addr_port(&t.daddr, t.dport, ports),
        event::proto::display(t.proto)
    )
}

/// A duration as the packets pane shows it: µs below a millisecond, ms below a second, else seconds.
pub fn duration_text(ns: u64) -> String {
    match ns {
        n if n < 1_000_000 => format!("{:.1}µs", n as f64 / 1e3),
        n if n < 1_000_000_000 => format!("{:.2}ms", n as f64 / 1e6),
        n => format!("{:.2}s", n as f64 / 1e9),
    }
}

/// For packets without an IP tuple: the L3 protocol (`arp`), so ARP and LLDP rows say what they are.
fn l3_label(p: &Packet) -> String {
    match p.events().iter().map(|e| e.proto).find(|&x| x != 0) {
        Some(0x0800) => "ipv4 (no tuple)".into(),
        Some(0x86dd) => "ipv6 (no tuple)".into(),
        Some(0x0806) => "arp".into(),
        Some(0x8035) => "rarp".into(),
        Some(0x88cc) => "lldp".into(),
        Some(0x8100) | Some(0x88a8) => "vlan".into(),
        Some(0x8847) | Some(0x8848) => "mpls".into(),
        Some(x) => format!("ethertype {x:#06x}"),
        None => "-".into(),
    }
}

/// The fate; after a drop Cilium counted, its own reason follows the kernel's (`TC_INGRESS · POLICY_DENIED`).
fn fate_line(p: &Packet) -> Line<'static> {
    if let Fate::Dropped { reason, func } = p.fate()
        && let Some(name) = crate::model::cilium_drop_name(p)
    {
        return Line::from(Span::styled(
            format!("DROPPED {reason} · {name} ({func})"),
            DROPPED,
        ));
    }
    Line::from(fate_span(p.fate()))
}

fn fate_span(f: &Fate) -> Span<'static> {
    match f {
        Fate::InFlight => Span::styled("in flight", DIM),
        Fate::Transmitted { iface } => Span::styled(
            format!("transmitted {}", iface.as_deref().unwrap_or(""))
                .trim_end()
                .to_string(),
            Style::new().fg(Color::Cyan),
        ),
        Fate::Delivered(Delivery::Socket) => {
            Span::styled("delivered to socket", Style::new().fg(Color::Green))
        }
        Fate::Delivered(Delivery::Consumed) => {
            Span::styled("consumed", Style::new().fg(Color::Green))
        }
        Fate::Dropped { reason, func } => {
            Span::styled(format!("DROPPED {reason} ({func})"), DROPPED)
        }
    }
}

fn packet_row(app: &App, p: &Packet, depth: u8, cols: &[Col]) -> Row<'static> {
    let tuple = p.tuple().map(tuple_text).unwrap_or_else(|| l3_label(p));
    let tuple = if depth > 0 {
        format!("{}└ {tuple}", "  ".repeat(depth as usize - 1))
    } else {
        tuple
    };
    let nat = match (p.tuple(), p.last_tuple()) {
        (Some(a), Some(b))
            if (a.saddr, a.daddr, a.sport, a.dport) != (b.saddr, b.daddr, b.sport, b.dport) =>
        {
            "NAT"
        }
        _ => "",
    };
    let mut tuple = Some(tuple);
    Row::new(cols.iter().map(|c| match c {
        Col::Time => Cell::from(clock(p.first().wall_ns, app.local_time)),
        Col::Tuple => Cell::from(tuple.take().unwrap_or_default()),
        Col::Nat => Cell::from(nat),
        Col::Ifaces => Cell::from(p.ifaces().join(" → ")),
        Col::Funcs => Cell::from(format!("{:>5}", p.func_count())),
        Col::Duration => Cell::from(format!("{:>9}", duration_text(p.duration_ns()))),
        Col::Fate => Cell::from(fate_line(p)),
    }))
}

fn draw_packets(f: &mut Frame, app: &mut App, area: Rect) {
    let mut title = format!(" Packets {}/{}", app.rows.len(), app.model.len());
    if app.model.evicted > 0 {
        title += &format!(
            " · {} evicted (limits: {} packets, {} events)",
            app.model.evicted,
            app.model.config().max_packets,
            app.model.config().max_events_total
        );
    }
    if !app.model.filter().is_empty() {
        title += &format!(" · filter: {}", app.model.filter().text());
    }
    if app.follow {
        title += " · following";
    }
    title.push(' ');
    // Build only the visible rows: thousands of kept packets must not cost thousands of rows per frame.
    let cols = packet_columns(area.width);
    let height = area.height.saturating_sub(3) as usize;
    let sel = app.selected_row_index();
    let mut offset = app.packets_offset;
    if let Some(s) = sel {
        if s < offset {
            offset = s;
        } else if s >= offset + height {
            offset = s + 1 - height;
        }
    }
    offset = offset.min(app.rows.len().saturating_sub(height));
    app.packets_offset = offset;
    let rows: Vec<Row> = app.rows[offset..(offset + height).min(app.rows.len())]
        .iter()
        .filter_map(|r| {
            app.model
                .packet(r.id)
                .map(|p| packet_row(app, p, r.depth, &cols))
        })
        .collect();
    let header = Row::new(cols.iter().map(|c| col_header(*c))).style(HEADER);
    let widths: Vec<Constraint> = cols.iter().map(|c| col_width(*c, area.width)).collect();
    let table = Table::new(rows, widths)
        .header(header)
        .block(pane_block(app, Pane::Packets, title))
        .row_highlight_style(SELECTED)
        .highlight_symbol("▶")
        .highlight_spacing(ratatui::widgets::HighlightSpacing::Always);
    let mut state = ratatui::widgets::TableState::default()
        .with_selected(sel.and_then(|s| s.checked_sub(offset)));
    f.render_stateful_widget(table, area, &mut state);
}

/// One path line; fields that changed since the previous event are highlighted.
fn path_lines(ev: &Event, prev: Option<&Event>, first_ns: u64, out: &mut Vec<ListItem<'static>>) {
    let changed = |a: bool| if a { CHANGED } else { Style::new() };
    let iface = iface_label(ev).unwrap_or_else(|| "-".into());
    let d_iface = prev.is_some_and(|p| iface_label(p) != iface_label(ev));
    let d_ns = prev.is_some_and(|p| p.netns != ev.netns);
    let d_mark = prev.is_some_and(|p| p.mark != ev.mark);
    let d_len = prev.is_some_and(|p| p.len != ev.len);
    let tuple_changed =
        prev.is_some_and(|p| p.tuple.is_some() && ev.tuple.is_some() && p.tuple != ev.tuple);
    let is_drop = matches!(fate::classify(ev), fate::Step::Drop { .. });
    let func_style = if is_drop { DROPPED } else { Style::new() };
    let spans = vec![
        Span::raw(format!(
            "{:>9.1} ",
            ev.ktime_ns.saturating_sub(first_ns) as f64 / 1e3
        )),
        Span::styled(format!("{:<30} ", ev.func_display()), func_style),
        Span::styled(format!("{iface:<10} "), changed(d_iface)),
        Span::styled(format!("{:<10} ", ev.netns), changed(d_ns)),
        Span::styled(format!("{:>6x} ", ev.mark), changed(d_mark)),
        Span::styled(format!("{:>5}", ev.len), changed(d_len)),
    ];
    out.push(ListItem::new(Line::from(spans)));
    // A new tuple (NAT, encapsulation) gets its own line right where it first shows.
    if tuple_changed && let Some(t) = &ev.tuple {
        out.push(ListItem::new(Line::styled(
            format!("{:>12}tuple now {}", "⇒ ", tuple_text(t)),
            CHANGED,
        )));
    }
}

fn draw_path(f: &mut Frame, app: &mut App, area: Rect) {
    let Some(p) = app.selected_packet() else {
        let b = pane_block(app, Pane::Path, " Path ".into());
        f.render_widget(Paragraph::new("no packet yet").style(DIM).block(b), area);
        return;
    };
    let tuple = p.tuple().map(tuple_text).unwrap_or_else(|| l3_label(p));
    let mut title = format!(
        " Path of skb {:#x} · {tuple} · {} functions",
        p.skb,
        p.func_count()
    );
    if p.events_dropped > 0 {
        title += &format!(" ({} middle events not kept)", p.events_dropped);
    }
    title.push(' ');
    let block = pane_block(app, Pane::Path, title);
    let first_ns = p.first().ktime_ns;
    let header = ListItem::new(Line::styled(
        format!(
            "{:>9} {:<30} {:<10} {:<10} {:>6} {:>5}",
            "+µs", "FUNC", "IFACE", "NETNS", "MARK", "LEN"
        ),
        HEADER,
    ));
    let mut items = vec![header];
    let mut selected_item = 0;
    let evs = p.events();
    for (i, ev) in evs.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| &evs[j]);
        if i == app.path_sel {
            selected_item = items.len();
        }
        path_lines(ev, prev, first_ns, &mut items);
        if i == app.path_sel {
            for fr in &ev.stack {
                items.push(ListItem::new(Line::styled(
                    format!("{:>12}{fr}", "↳ "),
                    DIM,
                )));
            }
        }
    }
    let list = List::new(items)
        .highlight_symbol("▶")
        .highlight_spacing(ratatui::widgets::HighlightSpacing::Always)
        .block(block)
        .highlight_style(if app.pane == Pane::Path {
            SELECTED
        } else {
            Style::new().add_modifier(Modifier::UNDERLINED)
        });
    app.path_state.select(Some(selected_item));
    f.render_stateful_widget(list, area, &mut app.path_state);
}

fn draw_drops(f: &mut Frame, app: &mut App, area: Rect) {
    let drops = app.model.drops();
    let total: u64 = drops.iter().map(|d| d.count).sum();
    let title = format!(" Drops · {total} ");
    let sel = app.drop_sel.as_ref().and_then(|k| {
        drops
            .iter()
            .position(|d| (&d.reason, &d.func) == (&k.0, &k.1))
    });
    let rows: Vec<Row> = drops
        .iter()
        .map(|d| {
            Row::new(vec![
                Cell::from(format!("{:>6}", d.count)),
                Cell::from(Span::styled(d.reason.clone(), Style::new().fg(Color::Red))),
                Cell::from(d.func.clone()),
            ])
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(6),
            Constraint::Percentage(55),
            Constraint::Fill(1),
        ],
    )
    .header(Row::new(["COUNT", "REASON", "FUNCTION"]).style(HEADER))
    .block(pane_block(app, Pane::Drops, title))
    .row_highlight_style(if app.pane == Pane::Drops {
        SELECTED
    } else {
        Style::new()
    })
    .highlight_symbol(if app.pane == Pane::Drops { "▶" } else { " " })
    .highlight_spacing(ratatui::widgets::HighlightSpacing::Always);
    app.drops_state.select(sel);
    f.render_stateful_widget(table, area, &mut app.drops_state);
}

fn draw_cilium(f: &mut Frame, app: &mut App, area: Rect) {
    let block = pane_block(app, Pane::Cilium, " Cilium ".into());
    let mut lines = Vec::new();
    if let Some(p) = app.selected_packet() {
        let first = p.first().ktime_ns;
        for ev in p.events() {
            for a in ev
                .annotations
                .iter()
                .filter(|a| crate::model::is_cilium(&a.name))
            {
                let tag = if a.name == "cilium" {
                    String::new()
                } else {
                    format!(" [{}]", a.name)
                };
                lines.push(Line::styled(
                    format!(
                        "+{:.1}µs {}{tag}",
                        ev.ktime_ns.saturating_sub(first) as f64 / 1e3,
                        ev.func_display()
                    ),
                    HEADER,
                ));
                lines.extend(a.lines.iter().map(|l| Line::raw(format!("  {l}"))));
            }
        }
    }
    if lines.is_empty() {
        lines.push(Line::styled("no Cilium state for this packet", DIM));
    }
    let para = Paragraph::new(lines)
        .block(block)
        .wrap(ratatui::widgets::Wrap { trim: false });
    f.render_widget(para.scroll((app.cilium_scroll, 0)), area);
}

fn draw_status(f: &mut Frame, app: &App, area: Rect) {
    let s = &app.status;
    let sep = || Span::styled(" │ ", DIM);
    let red_if = |n: u64| if n > 0 { DROPPED } else { Style::new() };
    let mut spans = vec![
        Span::styled(
            format!(
                " {} ",
                if s.backend.is_empty() {
                    "-"
                } else {
                    &s.backend
                }
            ),
            HEADER,
        ),
        sep(),
    ];
    // A replay attaches nothing.
    if s.attached > 0 {
        spans.extend([Span::raw(format!("{} attached", s.attached)), sep()]);
    }
    spans.extend([
        Span::raw(format!("{:.0} ev/s", app.live.events_per_sec)),
        sep(),
        Span::styled(format!("lost {}", app.live.lost), red_if(app.live.lost)),
        sep(),
        Span::styled(
            format!("ui dropped {}", app.live.ui_dropped),
            red_if(app.live.ui_dropped),
        ),
        sep(),
    ]);
    if s.track_skb {
        spans.push(Span::styled(
            format!("untracked {}", app.live.untracked),
            red_if(app.live.untracked),
        ));
        spans.push(sep());
    }
    if s.drops_only {
        spans.push(Span::styled(
            format!("drops only, evicted {}", app.live.evicted),
            red_if(app.live.evicted),
        ));
        spans.push(sep());
    }
    spans.extend([
        Span::raw(format!(
            "filter: {}",
            if s.filter.is_empty() {
                "(none)"
            } else {
                &s.filter
            }
        )),
        sep(),
    ]);
    spans.push(if app.paused {
        Span::styled(
            " PAUSED ",
            Style::new()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        )
    } else {
        Span::styled("live", Style::new().fg(Color::Green))
    });
    spans.push(sep());
    spans.push(Span::raw("? help"));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_prompt(f: &mut Frame, app: &App, area: Rect) {
    let line = match &app.mode {
        Mode::Filter { input, .. } => {
            let mut v = vec![
                Span::styled("/", HEADER),
                Span::raw(input.clone()),
                Span::styled("█", DIM),
            ];
            if let Some(e) = &app.filter_error {
                v.push(Span::styled(format!("   {e}"), DROPPED));
            }
            Line::from(v)
        }
        _ => match &app.message {
            Some(m) => Line::raw(format!(" {m}")),
            None => Line::styled(
                " ↑↓/jk move  Enter open  Tab pane  / filter  space pause  w write  ? help  q quit",
                DIM,
            ),
        },
    };
    f.render_widget(Paragraph::new(line), area);
}

/// The key reference, also printed in docs/tui.md.
pub const HELP: &[(&str, &str)] = &[
    (
        "↑ ↓  j k",
        "move in the focused pane (PgUp/PgDn by 10, g/G or Home/End to first/last)",
    ),
    (
        "Enter",
        "Packets: open the path · Drops: jump to the latest packet with that drop",
    ),
    (
        "Tab / Shift-Tab",
        "next / previous pane (Packets, Path, Drops, Cilium)",
    ),
    (
        "/",
        "display filter: addr port proto if: func: reason: fate: (Enter keep, Esc undo)",
    ),
    (
        "space",
        "pause / resume reading events (what arrives meanwhile counts as ui dropped)",
    ),
    (
        "w",
        "write the selected packet's path as pwru text lines to ./pwru-<skb>-<time>.txt",
    ),
    ("G / End", "follow the newest packet again"),
    ("?", "this help"),
    ("q  Ctrl-C", "quit (probes are detached)"),
];

fn draw_help(f: &mut Frame, area: Rect) {
    let w = area.width.min(100);
    let h = (HELP.len() as u16 + 4).min(area.height);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(k, d)| {
            Line::from(vec![
                Span::styled(format!(" {k:<16}"), HEADER),
                Span::raw(*d),
            ])
        })
        .collect();
    lines.push(Line::styled(" any key closes this help", DIM));
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Keys ")),
        r,
    );
}
