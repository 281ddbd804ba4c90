//! `pwru completions SHELL` and `pwru man`: generated from the clap definition, so they never drift from `--help`.

use crate::cli::Cli;
use anyhow::Result;
use clap::CommandFactory;
use std::io::Write;

/// Writes the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) -> Result<()> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "pwru", out);
    out.flush()?;
    Ok(())
}

/// Writes the man page (roff), with the subcommands listed.
pub fn man(out: &mut dyn Write) -> Result<()> {
    clap_mangen::Man::new(Cli::command()).render(out)?;
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
}
