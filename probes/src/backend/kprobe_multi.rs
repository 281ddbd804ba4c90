//! kprobe-multi backend: one BPF link per program variant, covering every function of that variant.
//!
//! The kernel resolves all names of a link at once and fails the whole link (ESRCH) if one is unknown or not
//! traceable. So when a link is refused, names missing from `available_filter_functions` are left out, and if the
//! link still fails, the list is halved until the offending names are found; each is reported as ignored.
use super::Progress;
use crate::error::ProbeError;
use crate::raw;
use crate::tracer::Ignored;
use std::collections::HashSet;
use std::ffi::CString;
use std::io;
use std::os::fd::{OwnedFd, RawFd};

/// Function names ftrace can trace (`func` and `func [module]` lines), or `None` if the file is unreadable.
pub(crate) fn available_filter_functions() -> Option<HashSet<String>> {
    let text = [
        "/sys/kernel/tracing/available_filter_functions",
        "/sys/kernel/debug/tracing/available_filter_functions",
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok())?;
    Some(
        text.lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_string)
            .collect(),
    )
}

/// All functions one program variant is attached to.
pub(crate) struct Group {
    pub prog_fd: RawFd,
    pub names: Vec<String>,
}

fn rejects_names(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ESRCH | libc::ENOENT | libc::EINVAL | libc::EADDRNOTAVAIL | libc::EBUSY)
    )
}

fn link_all(
    prog_fd: RawFd,
    names: &[String],
    links: &mut Vec<OwnedFd>,
    ignored: &mut Vec<Ignored>,
) -> Result<(), ProbeError> {
    if names.is_empty() {
        return Ok(());
    }
    let syms: Vec<CString> = names
        .iter()
        .filter_map(|n| CString::new(n.as_str()).ok())
        .collect();
    match raw::link_kprobe_multi(prog_fd, &syms) {
        Ok(fd) => {
            links.push(fd);
            Ok(())
        }
        Err(e) if rejects_names(&e) => {
            if names.len() == 1 {
                ignored.push(Ignored {
                    name: names[0].clone(),
                    reason: format!("kprobe-multi refused it: {e}"),
                });
                return Ok(());
            }
            let (a, b) = names.split_at(names.len() / 2);
            link_all(prog_fd, a, links, ignored)?;
            link_all(prog_fd, b, links, ignored)
        }
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Err(ProbeError::Unsupported {
            backend: "kprobe-multi",
            reason: "kprobe-multi unavailable (needs CONFIG_FPROBE)".into(),
        }),
        Err(e) => Err(ProbeError::sys("creating a kprobe-multi link", e)),
    }
}

pub(crate) fn attach(
    groups: &[Group],
    progress: Progress<'_>,
) -> Result<(Vec<OwnedFd>, Vec<Ignored>), ProbeError> {
    let total: usize = groups.iter().map(|g| g.names.len()).sum();
    // Read lazily: callers usually pass names already checked against this list (it is slow to read under
    // emulation), so it is only consulted when a link is refused.
    let mut avail: Option<Option<HashSet<String>>> = None;
    let mut links = Vec::new();
    let mut ignored = Vec::new();
    let mut done = 0;
    for g in groups {
        let mut seen = HashSet::new();
        // a repeated name would make the kernel refuse the whole link
        let names: Vec<String> = g
            .names
            .iter()
            .filter(|n| seen.insert(n.as_str()))
            .cloned()
            .collect();
        let syms: Vec<CString> = names
            .iter()
            .filter_map(|n| CString::new(n.as_str()).ok())
            .collect();
        match raw::link_kprobe_multi(g.prog_fd, &syms) {
            Ok(fd) => links.push(fd),
            Err(e) if rejects_names(&e) => {
                let set = avail.get_or_insert_with(available_filter_functions);
                let mut keep = Vec::with_capacity(names.len());
                for n in names {
                    match set {
                        Some(set) if !set.contains(&n) => ignored.push(Ignored {
                            name: n,
                            reason: "not in available_filter_functions".into(),
                        }),
                        _ => keep.push(n),
                    }
                }
                link_all(g.prog_fd, &keep, &mut links, &mut ignored)?;
            }
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                return Err(ProbeError::Unsupported {
                    backend: "kprobe-multi",
                    reason: "kprobe-multi unavailable (needs CONFIG_FPROBE)".into(),
                });
            }
            Err(e) => return Err(ProbeError::sys("creating a kprobe-multi link", e)),
        }
        done += g.names.len();
        progress(done, total, ignored.len());
    }
    Ok((links, ignored))
}
