//! Golden files: expected output kept in the tree, compared to the letter; `UPDATE_GOLDEN=1` rewrites them from
//! what the code prints now (then review the diff before committing it).

use std::path::Path;

/// Whether `UPDATE_GOLDEN` asks to rewrite golden files (set, non-empty and not `0`).
pub fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Compares `got` with the golden file at `path`; with `UPDATE_GOLDEN=1` writes `got` there instead (creating its
/// directory) and returns `Ok`. The error says where they first differ and holds both texts.
pub fn check(path: &Path, got: &str) -> Result<(), String> {
    if updating() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        return std::fs::write(path, got).map_err(|e| format!("{}: {e}", path.display()));
    }
    let want = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "{}: {e} (UPDATE_GOLDEN=1 creates it from the current output)",
            path.display()
        )
    })?;
    if want == got {
        return Ok(());
    }
    let line = want
        .lines()
        .zip(got.lines())
        .position(|(w, g)| w != g)
        .unwrap_or_else(|| want.lines().count().min(got.lines().count()));
    Err(format!(
        "{} differs from the output, first at line {} (UPDATE_GOLDEN=1 rewrites it; review the diff):\n\
         --- want\n{want}--- got\n{got}",
        path.display(),
        line + 1
    ))
}

/// [`check`], panicking with its error.
#[track_caller]
pub fn assert_golden(path: &Path, got: &str) {
    if let Err(e) = check(path, got) {
        panic!("{e}");
    }
}
