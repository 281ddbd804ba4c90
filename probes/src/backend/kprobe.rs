//! kprobe backend: one perf kprobe per function, opened and attached from many threads at once.
use super::Progress;
use crate::error::ProbeError;
use crate::parallel;
use crate::tracer::Ignored;
use bpf_sys::perf::KprobePmu;
use std::ffi::CString;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};

/// One probe to create.
pub(crate) struct Job<'a> {
    /// `func` or `module:func`, as the kprobe PMU resolves it.
    pub symbol: CString,
    /// Name for reports.
    pub display: String,
    pub prog: BorrowedFd<'a>,
    pub retprobe: bool,
}

/// Errors that mean the tracer cannot work at all (privileges, resources). Anything else is about one function
/// (gone: ENOENT; not probeable or blacklisted: EADDRNOTAVAIL, EINVAL, EILSEQ, ENOTSUPP; ...) and only makes
/// that function "ignored", as pwru does for ENOENT/EADDRNOTAVAIL.
fn fatal(e: &bpf_sys::Error) -> bool {
    matches!(
        e.errno().map(bpf_sys::Errno::raw),
        Some(libc::EPERM | libc::EACCES | libc::EMFILE | libc::ENFILE | libc::ENOMEM)
    )
}

/// Attaches every job; returns the perf fds (closing one removes its probe) and the functions ignored.
pub(crate) fn attach(
    pmu: &KprobePmu,
    jobs: &[Job<'_>],
    progress: Progress<'_>,
) -> Result<(Vec<OwnedFd>, Vec<Ignored>), ProbeError> {
    let done = AtomicUsize::new(0);
    let ignored_n = AtomicUsize::new(0);
    let total = jobs.len();
    let results = parallel::try_map(jobs, parallel::threads_for(total), |_, job| {
        let r = pmu.attach(&job.symbol, job.retprobe, job.prog);
        let d = done.fetch_add(1, Ordering::Relaxed) + 1;
        let out = match r {
            Ok(fd) => Ok(Ok(fd)),
            Err(e) if !fatal(&e) => {
                ignored_n.fetch_add(1, Ordering::Relaxed);
                Ok(Err(Ignored {
                    name: job.display.clone(),
                    reason: super::reason(&e),
                }))
            }
            Err(e) => Err(ProbeError::sys(
                format!("attaching a kprobe to {}", job.display),
                e,
            )),
        };
        progress(d, total, ignored_n.load(Ordering::Relaxed));
        out
    })?;
    let mut fds = Vec::with_capacity(results.len());
    let mut ignored = Vec::new();
    for r in results {
        match r {
            Ok(fd) => fds.push(fd),
            Err(i) => ignored.push(i),
        }
    }
    if fds.is_empty() && !ignored.is_empty() {
        return Err(ProbeError::NothingAttached {
            what: "function",
            tried: ignored.len(),
            first: ignored.swap_remove(0),
        });
    }
    Ok((fds, ignored))
}
