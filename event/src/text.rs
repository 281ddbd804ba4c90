//! pwru-compatible plain text: the header and one line per event, with fixed column widths.
//!
//! Columns and order follow cilium/pwru (`SKB CPU PROCESS [TIMESTAMP] NETNS MARK/x IFACE PROTO MTU LEN TUPLE FUNC`,
//! `TIME` first with `--timestamp absolute`), so pwru users' greps and habits keep working. Unlike pwru, TUPLE
//! (and FUNC when a CALLER follows) have fixed widths, so lines stay aligned however the traffic changes; only
//! IPv6 tuples longer than the column push the rest of their own line right. With `--output-tunnel` a TUNNEL
//! column ends the line (the inner packet of VXLAN/Geneve, as in pwru), and a map operation (`--output-bpfmap`)
//! is an indented `bpfmap` line under its event.

use crate::time::{SinceLast, local_millis};
use crate::{Event, Formatter, OutputOptions, TimestampMode};
use std::fmt::Write;

/// Width of the TUPLE column: the longest IPv4 tuple, `255.255.255.255:65535->255.255.255.255:65535(icmp6)`.
pub const TUPLE_WIDTH: usize = 51;
/// Width of FUNC when CALLER follows it.
pub const FUNC_WIDTH: usize = 40;
const IFACE_WIDTH: usize = 16;
/// The line under a dump the kernel had to cut.
pub const DUMP_CUT: &str = "[... cut: the struct did not fit in the per-CPU buffer]";
/// Width of the `__sk_buff->cb[]` column: `[0x00000000,…]`, five words.
pub const CB_WIDTH: usize = 56;

/// Formats events as text lines. Holds the little state `--timestamp relative` needs (last time per skb).
#[derive(Debug, Default)]
pub struct TextFormatter {
    /// What the lines show.
    pub opts: OutputOptions,
    since: SinceLast,
}

impl TextFormatter {
    /// A formatter printing what `opts` asks for.
    pub fn new(opts: OutputOptions) -> Self {
        Self {
            opts,
            since: SinceLast::default(),
        }
    }

    /// The header line, without a newline.
    pub fn header(&self) -> String {
        let o = &self.opts;
        let mut s = String::with_capacity(160);
        if o.timestamp == TimestampMode::Absolute {
            let _ = write!(s, "{:<23} ", "TIME");
        }
        let _ = write!(s, "{:<18} {:<3} {:<16}", "SKB", "CPU", "PROCESS");
        if matches!(
            o.timestamp,
            TimestampMode::Current | TimestampMode::Relative
        ) {
            let _ = write!(s, " {:<16}", "TIMESTAMP");
        }
        if o.meta {
            let _ = write!(
                s,
                " {:<10} {:<8} {} {:<6} {:<5} {:<5}",
                "NETNS",
                "MARK/x",
                center("IFACE", IFACE_WIDTH),
                "PROTO",
                "MTU",
                "LEN"
            );
            if o.skb_cb {
                let _ = write!(s, " {:<CB_WIDTH$}", "__sk_buff->cb[]");
            }
        }
        if let Some(w) = o.netns_names {
            let _ = write!(s, " {}", center("NETNS NAME", w));
        }
        if o.tuple {
            let _ = write!(s, " {:<TUPLE_WIDTH$}", "TUPLE");
        }
        match (o.caller, o.tunnel) {
            (false, false) => s.push_str(" FUNC"),
            (true, false) => {
                let _ = write!(s, " {:<FUNC_WIDTH$} CALLER", "FUNC");
            }
            (false, true) => {
                let _ = write!(s, " {:<FUNC_WIDTH$} TUNNEL", "FUNC");
            }
            (true, true) => {
                let _ = write!(
                    s,
                    " {:<FUNC_WIDTH$} {:<FUNC_WIDTH$} TUNNEL",
                    "FUNC", "CALLER"
                );
            }
        }
        s
    }

