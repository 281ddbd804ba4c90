//! Where events go and what they show: text or JSON lines on stdout or in `--output-file`, or the TUI.

use crate::cli::{Timestamp, TraceArgs};
use crate::say;
use anyhow::{Context, Result};
use event::{OutputOptions, TimestampMode};
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

/// The event format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    /// `--tui`, keeping this many packets.
    Tui {
        max_packets: usize,
    },
}

/// Where text or JSON lines are written.
pub enum Destination {
    Stdout,
    File { path: PathBuf, file: File },
}

impl Destination {
    /// How errors name it: `stdout`, `--output-file PATH`.
    pub fn name(&self) -> String {
        match self {
            Destination::Stdout => "stdout".into(),
            Destination::File { path, .. } => format!("--output-file {}", path.display()),
        }
    }
}

/// The output half of the plan.
pub struct Output {
    pub format: Format,
    pub options: OutputOptions,
    /// `--output-limit-lines`: stop after this many events (printed ones with `--drops-only`).
    pub limit: Option<u64>,
    /// The kernel-side filters in words, for the TUI's status line.
    pub filter_words: String,
    /// Events reach a printer (false with `--summary` alone: only the summary is printed).
    pub events: bool,
    /// `--drops-only`, with its caps.
    pub drops_only: Option<DropsOnlyCaps>,
    /// `--summary`.
    pub summary: Option<Summary>,
    /// `--cilium` is on (a label of the drop metrics).
    pub cilium: bool,
}

/// `--drops-only-max-skbs` and `--drops-only-max-events`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DropsOnlyCaps {
    /// Packets held at once.
    pub skbs: usize,
    /// Events held per packet (at least 2).
    pub events: usize,
}

/// `--summary`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// `--summary-interval`.
    pub interval: Option<std::time::Duration>,
}

/// `--metrics`: the socket, listening already.
pub struct Metrics {
    pub listener: std::net::TcpListener,
    /// `--metrics-max-series`.
    pub max_series: usize,
}

/// The output flags as a plan (no I/O apart from the TUI's terminal check).
pub fn plan(args: &TraceArgs) -> Result<Output> {
    let format = if args.tui {
        // Without a terminal there is nothing to show: say so before any BPF work.
        ::tui::check_terminal()?;
        Format::Tui {
            max_packets: args.tui_max_packets as usize,
        }
    } else if args.output_json {
        Format::Json
    } else {
        Format::Text
    };
    Ok(Output {
        format,
        options: options(args),
        limit: (args.output_limit_lines > 0).then_some(args.output_limit_lines),
        filter_words: filter_words(args),
        events: !args.summary || args.drops_only || args.tui,
        drops_only: args.drops_only.then_some(DropsOnlyCaps {
            skbs: args.drops_only_max_skbs as usize,
            events: args.drops_only_max_events as usize,
        }),
        summary: args.summary.then(|| Summary {
            interval: args.summary_interval.map(std::time::Duration::from_secs),
        }),
        cilium: args.cilium.is_some(),
    })
}

fn options(args: &TraceArgs) -> OutputOptions {
    OutputOptions {
        meta: args.output_meta,
        tuple: args.output_tuple,
        tcp_flags: args.output_tcp_flags,
        caller: args.output_caller,
        stack: args.output_stack,
        timestamp: match args.timestamp {
            Timestamp::None => TimestampMode::None,
            Timestamp::Current => TimestampMode::Current,
            Timestamp::Relative => TimestampMode::Relative,
            Timestamp::Absolute => TimestampMode::Absolute,
        },
        // pwru raises a smaller width to 10 rather than refusing it, so its command lines keep working.
        netns_names: args
            .output_netns_names
            .then(|| args.netns_names_max_length.max(10) as usize),
        tunnel: args.output_tunnel,
    }
}

/// `host 10.0.0.5 · netns inode:4026531840 · mark 0x10 · iface eth0 · func ip_.*`.
fn filter_words(args: &TraceArgs) -> String {
    let mut words: Vec<String> = args.filter_expr().into_iter().collect();
    if let Some(n) = &args.filter_netns {
        words.push(format!("netns {n}"));
    }
    if let Some(m) = &args.filter_mark {
        words.push(format!("mark {m}"));
    }
    if let Some(i) = &args.filter_ifname {
        words.push(format!("iface {i}"));
    }
    if let Some(f) = &args.filter_func {
        words.push(format!("func {f}"));
    }
    for (flag, e) in [
        ("tunnel l2", &args.filter_tunnel_pcap_l2),
        ("tunnel l3", &args.filter_tunnel_pcap_l3),
    ] {
        if let Some(e) = e.as_deref().filter(|e| !e.trim().is_empty()) {
            words.push(format!("{flag} {e}"));
        }
    }
    words.join(" · ")
}

/// `ADDR:PORT` (`127.0.0.1:9464`, `[::1]:9464`, `:9464` for every address) → a socket address.
pub fn parse_metrics_addr(s: &str) -> Result<SocketAddr> {
    let full = match s.strip_prefix(':') {
        Some(port) => format!("[::]:{port}"),
        None => s.to_string(),
    };
    full.parse().with_context(|| {
        format!(
            "invalid --metrics {s:?}: expected ADDR:PORT, e.g. 127.0.0.1:9464, [::1]:9464 or :9464"
        )
    })
}

/// Listens on `addr` now, so a taken port is an error before any BPF work.
pub fn listen(addr: SocketAddr, arg: &str) -> Result<TcpListener> {
    let l = TcpListener::bind(addr)
        .with_context(|| format!("--metrics {arg}: cannot listen on {addr}"))?;
    l.set_nonblocking(true)
        .with_context(|| format!("--metrics {arg}"))?;
    Ok(l)
}

/// Opens stdout or creates `--output-file`. A FIFO nobody reads yet is said to be one, then waited for (the
/// start-up phases can be interrupted, so Ctrl-C ends the wait).
pub fn open(path: Option<&Path>) -> Result<Destination> {
    let Some(path) = path else {
        return Ok(Destination::Stdout);
    };
    use std::os::unix::fs::OpenOptionsExt;
    let what = || format!("cannot create --output-file {}", path.display());
    let file = match File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => {
            blocking(&f).with_context(what)?;
            f
        }
        // ENXIO: a FIFO without a reader (a non-blocking open never waits for one).
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
            say!(
                "--output-file {} is a FIFO with no reader yet: waiting for one (Ctrl-C to stop)",
                path.display()
            );
            File::options().write(true).open(path).with_context(what)?
        }
        Err(e) => return Err(e).with_context(what),
    };
    Ok(Destination::File {
        path: path.to_path_buf(),
        file,
    })
}

/// Clears O_NONBLOCK, so writes wait for a slow reader instead of failing with EAGAIN.
fn blocking(f: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = f.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own, with flag arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_metrics_addr("127.0.0.1:9464").unwrap().to_string(),
            "127.0.0.1:9464"
        );
        assert_eq!(
            parse_metrics_addr("[::1]:9464").unwrap().to_string(),
            "[::1]:9464"
        );
        assert_eq!(
            parse_metrics_addr(":9464").unwrap().to_string(),
            "[::]:9464"
        );
        let e = parse_metrics_addr("localhost").unwrap_err().to_string();
        assert!(e.contains("expected ADDR:PORT"), "{e}");
        assert!(parse_metrics_addr("1.2.3.4:99999").is_err());
    }
}
