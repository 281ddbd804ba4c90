//! pwru: trace the kernel functions a packet passes through.

use clap::Parser;
use pwru::filter_cmd::BadFilter;
use pwru::{cli, filter_cmd, run, sink};
use std::io::IsTerminal;

fn main() {
    install_panic_hook();
    let cli = cli::Cli::parse();
    let result = match cli.command {
        Some(cli::Command::Filter(f)) => filter_cmd::run(&f),
        Some(cli::Command::Cilium { cmd }) => {
            cilium::run(&cmd, &mut std::io::stdout().lock()).map(|()| 0)
        }
        None => run::trace(cli.trace),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) if sink::is_broken_pipe(&e) => std::process::exit(0),
        Err(e) => {
            eprintln!("pwru: {}", one_line(&e));
            // A person at a terminal also gets the caret under the column; logs and scripts keep one line.
            if let Some(excerpt) = e.downcast_ref::<BadFilter>().and_then(BadFilter::excerpt)
                && std::io::stderr().is_terminal()
            {
                eprintln!("{excerpt}");
            }
            std::process::exit(1);
        }
    }
}

/// `outer: inner: root cause` on one line.
fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for c in e.chain() {
        let part = c.to_string().replace('\n', " ");
        // Many errors repeat their source in their own message; print each cause once.
        if !out.contains(&part) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&part);
        }
    }
    out
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
        eprintln!(
            "pwru: internal error: {}{at} (please report this bug)",
            msg.replace('\n', " ")
        );
    }));
}
