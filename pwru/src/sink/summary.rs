//! `--summary` (and the counting behind `--metrics`): every event goes into one [`Tally`], shared with the metrics
//! endpoint (in a summary-only run the kernel counts events and packets, [`Sink::kernel`], and only drops arrive
//! here); the summary is printed at the end of the run and every `--summary-interval`, as a text table or one JSON
//! line (`{"summary": {…}}`), to stdout or `--output-file`, after the events printed there.

use super::lines::SharedWriter;
use super::tally::{KernelCounts, OTHER, Tally};
use super::{Counts, Sink};
use anyhow::Result;
use event::Event;
use serde_json::{Value, json};
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Flows shown in the top list.
const TOP_FLOWS: usize = 10;

/// What the summary and the metrics endpoint read: the tally and the tracer's counters.
pub struct Stats {
    /// Counted from the events.
    pub tally: Tally,
    /// The latest counters (about once a second, final at the end).
    pub counts: Counts,
    /// Probes attached.
    pub attached: usize,
    /// `--filter-track-skb` is on (its misses are reported).
    pub track_skb: bool,
}

/// [`Stats`] shared between the run and the metrics thread.
pub type SharedStats = Arc<Mutex<Stats>>;

/// Locks `s`, also after a panic elsewhere (the counts stay usable).
pub fn lock(s: &SharedStats) -> std::sync::MutexGuard<'_, Stats> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where and how the summary is printed.
pub struct Printer {
    /// Stdout or `--output-file`, shared with the event lines.
    pub out: SharedWriter,
    /// One JSON line instead of the table.
    pub json: bool,
    /// `--summary-interval`.
    pub interval: Option<Duration>,
}

/// Counts events into the shared stats; prints the summary when asked to.
pub struct TallySink {
    stats: SharedStats,
    printer: Option<Printer>,
    /// The kernel counts events and packets; the events here are drops.
    kernel: bool,
    start: Instant,
    last_print: Instant,
}

impl TallySink {
    /// Counts into `stats`; prints with `printer`. With `kernel` the events are the drops a summary-only run ships.
    pub fn new(stats: SharedStats, printer: Option<Printer>, kernel: bool) -> TallySink {
        let now = Instant::now();
        TallySink {
            stats,
            printer,
            kernel,
            start: now,
            last_print: now,
        }
    }

    fn print(&mut self, last: bool) -> Result<()> {
        let Some(p) = &self.printer else {
            return Ok(());
        };
        let elapsed = self.start.elapsed();
        let text = {
            let s = lock(&self.stats);
            if p.json {
                let mut line = json!({ "summary": to_json(&s, elapsed, last) }).to_string();
                line.push('\n');
                line
            } else {
                to_text(&s, elapsed, last)
            }
        };
        let mut out = p.out.borrow_mut();
        out.other(text.as_bytes());
        out.flush()
    }
}

impl Sink for TallySink {
    fn event(&mut self, ev: &Event) -> Result<()> {
        let mut s = lock(&self.stats);
        match self.kernel {
            true => s.tally.add_drop(ev),
            false => s.tally.add(ev),
        }
        Ok(())
    }

    fn kernel(&mut self, k: &KernelCounts) {
        lock(&self.stats).tally.set_kernel(k);
    }

    fn tick(&mut self, c: &Counts) -> Result<()> {
        lock(&self.stats).counts = *c;
        if let Some(every) = self.printer.as_ref().and_then(|p| p.interval)
            && self.last_print.elapsed() >= every
        {
            self.last_print = Instant::now();
            self.print(false)?;
        }
        Ok(())
    }

    fn finish(&mut self, c: &Counts) -> Result<()> {
        lock(&self.stats).counts = *c;
        self.print(true)
    }
}

