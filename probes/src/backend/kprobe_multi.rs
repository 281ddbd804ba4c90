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

/// All functions one program is attached to by one link.
pub(crate) struct Group<'a> {
    pub prog: BorrowedFd<'a>,
    pub names: Vec<String>,
    /// One BPF cookie per name, if the program reads them.
    pub cookies: Option<Vec<u64>>,
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
    cookies: Option<&[u64]>,
    links: &mut Vec<OwnedFd>,
    ignored: &mut Vec<Ignored>,
) -> Result<(), ProbeError> {
    if names.is_empty() {
        return Ok(());
    }
    let syms: Vec<CString> = names
        .iter()
        .map(|n| CString::new(n.as_str()).unwrap_or_default())
        .collect();
    match link_kprobe_multi(prog, &syms, cookies, false) {
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
            let half = names.len() / 2;
            let (a, b) = names.split_at(half);
            let (ca, cb) = match cookies {
                Some(c) => (Some(&c[..half]), Some(&c[half..])),
                None => (None, None),
            };
            link_all(prog, a, ca, links, ignored)?;
            link_all(prog, b, cb, links, ignored)
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
        let mut names = Vec::with_capacity(g.names.len());
        let mut cookies = Vec::with_capacity(g.names.len());
        for (i, n) in g.names.iter().enumerate() {
            if seen.insert(n.as_str()) {
                names.push(n.clone());
                cookies.extend(g.cookies.as_ref().map(|c| c[i]));
            }
        }
        let cookies = g.cookies.is_some().then_some(cookies);
        let syms: Vec<CString> = names
            .iter()
            .map(|n| CString::new(n.as_str()).unwrap_or_default())
            .collect();
        match link_kprobe_multi(g.prog, &syms, cookies.as_deref(), false) {
            Ok(fd) => links.push(fd),
            Err(e) if rejects_names(&e) => {
                let set = avail.get_or_insert_with(available_filter_functions);
                let mut keep = Vec::with_capacity(names.len());
                let mut keep_cookies = Vec::with_capacity(names.len());
                for (i, n) in names.into_iter().enumerate() {
                    match set {
                        Some(set) if !set.contains(&n) => ignored.push(Ignored {
                            name: n,
                            reason: "not in available_filter_functions".into(),
                        }),
                        _ => {
                            keep.push(n);
                            keep_cookies.extend(cookies.as_ref().map(|c| c[i]));
                        }
                    }
                }
                let keep_cookies = cookies.is_some().then_some(keep_cookies);
                link_all(
                    g.prog,
                    &keep,
                    keep_cookies.as_deref(),
                    &mut links,
                    &mut ignored,
                )?;
            }
            Err(e) if errno(&e) == Some(libc::EOPNOTSUPP) => return Err(unsupported()),
            Err(e) => return Err(ProbeError::sys("creating a kprobe-multi link", e)),
        }
        done += g.names.len();
        progress(done, total, ignored.len());
    }
    Ok((links, ignored))
}
