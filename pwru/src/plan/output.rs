//! Where events go and what they show: text or JSON lines on stdout or in `--output-file`, or the TUI; and
//! beside them, `--output-pcap`.

use crate::cli::{OutputArgs, SelectArgs, Timestamp, TraceArgs};
use crate::say;
use anyhow::{Context, Result, bail};
use event::{OutputOptions, TimestampMode};
use std::fs::File;
use std::io::IsTerminal;
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

/// Where a stream of output (lines, pcapng) is written.
pub enum Destination {
    Stdout,
    File {
        /// The flag that named it (`--output-file`).
        flag: &'static str,
        path: PathBuf,
        file: File,
    },
}

impl Destination {
    /// How errors name it: `stdout`, `--output-file PATH`.
    pub fn name(&self) -> String {
        match self {
            Destination::Stdout => "stdout".into(),
            Destination::File { flag, path, .. } => format!("{flag} {}", path.display()),
        }
    }
}

/// The streams of a run, opened: lines (none with the TUI, or when pcapng takes stdout alone) and pcapng.
pub struct Destinations {
    pub lines: Option<Destination>,
    pub pcap: Option<Destination>,
}

/// `--output-pcap`'s options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pcap {
    /// `--snaplen`: bytes of each packet the probes copy.
    pub snaplen: u32,
    /// `--output-pcap-once`: each skb's first event only.
    pub once: bool,
    /// `--output-pcap-ethernet`: one link type, Ethernet.
    pub ethernet: bool,
}

/// `--snaplen`'s default: headers and the start of the payload, at a fraction of a full packet's cost.
pub const DEFAULT_SNAPLEN: u32 = 256;
/// The most `--snaplen` takes: what the probes copy at most.
pub const MAX_SNAPLEN: u32 = probes::event::SNAPLEN_MAX;

/// The output half of the plan.
pub struct Output {
    pub format: Format,
    pub options: OutputOptions,
    /// `--output-limit-lines`: stop after this many events (printed ones with `--drops-only`).
    pub limit: Option<u64>,
    /// The kernel-side filters in words, for the TUI's status line.
    pub filter_words: String,
    /// `--output-pcap`, when given.
    pub pcap: Option<Pcap>,
    /// Events reach a printer (false with `--summary` alone: only the summary is printed).
    pub events: bool,
    /// `--drops-only`, with its caps.
    pub drops_only: Option<DropsOnlyCaps>,
    /// `--summary`.
    pub summary: Option<Summary>,
    /// `--cilium` is on (a label of the drop metrics).
    pub cilium: bool,
    /// The cb column is on only because `--filter-trace-tc` is (no `--output-skb-cb`): it goes when the kernel
    /// refuses to trace BPF programs, as the words belong to tc programs.
    pub skb_cb_with_tc: bool,
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

/// The output flags as a plan (no I/O apart from the TUI's terminal check). `filter_words` says what selects
/// the events ([`filter_words`]); `snaplen` is `--snaplen` (the tracer's only: a replay has its bytes).
pub fn plan(args: &OutputArgs, filter_words: String, snaplen: Option<u32>) -> Result<Output> {
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
        filter_words,
        pcap: pcap(args, snaplen)?,
        // The drop views are the tracer's: see `drop_views`.
        events: true,
        drops_only: None,
        summary: None,
        cilium: false,
        skb_cb_with_tc: false,
    })
}

/// The tracer's drop views (`--drops-only`, `--summary`) and the labels `--metrics` needs, into its output plan.
pub fn drop_views(output: &mut Output, args: &TraceArgs) -> Result<()> {
    let out = &args.output;
    if args.summary
        && out.output_file.is_none()
        && out.output_pcap.as_deref() == Some(Path::new("-"))
    {
        bail!("--summary prints to stdout, which --output-pcap - takes: add --output-file FILE");
    }
    output.events = !args.summary || args.drops_only || out.tui;
    output.drops_only = args.drops_only.then_some(DropsOnlyCaps {
        skbs: args.drops_only_max_skbs as usize,
        events: args.drops_only_max_events as usize,
    });
    output.summary = args.summary.then(|| Summary {
        interval: args.summary_interval.map(std::time::Duration::from_secs),
    });
    output.cilium = args.cilium.is_some();
    Ok(())
}

