//! `--metrics ADDR:PORT`: the counts of [`Stats`] in Prometheus' text exposition format on `/metrics`, served by a
//! small HTTP/1.1 server on its own thread (one connection at a time, bounded reads, a timeout per request), so a
//! scrape is answered also while the run loop drains a flood.
//!
//! Label sets are admitted in order of arrival up to `--metrics-max-series` per metric; later ones count under the
//! label value `other`. A series, once shown, is shown in every later scrape, so counters never go back.

use super::summary::{SharedStats, Stats, lock};
use super::tally::OTHER;
use super::{Counts, Sink};
use anyhow::Result;
use event::Event;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Most bytes of a request read.
const MAX_REQUEST: usize = 8 << 10;
/// A client that sends nothing for this long is dropped.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// What the endpoint shows besides the tally.
#[derive(Clone, Debug)]
pub struct Info {
    /// `kprobe`, `kprobe-multi`, `tracepoint`.
    pub backend: String,
    /// Most label sets per metric.
    pub max_series: usize,
    /// `--cilium`: a `cilium_reason` label on drops.
    pub cilium: bool,
}

/// The metrics page.
pub fn render(s: &Stats, info: &Info) -> String {
    let mut o = String::with_capacity(4096);
    let c = &s.counts;
    family(
        &mut o,
        "pwru_events_total",
        "counter",
        "Events the probes produced (selected by the filters).",
    );
    let _ = writeln!(o, "pwru_events_total {}", c.produced);
    family(
        &mut o,
        "pwru_events_lost_total",
        "counter",
        "Events lost because the ring buffer was full.",
    );
    let _ = writeln!(o, "pwru_events_lost_total {}", c.lost);
    family(
        &mut o,
        "pwru_probes_attached",
        "gauge",
        "Kernel functions or tracepoints attached.",
    );
    let _ = writeln!(
        o,
        "pwru_probes_attached{{backend=\"{}\"}} {}",
        esc(&info.backend),
        s.attached
    );
    if s.track_skb {
        family(
            &mut o,
            "pwru_skbs_untracked_total",
            "counter",
            "skbs --filter-track-skb could not remember (its table was full).",
        );
        let _ = writeln!(o, "pwru_skbs_untracked_total {}", c.untracked);
    }
    let t = &s.tally;
    family(
        &mut o,
        "pwru_packets_total",
        "counter",
        "Packets (skb paths) seen in the events.",
    );
    let _ = writeln!(o, "pwru_packets_total {}", t.packets);

    family(
        &mut o,
        "pwru_drops_total",
        "counter",
        "Packets dropped, by kernel drop reason, dropping function, interface and netns.",
    );
    // Admission by arrival: the first max_series groups apart, the rest (and the tally's own `other`) together.
    let mut groups: Vec<_> = t.groups.iter().collect();
    groups.sort_by_key(|(_, c)| c.first);
    let mut lines: BTreeMap<String, u64> = BTreeMap::new();
    for (i, (k, c)) in groups.iter().enumerate() {
        let labels = if i < info.max_series && !k.is_other() {
            let mut l = format!(
                "reason=\"{}\",function=\"{}\",ifname=\"{}\",netns=\"{}\"",
                esc(&k.reason),
                esc(&k.function),
                esc(&k.ifname),
                esc(&k.netns)
            );
            if info.cilium {
                let _ = write!(
                    l,
                    ",cilium_reason=\"{}\"",
                    esc(k.cilium.as_deref().unwrap_or(""))
                );
            }
            l
        } else {
            let mut l = format!(
                "reason=\"{OTHER}\",function=\"{OTHER}\",ifname=\"{OTHER}\",netns=\"{OTHER}\""
            );
            if info.cilium {
                let _ = write!(l, ",cilium_reason=\"{OTHER}\"");
            }
            l
        };
        *lines.entry(labels).or_default() += c.n;
    }
    for (l, n) in lines {
        let _ = writeln!(o, "pwru_drops_total{{{l}}} {n}");
    }

    family(
        &mut o,
        "pwru_function_events_total",
        "counter",
        "Events per probed function or tracepoint.",
    );
    let mut funcs: Vec<_> = t.functions.iter().collect();
    funcs.sort();
    let mut other = 0;
    for (i, (f, n)) in funcs.iter().enumerate() {
        // Functions are known at attach time and few; the cap only guards against the unexpected.
        if i < info.max_series {
            let _ = writeln!(
                o,
                "pwru_function_events_total{{function=\"{}\"}} {n}",
                esc(f)
            );
        } else {
            other += **n;
        }
    }
    if other > 0 {
        let _ = writeln!(
            o,
            "pwru_function_events_total{{function=\"{OTHER}\"}} {other}"
        );
    }
    o
}

