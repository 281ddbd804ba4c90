//! Messages on stderr that never panic: `eprintln!` panics when stderr is closed or full, and a panic while
//! reporting one would abort, so every line pwru prints on stderr goes through here and a failed write is ignored.

use std::io::Write;

/// Writes `pwru: <message>` and a newline to stderr, ignoring write errors.
pub fn line(msg: std::fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "pwru: {msg}");
}

/// `say!("{n} ignored")` prints `pwru: 3 ignored` on stderr (see [`line()`]).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { $crate::say::line(format_args!($($arg)*)) };
}

/// `outer: inner: root cause` on one line.
pub fn one_line(e: &anyhow::Error) -> String {
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

/// A reader that went away (`pwru … | head`): the run ends quietly, like other Unix tools. Looks through the
/// whole chain of causes, also into serde_json's I/O errors.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn causes_once_on_one_line() {
        let e = Err::<(), _>(std::io::Error::other("disk\nfull"))
            .context("cannot write out")
            .unwrap_err();
        assert_eq!(one_line(&e), "cannot write out: disk full");
    }

    /// A reader that has gone away.
    struct Closed;
    impl std::io::Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn broken_pipe_behind_context_and_serde() {
        let io = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(is_broken_pipe(
            &anyhow::Error::from(io).context("cannot write stdout")
        ));
        let j = serde_json::to_writer(Closed, &1).unwrap_err();
        assert!(is_broken_pipe(&anyhow::Error::from(j).context("listing")));
        assert!(!is_broken_pipe(&anyhow::anyhow!("broken pipe")));
    }
}