    /// Appends the event's line (with its metadata values at the end), then its stack (indented), its dumps and its
    /// annotation lines (indented), each ending in `\n`.
    pub fn format_into(&mut self, ev: &Event, s: &mut String) {
        let o = self.opts;
        if o.timestamp == TimestampMode::Absolute {
            let _ = write!(s, "{:<23} ", local_millis(ev.wall_ns));
        }
        let _ = write!(s, "{:<#18x} {:<3} {:<16}", ev.skb, ev.cpu, ev.process);
        match o.timestamp {
            TimestampMode::Current => {
                let _ = write!(s, " {:<16}", ev.ktime_ns);
            }
            TimestampMode::Relative => {
                let delta = self.since.delta(ev.skb, ev.ktime_ns);
                let _ = write!(s, " {delta:<16}");
            }
            _ => {}
        }
        if o.meta {
            let _ = write!(s, " {:<10} {:<8x} ", ev.netns, ev.mark);
            push_centered(s, &fit_iface(ev), IFACE_WIDTH);
            let _ = write!(s, " 0x{:04x} {:<5} {:<5}", ev.proto, ev.mtu, ev.len);
            if o.skb_cb {
                s.push(' ');
                let start = s.len();
                match &ev.cb {
                    Some(cb) => {
                        s.push('[');
                        for (i, w) in cb.iter().enumerate() {
                            if i > 0 {
                                s.push(',');
                            }
                            let _ = write!(s, "0x{w:08X}");
                        }
                        s.push(']');
                    }
                    None => s.push('-'),
                }
                pad_to(s, start, CB_WIDTH);
            }
        }
        if let Some(w) = o.netns_names {
            s.push(' ');
            // Cut to the column, as pwru does; `-` when unknown, so the columns stay countable.
            let name = ev.netns_name.as_deref().unwrap_or("-");
            let cut: String = name.chars().take(w).collect();
            push_centered(s, &cut, w);
        }
        if o.tuple {
            s.push(' ');
            let start = s.len();
            match &ev.tuple {
                Some(t) => t.write_to(s, o.tcp_flags),
                None => s.push('-'),
            }
            pad_to(s, start, TUPLE_WIDTH);
        }
        s.push(' ');
        let start = s.len();
        ev.write_func(s);
        if o.caller {
            pad_to(s, start, FUNC_WIDTH);
            s.push(' ');
            let start = s.len();
            s.push_str(ev.caller.as_deref().unwrap_or("-"));
            if o.tunnel {
                pad_to(s, start, FUNC_WIDTH);
            }
        } else if o.tunnel {
            pad_to(s, start, FUNC_WIDTH);
        }
        if o.tunnel {
            s.push(' ');
            match &ev.tunnel {
                Some(t) => t.write_to(s, o.tcp_flags),
                None => s.push('-'),
            }
        }
        // After the line, as pwru prints them: ` skb->mark=0x2a skb->dev->name="eth0"`.
        for m in &ev.metadata {
            let _ = write!(s, " {}={}", m.expr, m.text);
        }
        s.push('\n');
        if o.stack {
            for frame in &ev.stack {
                let _ = writeln!(s, "    {frame}");
            }
        }
        for d in &ev.dumps {
            s.push_str(d.text.trim_end_matches('\n'));
            s.push('\n');
            if d.cut {
                s.push_str(DUMP_CUT);
                s.push('\n');
            }
        }
        if let Some(m) = &ev.map_op {
            s.push_str("    bpfmap ");
            m.write_to(s);
            s.push('\n');
        }
        for a in &ev.annotations {
            for l in &a.lines {
                let _ = writeln!(s, "    {l}");
            }
        }
    }

    /// The event's text (one or more lines, each ending in `\n`).
    pub fn format(&mut self, ev: &Event) -> String {
        let mut s = String::with_capacity(192);
        self.format_into(ev, &mut s);
        s
    }
}

impl Formatter for TextFormatter {
    fn header(&self) -> Option<String> {
        Some(TextFormatter::header(self))
    }

    fn format_into(&mut self, ev: &Event, out: &mut String) {
        TextFormatter::format_into(self, ev, out)
    }
}

/// `name:ifindex` cut to the column: a long name loses its start (marked `~`), the ifindex always stays.
fn fit_iface(ev: &Event) -> String {
    let full = ev.iface_display();
    if full.chars().count() <= IFACE_WIDTH {
        return full;
    }
    let keep = IFACE_WIDTH - 1;
    let tail: String = full
        .chars()
        .rev()
        .take(keep)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("~{tail}")
}

/// Pads what was written since `start` with spaces to `width` characters.
fn pad_to(s: &mut String, start: usize, width: usize) {
    let n = s[start..].chars().count();
    for _ in n..width {
        s.push(' ');
    }
}

fn push_centered(s: &mut String, v: &str, width: usize) {
    let n = v.chars().count();
    let left = width.saturating_sub(n) / 2;
    let right = width.saturating_sub(n) - left;
    s.extend(std::iter::repeat_n(' ', left));
    s.push_str(v);
    s.extend(std::iter::repeat_n(' ', right));
}

fn center(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n >= width {
        return s.to_string();
    }
    let left = (width - n) / 2;
    format!("{}{s}{}", " ".repeat(left), " ".repeat(width - n - left))
}
