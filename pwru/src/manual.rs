//! `pwru completions SHELL` and `pwru man`: generated from the clap definition, so they never drift from `--help`.

use crate::cli::Cli;
use anyhow::Result;
use clap::CommandFactory;
use std::io::Write;

/// Writes the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) -> Result<()> {
    // Generated in memory first: clap_complete panics on a write error (`pwru completions bash | head`).
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "pwru", &mut buf);
    out.write_all(&buf)?;
    out.flush()?;
    Ok(())
}

/// Writes the man page (roff), with the subcommands listed.
pub fn man(out: &mut dyn Write) -> Result<()> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut buf)?;
    out.write_all(&buf)?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_name_every_flag() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let mut out = Vec::new();
            completions(shell, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            for flag in [
                "filter-track-skb",
                "drops-only",
                "output-netns-names",
                "metrics",
            ] {
                assert!(text.contains(flag), "{shell:?} lacks --{flag}");
            }
        }
    }

    #[test]
    fn man_page_has_the_flags_and_subcommands() {
        let mut out = Vec::new();
        man(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(".ie") || text.contains(".TH pwru"),
            "{}",
            &text[..80]
        );
        for word in [
            "drops\\-only",
            "summary\\-interval",
            "completions",
            "cilium",
        ] {
            assert!(text.contains(word), "man page lacks {word}");
        }
    }

    /// A reader that went away is an error to return (main exits 0 on it), not a panic.
    #[test]
    fn a_closed_pipe_is_an_error_not_a_panic() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let e = completions(clap_complete::Shell::Bash, &mut Closed).unwrap_err();
        assert!(crate::say::is_broken_pipe(&e), "{e}");
        assert!(crate::say::is_broken_pipe(&man(&mut Closed).unwrap_err()));
    }
}
