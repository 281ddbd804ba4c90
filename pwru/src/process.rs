//! The PROCESS column: pwru's `exe_path:pid`, cut to its last 16 bytes with a leading `~`.
//!
//! Unlike pwru, a process that has exited (or a kernel thread, or softirq context) is named by the `comm` the
//! probe captured (`ksoftirqd/1:15`) instead of `<empty>:pid`.

use std::collections::HashMap;
use std::path::PathBuf;

const WIDTH: usize = 16;

/// Cuts `s` to its last 16 bytes, replacing the first kept byte with `~`, as pwru does.
pub fn shorten(s: &str) -> String {
    if s.len() <= WIDTH {
        return s.to_string();
    }
    let mut start = s.len() - WIDTH + 1;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("~{}", &s[start..])
}

#[derive(Debug)]
pub struct ProcessNames {
    proc_root: PathBuf,
    /// pid → executable path, `None` when /proc has none (exited process, kernel thread).
    exe: HashMap<u32, Option<String>>,
}

/// Bound on the cache (pids are recycled; a huge cache only wastes memory).
const MAX_CACHED: usize = 1 << 16;

impl ProcessNames {
    pub fn new() -> Self {
        Self::with_proc_root("/proc")
    }

    pub fn with_proc_root(root: impl Into<PathBuf>) -> Self {
        Self {
            proc_root: root.into(),
            exe: HashMap::new(),
        }
    }

    /// `exe:pid` (or `comm:pid`, or `<empty>:pid` without a comm), at most 16 bytes.
    pub fn name(&mut self, pid: u32, comm: &str) -> String {
        let exe = if pid == 0 {
            // pid 0 is the idle task of whichever CPU ran the softirq; /proc has no entry for it.
            None
        } else {
            if self.exe.len() >= MAX_CACHED {
                self.exe.clear();
            }
            let root = &self.proc_root;
            self.exe
                .entry(pid)
                .or_insert_with(|| {
                    std::fs::read_link(root.join(pid.to_string()).join("exe"))
                        .ok()
                        .map(|p| p.to_string_lossy().into_owned())
                })
                .clone()
        };
        let base = match exe {
            Some(e) => e,
            None if !comm.is_empty() => comm.to_string(),
            None => "<empty>".to_string(),
        };
        shorten(&format!("{base}:{pid}"))
    }
}

impl Default for ProcessNames {
    fn default() -> Self {
        Self::new()
    }
}

/// The NUL-terminated `comm` bytes of a raw event as a string.
pub fn comm_str(comm: &[u8]) -> String {
    let end = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
    String::from_utf8_lossy(&comm[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pwru_truncation() {
        assert_eq!(shorten("/usr/bin/ping:995"), "~sr/bin/ping:995");
        assert_eq!(shorten("/usr/sbin/ping:995"), "~r/sbin/ping:995");
        assert_eq!(shorten("/bin/ping:1782"), "/bin/ping:1782");
        assert_eq!(shorten("/usr/bin/ping:17821"), "~/bin/ping:17821");
        assert_eq!(shorten("0123456789abcdef"), "0123456789abcdef");
        let s = shorten("/é/ééééééééé:1");
        assert!(
            s.len() <= 16 && s.starts_with('~') && s.ends_with("é:1"),
            "{s}"
        );
    }

    #[test]
    fn kernel_own_process_resolves_to_its_exe() {
        let mut p = ProcessNames::new();
        let me = std::process::id();
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        assert_eq!(p.name(me, "x"), shorten(&format!("{}:{me}", exe.display())));
    }

    #[test]
    fn gone_process_uses_comm_then_empty() {
        let dir = std::env::temp_dir().join(format!("pwru-proc-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("42")).unwrap();
        let mut p = ProcessNames::with_proc_root(&dir);
        assert_eq!(p.name(42, "ksoftirqd/1"), "ksoftirqd/1:42");
        assert_eq!(p.name(42, ""), "<empty>:42");
        assert_eq!(p.name(0, "swapper/1"), "swapper/1:0");
        std::fs::create_dir_all(dir.join("43")).unwrap();
        std::os::unix::fs::symlink("/usr/sbin/nginx", dir.join("43/exe")).unwrap();
        assert_eq!(p.name(43, "nginx"), "~r/sbin/nginx:43");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn comm_bytes() {
        let mut c = [0u8; 16];
        c[..4].copy_from_slice(b"ping");
        assert_eq!(comm_str(&c), "ping");
        assert_eq!(comm_str(b"0123456789abcdef"), "0123456789abcdef");
    }
}
