//! pwru: trace the kernel functions a packet passes through.

use clap::Parser;
use pwru::filter_cmd::BadFilter;
use pwru::say::{is_broken_pipe, one_line};
use pwru::{cli, filter_cmd, manual, replay, say, trace};
use std::io::{IsTerminal, Write};

fn main() {
    install_panic_hook();
    small_heap();
    let cli = cli::Cli::parse();
    let result = match cli.command {
        Some(cli::Command::Filter(f)) => filter_cmd::run(&f),
        Some(cli::Command::Replay(r)) => replay::run(&r),
        Some(cli::Command::Cilium { cmd }) => cilium::run(&cmd, &mut Stdout).map(|()| 0),
        Some(cli::Command::Completions { shell }) => {
            manual::completions(shell, &mut Stdout).map(|()| 0)
        }
        Some(cli::Command::Man) => manual::man(&mut Stdout).map(|()| 0),
        None => trace::trace(cli.trace),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) if is_broken_pipe(&e) => std::process::exit(0),
        Err(e) => {
            say!("{}", one_line(&e));
            // A person at a terminal also gets the caret under the column; logs and scripts keep one line.
            if let Some(excerpt) = e.downcast_ref::<BadFilter>().and_then(BadFilter::excerpt)
                && std::io::stderr().is_terminal()
            {
                let _ = writeln!(std::io::stderr(), "{excerpt}");
            }
            std::process::exit(1);
        }
    }
}

/// stdout, with errors that say they are stdout's (their kind is kept, so a closed pipe is still one).
struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::stdout().lock().write(buf).map_err(named)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().lock().flush().map_err(named)
    }
}

fn named(e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("cannot write to stdout: {e}"))
}

/// Start-up parses the kernel's BTF (tens of MB, on helper threads) and then frees it; by default glibc keeps such
/// memory: in a per-thread arena that trimming does not shrink, and behind a trim threshold it raises after every
/// large free. One arena and fixed thresholds let the tracer's resident size fall back once attached.
fn small_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 20);
    }
}

/// A bug must still end in one readable line, not a backtrace dump across the user's terminal.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        say!(
            "internal error: {}{at} (please report this bug)",
            msg.replace('\n', " ")
        );
    }));
}