/// The summary table.
pub fn to_text(s: &Stats, elapsed: Duration, last: bool) -> String {
    let t = &s.tally;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "pwru summary{} after {:.1} s: {} events, {} packets, {} dropped; {} events lost{}{}",
        if last { "" } else { " so far" },
        elapsed.as_secs_f64(),
        t.events,
        t.packets,
        t.drops,
        s.counts.lost,
        if s.track_skb {
            format!(
                ", {} skbs untracked (--filter-track-skb table full)",
                s.counts.untracked
            )
        } else {
            String::new()
        },
        match t.kernel_untracked {
            Some(n) if n > 0 => format!(", {n} events of packets untracked (kernel table full)"),
            _ => String::new(),
        }
    );
    let groups = t.groups_by_count();
    let cilium = groups.iter().any(|(k, _)| k.cilium.is_some());
    let mut rows: Vec<Vec<String>> = vec![
        ["DROPS", "REASON", "FUNCTION", "IFACE", "NETNS"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
    ];
    if cilium {
        rows[0].push("CILIUM".into());
    }
    for (k, c) in &groups {
        let mut r = vec![
            c.n.to_string(),
            k.reason.clone(),
            k.function.clone(),
            k.ifname.clone(),
            k.netns.clone(),
        ];
        if cilium {
            r.push(k.cilium.clone().unwrap_or_else(|| "-".into()));
        }
        rows.push(r);
    }
    if groups.is_empty() {
        o.push_str("no drops\n");
    } else {
        table(&mut o, &rows);
        if groups.iter().any(|(k, _)| k.is_other()) {
            let _ = writeln!(
                o,
                "({OTHER}: groups past the first {}, counted together)",
                t.max_groups
            );
        }
    }
    let flows = t.flows.top(TOP_FLOWS);
    if !flows.is_empty() {
        let mut rows = vec![vec!["DROPS".to_string(), "TOP FLOWS BY DROPS".to_string()]];
        for (f, n, err) in flows {
            let n = if err > 0 {
                format!("{n} (≤{err} of others)")
            } else {
                n.to_string()
            };
            rows.push(vec![n, f.display()]);
        }
        o.push('\n');
        table(&mut o, &rows);
    }
    let funcs = t.functions_by_count();
    if !funcs.is_empty() {
        let mut rows = vec![vec!["EVENTS".to_string(), "FUNCTION".to_string()]];
        rows.extend(
            funcs
                .iter()
                .map(|(f, n)| vec![n.to_string(), f.to_string()]),
        );
        o.push('\n');
        table(&mut o, &rows);
    }
    o.push('\n');
    o
}

/// Rows under a header, left-aligned columns, the first (a count) right-aligned.
fn table(o: &mut String, rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::new();
        for (c, v) in r.iter().enumerate() {
            let pad = width[c] - v.chars().count();
            if c == 0 {
                line.push_str(&" ".repeat(pad));
                line.push_str(v);
            } else {
                line.push_str("  ");
                line.push_str(v);
                if c + 1 < r.len() {
                    line.push_str(&" ".repeat(pad));
                }
            }
        }
        o.push_str(line.trim_end());
        o.push('\n');
    }
}

