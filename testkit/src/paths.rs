//! Where things are: the workspace, the pwru binary and other cargo artifacts, the shared filter corpus, and
//! scratch directories that remove themselves.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// The workspace's root directory (the one holding the top-level `Cargo.toml`).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives one level below the workspace root")
}

/// The pwru binary the tests drive: `$PWRU_BIN` (tests/run.sh points it at the release build); else the `pwru`
/// beside this test's own directory when it is newer than every file of the workspace (`cargo test --workspace`
/// has just built it); else the one `cargo build -p pwru` makes now.
pub fn pwru_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PWRU_BIN") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "PWRU_BIN={} is not a file", p.display());
        return p;
    }
    // `cargo test --workspace` builds pwru with the features its dev-dependencies unify, `cargo build -p pwru`
    // without them: building it here would compile all of pwru a second time.
    let sibling = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("pwru")));
    if let Some(bin) = sibling
        && let Ok(built) = std::fs::metadata(&bin).and_then(|m| m.modified())
        && newest_file(workspace_root()) <= built
    {
        return bin;
    }
    cargo_build(&["-p", "pwru", "--bin", "pwru"])
}

/// The latest modification time of the files below `dir`, leaving out build output (target, dist) and hidden
/// directories.
fn newest_file(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name();
        if name == "target" || name == "dist" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        let Ok(meta) = e.metadata() else { continue };
        let t = if meta.is_dir() {
            newest_file(&e.path())
        } else {
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH)
        };
        newest = newest.max(t);
    }
    newest
}

/// Runs `cargo build <args>` in the workspace and returns the executable it reports (the last one, if several):
/// `cargo_build(&["-p", "tui", "--example", "demo"])`. Panics with cargo's errors when the build fails.
pub fn cargo_build(args: &[&str]) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(&cargo)
        .arg("build")
        .args(args)
        .arg("--message-format=json")
        .current_dir(workspace_root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
    assert!(
        out.status.success(),
        "cargo build {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .next_back()
        .unwrap_or_else(|| panic!("cargo build {} reported no executable", args.join(" ")))
}

/// The pcap filter corpus (libpcap's filter test suite and real captures): `$PCAP_CORPUS`, else
/// `shared/pcap-filter` in the nearest directory above the workspace that has one (`/work/shared/pcap-filter` for
/// every worktree under /work). Panics when there is none.
pub fn pcap_corpus() -> PathBuf {
    let ok = |d: &Path| d.join("libpcap-filter-tests.json").is_file() && d.join("pcaps").is_dir();
    if let Some(d) = std::env::var_os("PCAP_CORPUS") {
        let d = PathBuf::from(d);
        assert!(
            ok(&d),
            "PCAP_CORPUS={} has no libpcap-filter-tests.json and pcaps/",
            d.display()
        );
        return d;
    }
    workspace_root()
        .ancestors()
        .map(|a| a.join("shared/pcap-filter"))
        .find(|d| ok(d))
        .unwrap_or_else(|| {
            panic!(
                "pcap filter corpus not found: no shared/pcap-filter (with libpcap-filter-tests.json and pcaps/) \
                 above {}; set PCAP_CORPUS to its directory",
                workspace_root().display()
            )
        })
}

/// The expressions of the filter's differential checks: the accepted ones of libpcap's suite (every alias) and its
/// `apply` cases, from [`pcap_corpus`], and `pcap-filter/tests/expressions.txt` (what a pwru user types); sorted,
/// each once.
pub fn corpus_expressions() -> Vec<String> {
    let path = pcap_corpus().join("libpcap-filter-tests.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: serde_json::Value =
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut exprs: Vec<String> = Vec::new();
    for a in json["accept"].as_array().unwrap() {
        for al in a["aliases"].as_array().unwrap() {
            exprs.push(al.as_str().unwrap().to_string());
        }
    }
    for a in json["apply"].as_array().unwrap() {
        exprs.push(a["expr"].as_str().unwrap().to_string());
    }
    exprs.extend(
        include_str!("../../pcap-filter/tests/expressions.txt")
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(String::from),
    );
    exprs.sort();
    exprs.dedup();
    exprs
}

/// A fresh directory under the system's temp dir, removed with everything in it on drop (also when a test panics).
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `<tmp>/<prefix>-<pid>-<n>`.
    pub fn new(prefix: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        TempDir(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A path inside the directory.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
