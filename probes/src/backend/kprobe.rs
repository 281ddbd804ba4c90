//! kprobe backend: one perf kprobe per function, opened and attached from many threads at once.
//!
//! A probe is placed by address when the caller knows it (kallsyms): given a name, the kernel searches every
//! kernel symbol per probe (6.1 counts the functions of that name, to refuse ambiguous ones), which under
//! emulation costs as much as the attach itself. Where it pays, the probe goes just past the function's ftrace
//! call site instead of on it (see [`super::placement`]), and a site the kernel refuses falls back to the entry.
use super::{Cancel, Progress};
use crate::error::ProbeError;
use crate::parallel;
use crate::tracer::Ignored;
use bpf_sys::link::link_perf_event;
use bpf_sys::perf::{KprobePmu, ProbeSite, set_bpf};
use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Where one probe goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Site {
    /// `func` or `module:func`, resolved by the kernel.
    Symbol(CString),
    /// An absolute address.
    Address(u64),
}

impl Site {
    fn perf(&self) -> ProbeSite<'_> {
        match self {
            Site::Symbol(func) => ProbeSite::Symbol { func, offset: 0 },
            Site::Address(a) => ProbeSite::Address(*a),
        }
    }
}

/// One probe to create.
pub(crate) struct Job<'a> {
    pub site: Site,
    /// Tried when the kernel refuses `site` (an off-entry address it will not probe).
    pub fallback: Option<Site>,
    /// Name for reports.
    pub display: String,
    pub prog: BorrowedFd<'a>,
    pub retprobe: bool,
    /// Run `prog` through a BPF perf link with this cookie (else `PERF_EVENT_IOC_SET_BPF`, no cookie).
    pub cookie: Option<u64>,
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

/// Opens the probe of one job and runs its program: the fd that keeps both (a link holds its perf event).
fn attach_one(pmu: &KprobePmu, job: &Job<'_>) -> Result<OwnedFd, bpf_sys::Error> {
    let perf = match pmu.open_probe(job.site.perf(), job.retprobe) {
        Ok(fd) => fd,
        Err(e) if fatal(&e) => return Err(e),
        Err(e) => match &job.fallback {
            Some(f) => pmu.open_probe(f.perf(), job.retprobe)?,
            None => return Err(e),
        },
    };
    match job.cookie {
        Some(c) => link_perf_event(job.prog, perf.as_fd(), c),
        None => set_bpf(perf.as_fd(), job.prog).map(|()| perf),
    }
}

/// What [`attach`] made.
pub(crate) struct Attached {
    /// Perf event or link fds, in job order (closing one removes its probe).
    pub fds: Vec<OwnedFd>,
    pub ignored: Vec<Ignored>,
    /// Jobs not tried because `cancel` was set.
    pub skipped: usize,
}

/// Attaches every job with `threads` workers, until `cancel` is set.
pub(crate) fn attach(
    pmu: &KprobePmu,
    jobs: &[Job<'_>],
    threads: usize,
    progress: Progress<'_>,
    cancel: Cancel<'_>,
) -> Result<Attached, ProbeError> {
    let done = AtomicUsize::new(0);
    let ignored_n = AtomicUsize::new(0);
    let total = jobs.len();
    let results = parallel::try_map(jobs, threads, cancel, |_, job| {
        let r = attach_one(pmu, job);
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
    let skipped = total - results.len();
    let mut fds = Vec::with_capacity(results.len());
    let mut ignored = Vec::new();
    for r in results {
        match r {
            Ok(fd) => fds.push(fd),
            Err(i) => ignored.push(i),
        }
    }
    if fds.is_empty() && !ignored.is_empty() && skipped == 0 {
        return Err(ProbeError::NothingAttached {
            what: "function",
            tried: ignored.len(),
            first: ignored.swap_remove(0),
        });
    }
    Ok(Attached {
        fds,
        ignored,
        skipped,
    })
}