/// The summary as JSON (the value of the `summary` key).
pub fn to_json(s: &Stats, elapsed: Duration, last: bool) -> Value {
    let t = &s.tally;
    let drops: Vec<Value> = t
        .groups_by_count()
        .iter()
        .map(|(k, c)| {
            let mut v = json!({
                "reason": k.reason, "function": k.function, "ifname": k.ifname, "netns": k.netns, "count": c.n,
            });
            if let Some(cr) = &k.cilium {
                v["cilium_reason"] = json!(cr);
            }
            v
        })
        .collect();
    let flows: Vec<Value> = t
        .flows
        .top(TOP_FLOWS)
        .iter()
        .map(|(f, n, err)| {
            json!({ "saddr": f.saddr, "daddr": f.daddr, "sport": f.sport, "dport": f.dport, "proto": f.proto,
                    "drops": n, "max_overcount": err })
        })
        .collect();
    let funcs: Vec<Value> = t
        .functions_by_count()
        .iter()
        .map(|(f, n)| json!({ "function": f, "events": n }))
        .collect();
    let mut v = json!({
        "final": last,
        "elapsed_s": (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        "events": t.events,
        "packets": t.packets,
        "dropped": t.drops,
        "events_produced": s.counts.produced,
        "events_lost": s.counts.lost,
        "drops": drops,
        "top_flows": flows,
        "functions": funcs,
    });
    if s.track_skb {
        v["skbs_untracked"] = json!(s.counts.untracked);
    }
    if let Some(n) = t.kernel_untracked {
        v["packets_untracked"] = json!(n);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use event::{Annotation, DropReason, FuncKind, Tuple};

    fn stats() -> Stats {
        let mut tally = Tally::new(100);
        let ev = |skb: u64, at: u64, f: &str, reason: Option<&str>, cilium: bool| Event {
            skb,
            ktime_ns: at,
            func: f.into(),
            func_kind: FuncKind::Tracepoint,
            netns: 4026532000,
            ifindex: 3,
            ifname: Some("lxc1".into()),
            drop_reason: reason.map(|r| DropReason {
                code: 3,
                name: Some(r.into()),
            }),
            tuple: Some(Tuple::new([10, 0, 0, 1], 5000, [10, 0, 0, 2], 9, 17)),
            annotations: if cilium {
                vec![Annotation {
                    name: "cilium_drop".into(),
                    lines: vec![],
                    json: json!([{ "name": "POLICY_DENIED", "code": 133 }]),
                }]
            } else {
                vec![]
            },
            ..Default::default()
        };
        for i in 0..3 {
            tally.add(&ev(i, i * 10, "netif_receive_skb", None, false));
            tally.add(&ev(i, i * 10 + 1, "kfree_skb", Some("NO_SOCKET"), false));
        }
        tally.add(&ev(9, 100, "kfree_skb", Some("TC_INGRESS"), true));
        Stats {
            tally,
            counts: Counts {
                produced: 7,
                lost: 1,
                delivered: 7,
                untracked: 2,
                ..Default::default()
            },
            attached: 12,
            track_skb: true,
        }
    }

    #[test]
    fn text_table() {
        let text = to_text(&stats(), Duration::from_millis(1500), true);
        let want = "\
pwru summary after 1.5 s: 7 events, 4 packets, 4 dropped; 1 events lost, 2 skbs untracked (--filter-track-skb table full)
DROPS  REASON      FUNCTION   IFACE  NETNS       CILIUM
    3  NO_SOCKET   kfree_skb  lxc1   4026532000  -
    1  TC_INGRESS  kfree_skb  lxc1   4026532000  POLICY_DENIED

DROPS  TOP FLOWS BY DROPS
    4  10.0.0.1:5000->10.0.0.2:9(udp)

EVENTS  FUNCTION
     4  kfree_skb
     3  netif_receive_skb

";
        assert_eq!(text, want, "\n{text}");
    }

    #[test]
    fn json_object() {
        let v = to_json(&stats(), Duration::from_secs(2), false);
        assert_eq!(v["final"], false);
        assert_eq!(v["dropped"], 4);
        assert_eq!(v["drops"][0]["reason"], "NO_SOCKET");
        assert_eq!(v["drops"][0]["count"], 3);
        assert!(v["drops"][0].get("cilium_reason").is_none());
        assert_eq!(v["drops"][1]["cilium_reason"], "POLICY_DENIED");
        assert_eq!(v["top_flows"][0]["dport"], 9);
        assert_eq!(v["top_flows"][0]["drops"], 4);
        assert_eq!(v["functions"][1]["function"], "netif_receive_skb");
        assert_eq!(v["skbs_untracked"], 2);
        assert_eq!(v["events_lost"], 1);
    }
}