fn pcap(args: &OutputArgs, snaplen: Option<u32>) -> Result<Option<Pcap>> {
    let Some(path) = &args.output_pcap else {
        return Ok(None);
    };
    let snaplen = snaplen.unwrap_or(DEFAULT_SNAPLEN);
    if snaplen > MAX_SNAPLEN {
        bail!("invalid --snaplen {snaplen}: at most {MAX_SNAPLEN} bytes (0: no packet bytes)");
    }
    if args.output_file.as_ref() == Some(path) {
        bail!("--output-file and --output-pcap name the same file");
    }
    if path == Path::new("-") {
        if args.tui {
            bail!("--output-pcap - cannot share the terminal with --tui: name a file");
        }
        if std::io::stdout().is_terminal() {
            bail!(
                "--output-pcap -: stdout is a terminal; pipe it (`| tshark -r -`) or name a file"
            );
        }
    }
    Ok(Some(Pcap {
        snaplen,
        once: args.output_pcap_once,
        ethernet: args.output_pcap_ethernet,
    }))
}

/// Opens the streams the output needs: before any BPF work, so a file that cannot be written stops the run
/// before it attaches.
pub fn open_all(output: &Output, args: &OutputArgs) -> Result<Destinations> {
    let pcap_stdout = output.pcap.is_some() && args.output_pcap.as_deref() == Some(Path::new("-"));
    let pcap = match &args.output_pcap {
        Some(_) if pcap_stdout => Some(Destination::Stdout),
        Some(p) if output.pcap.is_some() => Some(open("--output-pcap", Some(p))?),
        _ => None,
    };
    let lines = match (&output.format, &args.output_file) {
        // The summary follows the TUI on stdout, once the screen is restored.
        (Format::Tui { .. }, _) if output.summary.is_some() => Some(Destination::Stdout),
        (Format::Tui { .. }, _) => None,
        (_, None) if pcap_stdout => None,
        (_, path) => Some(open("--output-file", path.as_deref())?),
    };
    Ok(Destinations { lines, pcap })
}

fn options(args: &OutputArgs) -> OutputOptions {
    OutputOptions {
        meta: args.output_meta,
        tuple: args.output_tuple,
        tcp_flags: args.output_tcp_flags,
        caller: args.output_caller,
        stack: args.output_stack,
        // The tracer's (`--output-skb-cb`, see `Plan`): a replay has no cb words to show.
        skb_cb: false,
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

/// `host 10.0.0.5 · netns inode:4026531840 · mark 0x10 · iface eth0 · func ip_.*`; `tunnel` is the tracer's
/// `--filter-tunnel-pcap-l2` and `-l3`.
pub fn filter_words(expr: Option<String>, args: &SelectArgs, tunnel: [Option<&str>; 2]) -> String {
    let mut words: Vec<String> = expr.into_iter().collect();
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
    for (flag, e) in ["tunnel l2", "tunnel l3"].into_iter().zip(tunnel) {
        if let Some(e) = e.filter(|e| !e.trim().is_empty()) {
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

/// Opens stdout or creates the file `flag` names. A FIFO nobody reads yet is said to be one, then waited for (the
/// start-up phases can be interrupted, so Ctrl-C ends the wait).
pub fn open(flag: &'static str, path: Option<&Path>) -> Result<Destination> {
    let Some(path) = path else {
        return Ok(Destination::Stdout);
    };
    use std::os::unix::fs::OpenOptionsExt;
    let what = || format!("cannot create {flag} {}", path.display());
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
                "{flag} {} is a FIFO with no reader yet: waiting for one (Ctrl-C to stop)",
                path.display()
            );
            File::options().write(true).open(path).with_context(what)?
        }
        Err(e) => return Err(e).with_context(what),
    };
    Ok(Destination::File {
        flag,
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