fn family(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}");
    let _ = writeln!(o, "# TYPE {name} {kind}");
}

/// A label value as the exposition format wants it (backslash, quote and newline escaped).
fn esc(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// The endpoint's thread; finishing the sink stops it.
pub struct MetricsSink {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsSink {
    /// Serves `stats` on `listener` (non-blocking) until finished.
    pub fn start(listener: TcpListener, stats: SharedStats, info: Info) -> Result<MetricsSink> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("pwru-metrics".into())
            .spawn(move || serve(listener, &stats, &info, &s))?;
        Ok(MetricsSink {
            stop,
            thread: Some(thread),
        })
    }

    fn stop_server(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Sink for MetricsSink {
    fn event(&mut self, _: &Event) -> Result<()> {
        Ok(())
    }

    fn finish(&mut self, _: &Counts) -> Result<()> {
        self.stop_server();
        Ok(())
    }
}

impl Drop for MetricsSink {
    fn drop(&mut self) {
        self.stop_server();
    }
}

fn serve(listener: TcpListener, stats: &SharedStats, info: &Info, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((conn, _)) => {
                // A client's failure (reset, timeout) concerns only that client.
                let _ = answer(conn, stats, info);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn answer(mut conn: TcpStream, stats: &SharedStats, info: &Info) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    conn.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut req = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && !req.windows(2).any(|w| w == b"\n\n") {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        req.extend_from_slice(&buf[..n]);
        if req.len() > MAX_REQUEST {
            return respond(
                &mut conn,
                "431 Request Header Fields Too Large",
                "text/plain",
                b"request too large\n",
            );
        }
    }
    let line = String::from_utf8_lossy(req.split(|&b| b == b'\n').next().unwrap_or(b""));
    let mut words = line.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let body = render(&lock(stats), info);
            let body = if method == "HEAD" {
                Vec::new()
            } else {
                body.into_bytes()
            };
            respond(
                &mut conn,
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                &body,
            )
        }
        ("GET" | "HEAD", "/") => respond(
            &mut conn,
            "200 OK",
            "text/plain; charset=utf-8",
            b"pwru: metrics at /metrics\n",
        ),
        ("GET" | "HEAD", _) => respond(
            &mut conn,
            "404 Not Found",
            "text/plain",
            b"not found: try /metrics\n",
        ),
        _ => respond(
            &mut conn,
            "405 Method Not Allowed",
            "text/plain",
            b"only GET\n",
        ),
    }
}

fn respond(conn: &mut TcpStream, status: &str, ctype: &str, body: &[u8]) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes())?;
    conn.write_all(body)?;
    conn.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::tally::Tally;
    use event::{DropReason, FuncKind};
    use std::sync::Mutex;

    fn stats(groups: &[(&str, &str)]) -> Stats {
        let mut tally = Tally::new(100);
        for (i, (reason, ifname)) in groups.iter().enumerate() {
            tally.add(&Event {
                skb: i as u64,
                func: "kfree_skb".into(),
                func_kind: FuncKind::Tracepoint,
                ifindex: 2,
                ifname: Some(ifname.to_string()),
                netns: 7,
                drop_reason: Some(DropReason {
                    code: 1,
                    name: Some(reason.to_string()),
                }),
                ..Default::default()
            });
        }
        Stats {
            tally,
            counts: Counts {
                produced: 10,
                lost: 2,
                ..Default::default()
            },
            attached: 5,
            track_skb: false,
        }
    }

    fn info(max_series: usize) -> Info {
        Info {
            backend: "tracepoint".into(),
            max_series,
            cilium: false,
        }
    }

    #[test]
    fn exposition_lines() {
        let text = render(
            &stats(&[
                ("NO_SOCKET", "eth0"),
                ("NO_SOCKET", "eth0"),
                ("A\"b", "x\\y"),
            ]),
            &info(10),
        );
        for want in [
            "# TYPE pwru_drops_total counter",
            "pwru_events_total 10",
            "pwru_events_lost_total 2",
            "pwru_probes_attached{backend=\"tracepoint\"} 5",
            "pwru_drops_total{reason=\"NO_SOCKET\",function=\"kfree_skb\",ifname=\"eth0\",netns=\"7\"} 2",
            "pwru_drops_total{reason=\"A\\\"b\",function=\"kfree_skb\",ifname=\"x\\\\y\",netns=\"7\"} 1",
            "pwru_function_events_total{function=\"kfree_skb\"} 3",
            "pwru_packets_total 3",
        ] {
            assert!(text.lines().any(|l| l == want), "no {want:?} in\n{text}");
        }
        assert!(!text.contains("untracked"));
    }

    #[test]
    fn series_past_the_cap_are_other_and_stay_put() {
        let s = stats(&[("A", "e"), ("B", "e"), ("C", "e"), ("A", "e"), ("D", "e")]);
        let text = render(&s, &info(2));
        let drops: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("pwru_drops_total{"))
            .collect();
        assert_eq!(drops.len(), 3, "{text}");
        assert!(
            drops
                .iter()
                .any(|l| l.contains("reason=\"A\"") && l.ends_with(" 2"))
        );
        assert!(
            drops
                .iter()
                .any(|l| l.contains("reason=\"B\"") && l.ends_with(" 1"))
        );
        assert!(
            drops
                .iter()
                .any(|l| l.contains("reason=\"other\"") && l.ends_with(" 2")),
            "{text}"
        );
    }

    /// docs/drops.md lists every metric, and the Grafana dashboard asks only for metrics that exist.
    #[test]
    fn docs_and_dashboard_match_the_metrics() {
        let mut st = stats(&[("NO_SOCKET", "eth0")]);
        st.track_skb = true;
        let text = render(&st, &info(10));
        let families: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let doc = std::fs::read_to_string(root.join("docs/drops.md")).unwrap();
        for f in &families {
            assert!(
                doc.contains(&format!("`{f}`")),
                "docs/drops.md does not list {f}"
            );
        }
        let dash: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root.join("docs/grafana/pwru-drops.json")).unwrap(),
        )
        .expect("the dashboard is JSON");
        let mut exprs = 0;
        for panel in dash["panels"].as_array().unwrap() {
            for t in panel["targets"].as_array().unwrap() {
                let e = t["expr"].as_str().unwrap();
                exprs += 1;
                let used: Vec<&str> = e
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .filter(|w| w.starts_with("pwru_"))
                    .collect();
                assert!(!used.is_empty(), "{e}");
                for m in used {
                    assert!(
                        families.contains(&m),
                        "the dashboard asks for {m}, which pwru does not export"
                    );
                }
            }
        }
        assert!(exprs >= 5);
    }

    #[test]
    fn serves_metrics_over_http() {
        let l = crate::plan::output::listen("127.0.0.1:0".parse().unwrap(), "x").unwrap();
        let addr = l.local_addr().unwrap();
        let shared = Arc::new(Mutex::new(stats(&[("NO_SOCKET", "eth0")])));
        let mut m = MetricsSink::start(l, shared.clone(), info(10)).unwrap();
        let get = |req: &str| {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(req.as_bytes()).unwrap();
            let mut out = String::new();
            c.read_to_string(&mut out).unwrap();
            out
        };
        let r = get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("Content-Type: text/plain; version=0.0.4"));
        assert!(r.contains("pwru_drops_total{reason=\"NO_SOCKET\""));
        // Counts move between scrapes.
        lock(&shared).counts.produced = 99;
        assert!(get("GET /metrics HTTP/1.0\r\n\r\n").contains("pwru_events_total 99"));
        assert!(get("GET /nope HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(get("POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
        assert!(
            get(&format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_REQUEST)))
                .starts_with("HTTP/1.1 431")
        );
        m.finish(&Counts::default()).unwrap();
        assert!(
            TcpStream::connect(addr).is_err(),
            "the listener closes with the run"
        );
    }
}
