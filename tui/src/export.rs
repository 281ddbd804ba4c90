//! `w`: writes the selected packet's path as pwru plain-text lines, with the same formatter as `pwru`'s text output
//! (`event::TextFormatter`), so the file can be pasted into a bug report or diffed against a text-mode capture.

use crate::model::Packet;
use event::{OutputOptions, TextFormatter};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The text lines (header first) for a packet, with the text output's options (`--output-*`, `--timestamp`); stack
/// and annotation lines follow their event, as in text mode.
pub fn packet_text(p: &Packet, opts: OutputOptions) -> String {
    let mut f = TextFormatter::new(opts);
    let mut s = f.header();
    s.push('\n');
    for ev in p.events() {
        f.format_into(ev, &mut s);
    }
    s
}

/// File name for a packet: `pwru-<skb>-<first ktime>.txt` in `dir` (unique per packet, stable across writes).
pub fn file_for(dir: &Path, p: &Packet) -> PathBuf {
    dir.join(format!("pwru-{:x}-{}.txt", p.skb, p.first().ktime_ns))
}

/// Writes the packet; returns the path and the number of lines.
pub fn write_packet(
    dir: &Path,
    p: &Packet,
    opts: OutputOptions,
) -> std::io::Result<(PathBuf, usize)> {
    let path = file_for(dir, p);
    let text = packet_text(p, opts);
    let mut f = std::fs::File::create(&path)?;
    f.write_all(text.as_bytes())?;
    Ok((path, text.lines().count()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::model::{Model, ModelConfig};

    #[test]
    fn writes_the_text_formatters_lines() {
        let mut m = Model::new(ModelConfig::default());
        fixtures::udp_no_socket()
            .into_iter()
            .for_each(|e| m.push(e));
        let p = m.packets().next().unwrap();
        let dir = std::env::temp_dir().join(format!("tui-export-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let opts = OutputOptions {
            stack: true,
            ..Default::default()
        };
        let (path, n) = write_packet(&dir, p, opts).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        // Header, 6 events, 8 stack frames.
        assert_eq!(n, 1 + 6 + 8);
        let mut f = TextFormatter::new(OutputOptions {
            stack: true,
            ..Default::default()
        });
        let mut want = f.header() + "\n";
        fixtures::udp_no_socket()
            .iter()
            .for_each(|e| want += &f.format(e));
        assert_eq!(text, want);
        assert!(text.lines().next().unwrap().starts_with("SKB "));
        assert!(text.contains("kfree_skb(NO_SOCKET)"));
        assert!(text.contains("10.0.0.1:40000->10.0.0.2:9999(udp)"));
    }
}
