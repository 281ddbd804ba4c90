//! Go `text/tabwriter` column layout, as cilium-dbg uses it (`minwidth 5, tabwidth 0, padding 3, ' ', 0`), so our
//! tables line up exactly like the ones users paste from `cilium-dbg bpf … list`.

const MIN_WIDTH: usize = 5;
const PADDING: usize = 3;

/// Lays out text whose cells are tab-terminated, line by line, the way Go's tabwriter does: a column block is a
/// run of consecutive lines that have a tab-terminated cell in that column; its width is the widest cell plus
/// padding (at least `MIN_WIDTH`). The text after a line's last tab is not part of any column.
pub(crate) fn layout(text: &str) -> String {
    let mut lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    // `split` yields one empty trailing line after a final newline; it is not a line.
    let trailing_newline = text.ends_with('\n');
    if trailing_newline {
        lines.pop();
    }
    let mut out = String::new();
    let mut widths = Vec::new();
    format(&lines, &mut widths, 0, lines.len(), &mut out);
    if !trailing_newline && out.ends_with('\n') {
        out.pop();
    }
    out
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn format(
    lines: &[Vec<&str>],
    widths: &mut Vec<usize>,
    mut line0: usize,
    line1: usize,
    out: &mut String,
) {
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        write_lines(lines, widths, line0, this, out);
        line0 = this;
        let mut w = MIN_WIDTH;
        while this < line1 && column + 1 < lines[this].len() {
            w = w.max(width(lines[this][column]) + PADDING);
            this += 1;
        }
        widths.push(w);
        format(lines, widths, line0, this, out);
        widths.pop();
        line0 = this;
    }
    write_lines(lines, widths, line0, line1, out);
}

fn write_lines(
    lines: &[Vec<&str>],
    widths: &[usize],
    line0: usize,
    line1: usize,
    out: &mut String,
) {
    for line in &lines[line0..line1] {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j < widths.len() {
                for _ in width(cell)..widths[j] {
                    out.push(' ');
                }
            }
        }
        out.push('\n');
    }
}

/// A two-column cilium-dbg table (`TablePrinter`): header `"%s\t%s\n"`, rows `"%s\t%s\t\n"`, further values of
/// the same key with an empty first cell.
pub(crate) fn key_value_table(h1: &str, h2: &str, rows: &[(String, Vec<String>)]) -> String {
    let mut s = format!("{h1}\t{h2}\n");
    for (k, vals) in rows {
        for (i, v) in vals.iter().enumerate() {
            let key = if i == 0 { k.as_str() } else { "" };
            s.push_str(&format!("{key}\t{v}\t\n"));
        }
    }
    layout(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_tabwriter_layout() {
        // Expected bytes produced by Go's tabwriter.NewWriter(w, 5, 0, 3, ' ', 0) for the same input.
        let got = key_value_table(
            "IP PREFIX/ADDRESS",
            "IDENTITY",
            &[
                ("10.0.0.4/32".into(), vec!["identity=61928".into()]),
                ("0.0.0.0/0".into(), vec!["identity=2".into()]),
            ],
        );
        assert_eq!(
            got,
            "IP PREFIX/ADDRESS   IDENTITY\n10.0.0.4/32         identity=61928   \n0.0.0.0/0           identity=2       \n"
        );
        assert_eq!(layout("a\tb\nccc\td\n"), "a     b\nccc   d\n");
        assert_eq!(layout("x\n"), "x\n");
    }
}
