//! kprobe-multi backend: one BPF link per program variant, covering every function of that variant.
//!
//! The kernel resolves all names of a link at once and fails the whole link (ESRCH) if one is unknown or not
//! traceable. So when a link is refused, names missing from `available_filter_functions` are left out, and if the
//! link still fails, the list is halved until the offending names are found; each is reported as ignored.
use super::Progress;
use crate::error::ProbeError;
use crate::tracer::Ignored;
use bpf_sys::link::link_kprobe_multi;
use std::collections::HashSet;
use std::ffi::CString;
use std::os::fd::{BorrowedFd, OwnedFd};

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
pub(crate) struct Group<'a> {
    pub prog: BorrowedFd<'a>,
    pub names: Vec<String>,
}

fn errno(e: &bpf_sys::Error) -> Option<i32> {
    e.errno().map(bpf_sys::Errno::raw)
}

fn rejects_names(e: &bpf_sys::Error) -> bool {
    matches!(
        errno(e),
        Some(libc::ESRCH | libc::ENOENT | libc::EINVAL | libc::EADDRNOTAVAIL | libc::EBUSY)
    )
}

fn unsupported() -> ProbeError {
    ProbeError::Unsupported {
        backend: "kprobe-multi",
        reason: "kprobe-multi unavailable (needs CONFIG_FPROBE)".into(),
    }
}

fn link_all(
    prog: BorrowedFd<'_>,
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
    match link_kprobe_multi(prog, &syms, None, false) {
        Ok(fd) => {
            links.push(fd);
            Ok(())
        }
        Err(e) if rejects_names(&e) => {
            if names.len() == 1 {
                ignored.push(Ignored {
                    name: names[0].clone(),
                    reason: format!("kprobe-multi refused it: {}", super::reason(&e)),
                });
                return Ok(());
            }
            let (a, b) = names.split_at(names.len() / 2);
            link_all(prog, a, links, ignored)?;
            link_all(prog, b, links, ignored)
        }
        Err(e) if errno(&e) == Some(libc::EOPNOTSUPP) => Err(unsupported()),
        Err(e) => Err(ProbeError::sys("creating a kprobe-multi link", e)),
    }
}

pub(crate) fn attach(
    groups: &[Group<'_>],
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
        match link_kprobe_multi(g.prog, &syms, None, false) {
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
                link_all(g.prog, &keep, &mut links, &mut ignored)?;
            }
            Err(e) if errno(&e) == Some(libc::EOPNOTSUPP) => return Err(unsupported()),
            Err(e) => return Err(ProbeError::sys("creating a kprobe-multi link", e)),
        }
        done += g.names.len();
        progress(done, total, ignored.len());
    }
    Ok((links, ignored))
}
