//! Refused expressions: the message, the column, and an excerpt that points at it.

use unicode_width::UnicodeWidthChar;

/// A refused expression: what is wrong and where (1-based column, counted in characters; 0 when not tied to a
/// place). The message never holds a control or invisible character: those are escaped (`\u{7}`), so a
/// pasted filter cannot garble the terminal or hide what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FilterError {
    /// What is wrong, in one line.
    pub message: String,
    /// Where, in characters from 1; 0 when the whole expression is at fault.
    pub column: usize,
}

impl FilterError {
    /// An error about `column`; `message` is made printable.
    pub fn new(message: String, column: usize) -> Self {
        FilterError {
            message: printable(&message),
            column,
        }
    }

    /// Two lines to show under the message: `expr` (made printable) and a caret under the column, placed by
    /// terminal cells, so it stays under the right character after wide (CJK, emoji) and escaped ones.
    /// `None` when the error has no column.
    pub fn excerpt(&self, expr: &str) -> Option<String> {
        if self.column == 0 {
            return None;
        }
        let (mut line, mut pad) = (String::new(), None);
        for (n, c) in expr.chars().enumerate() {
            if n + 1 == self.column {
                pad = Some(cells(&line));
            }
            push_printable(&mut line, c);
        }
        let pad = pad.unwrap_or_else(|| cells(&line));
        Some(format!("  {line}\n  {}^", " ".repeat(pad)))
    }
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.column > 0 {
            write!(f, "{} at column {}", self.message, self.column)
        } else {
            write!(f, "{}", self.message)
        }
    }
}

/// Terminal cells `s` takes; `s` is printable, so every character has a width.
fn cells(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// Shown as itself: a character that takes at least one cell. Escaped: controls (no width) and everything that
/// takes none (combining marks, zero-width spaces, bidi overrides, variation selectors), and the other spaces
/// (a no-break space looks like a space but is not one to the lexer).
fn shows_as_itself(c: char) -> bool {
    c == ' ' || (!c.is_whitespace() && c.width().is_some_and(|w| w > 0))
}

fn push_printable(out: &mut String, c: char) {
    match c {
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        c if shows_as_itself(c) => out.push(c),
        c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
    }
}

/// `s` with its control and invisible characters escaped.
pub(crate) fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_printable(&mut out, c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_does_not_show() {
        assert_eq!(printable("a\u{7}b\tc\u{1b}[31m"), "a\\u{7}b\\tc\\u{1b}[31m");
        assert_eq!(printable("ho\u{301}st"), "ho\\u{301}st");
        assert_eq!(
            printable("a\u{200b}\u{202e}\u{a0}b"),
            "a\\u{200b}\\u{202e}\\u{a0}b"
        );
        assert_eq!(printable("hóst ８０ 😀 主机"), "hóst ８０ 😀 主机");
    }

    #[test]
    fn caret_counts_cells() {
        let e = |col| FilterError::new("x".into(), col);
        assert_eq!(e(2).excerpt("hóst").unwrap(), "  hóst\n   ^");
        // Each wide character takes two cells.
        assert_eq!(e(3).excerpt("主机x").unwrap(), "  主机x\n      ^");
        assert_eq!(e(2).excerpt("😀😀").unwrap(), "  😀😀\n    ^");
        // An escaped character takes the cells of its escape.
        assert_eq!(
            e(3).excerpt("\u{7}\u{301}x").unwrap(),
            "  \\u{7}\\u{301}x\n              ^"
        );
        // Past the end (unexpected end of expression).
        assert_eq!(e(4).excerpt("tcp").unwrap(), "  tcp\n     ^");
        assert_eq!(e(0).excerpt("tcp"), None);
    }
}
