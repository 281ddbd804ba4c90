//! Where events go and what they show: text or JSON lines on stdout or in `--output-file`, or the TUI.

use crate::cli::{Timestamp, TraceArgs};
use crate::say;
use anyhow::{Context, Result};
use event::{OutputOptions, TimestampMode};
use std::fs::File;
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
    /// `--output-limit-lines`: stop after this many events.
    pub limit: Option<u64>,
    /// The kernel-side filters in words, for the TUI's status line.
    pub filter_words: String,
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
    })
}

fn options(args: &TraceArgs) -> OutputOptions {
    OutputOptions {
        meta: args.output_meta,
        tuple: args.output_tuple,
        tcp_flags: args.output_tcp_flags,
        caller: args.output_caller,
        stack: args.output_stack,
        skb_cb: args.skb_cb(),
        timestamp: match args.timestamp {
            Timestamp::None => TimestampMode::None,
            Timestamp::Current => TimestampMode::Current,
            Timestamp::Relative => TimestampMode::Relative,
            Timestamp::Absolute => TimestampMode::Absolute,
        },
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
    words.join(" · ")
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
