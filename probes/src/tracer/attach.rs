//! [`Tracer::attach`]: links for every target, with the chosen backend.
use super::{
    AttachStats, CLONE_FUNCS, HELPER_PROG, MAP_PROGS, NON_SKB_PROG, TP_COOKIE_PROG, Tracer,
    kprobe_program, trim_heap,
};
use crate::backend::placement::{self, FtraceSites};
use crate::backend::{self, kprobe, kprobe_multi, tracepoint};
use crate::config::{ArgIndex, Backend, KprobePlacement};
use crate::error::{ConfigError, ProbeError};
use crate::parallel;
use crate::progs::{MapProgs, Watch};
use crate::variant::kprobe_variant;
use bpf_sys::perf::KprobePmu;
use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

impl Tracer {
    /// Attaches everything; `progress(done, total, ignored)` is called from worker threads as targets finish.
    pub fn attach(
        &mut self,
        progress: impl Fn(usize, usize, usize) + Sync,
    ) -> Result<AttachStats, ProbeError> {
        self.attach_until(progress, &AtomicBool::new(false))
    }

    /// [`Tracer::attach`] that stops early once `cancel` is set (from another thread: a signal): targets not yet
    /// started are left out and [`AttachStats::cancelled`] is set. What was attached stays attached until
    /// [`Tracer::detach`], like after a full attach.
    pub fn attach_until(
        &mut self,
        progress: impl Fn(usize, usize, usize) + Sync,
        cancel: &AtomicBool,
    ) -> Result<AttachStats, ProbeError> {
        if std::mem::replace(&mut self.attached, true) {
            return Err(ConfigError::AttachedTwice.into());
        }
        let t0 = Instant::now();
        let mut stats = AttachStats::default();
        let nk = if self.cfg.backend == Backend::Tracepoint {
            0
        } else {
            self.cfg.kprobes.len()
        };
        let total = nk + self.cfg.tracepoints.len();
        let prog: backend::Progress<'_> = &progress;

        match self.cfg.backend {
            Backend::Tracepoint => {}
            Backend::Kprobe => {
                let pmu = KprobePmu::open().map_err(|_| ProbeError::Unsupported {
                    backend: "kprobe",
                    reason: "kprobes unavailable (CONFIG_KPROBES not set)".into(),
                })?;
                let ftrace = (self.cfg.kprobe_placement == KprobePlacement::PastFtrace)
                    .then(FtraceSites::read)
                    .flatten();
                let sites = placement::sites(
                    &self.cfg.kprobes,
                    self.cfg.kprobe_placement,
                    ftrace.as_ref(),
                );
                drop(ftrace);
                let mut jobs = Vec::with_capacity(self.cfg.kprobes.len());
                for (i, (t, (site, fallback))) in self.cfg.kprobes.iter().zip(sites).enumerate() {
                    let v = kprobe_variant(t)?;
                    let (prog_name, cookie) = if self.cookies.kprobe {
                        (kprobe_program(false, "cookie"), Some(v.cookie(i as u32)))
                    } else {
                        (kprobe_program(false, &v.suffix()), None)
                    };
                    jobs.push(kprobe::Job {
                        site,
                        fallback,
                        display: t.name.clone(),
                        prog: self.progs[&prog_name].as_fd(),
                        retprobe: false,
                        cookie,
                    });
                }
                let threads = parallel::threads_for(jobs.len(), self.cfg.kprobe_batch);
                let got = kprobe::attach(&pmu, &jobs, threads, prog, cancel)?;
                stats.attached += got.fds.len();
                stats.cancelled |= got.skipped > 0;
                self.links.extend(got.fds);
                stats.ignored.extend(got.ignored);
            }
            Backend::KprobeMulti => {
                // One link for every function with cookies; else one per variant.
                let mut groups: BTreeMap<String, (Vec<String>, Vec<u64>)> = BTreeMap::new();
                for (i, t) in self.cfg.kprobes.iter().enumerate() {
                    let v = kprobe_variant(t)?;
                    let suffix = if self.cookies.kprobe {
                        "cookie".to_string()
                    } else {
                        v.suffix()
                    };
                    let g = groups.entry(kprobe_program(true, &suffix)).or_default();
                    g.0.push(t.name.clone());
                    g.1.push(v.cookie(i as u32));
                }
                let groups: Vec<kprobe_multi::Group> = groups
                    .into_iter()
                    .map(|(p, (names, cookies))| kprobe_multi::Group {
                        prog: self.progs[&p].as_fd(),
                        names,
                        cookies: self.cookies.kprobe.then_some(cookies),
                    })
                    .collect();
                let (fds, ignored) = kprobe_multi::attach(&groups, prog)?;
                let unique: std::collections::HashSet<(&str, ArgIndex, Option<ArgIndex>)> = self
                    .cfg
                    .kprobes
                    .iter()
                    .map(|t| (t.name.as_str(), t.skb_arg, t.reason_arg))
                    .collect();
                stats.attached += unique.len().saturating_sub(ignored.len());
                self.links.extend(fds);
                stats.ignored.extend(ignored);
            }
        }
        if let Some(untrack) = self.progs.get("kprobe_untrack") {
            let pmu =
                KprobePmu::open().map_err(|e| ProbeError::sys("opening the kprobe PMU", e))?;
            let sym = |f: &str| kprobe::Site::Symbol(CString::new(f).expect("no NUL"));
            let mut jobs = vec![kprobe::Job {
                site: sym("kfree_skbmem"),
                fallback: None,
                display: "kfree_skbmem (track)".into(),
                prog: untrack.as_fd(),
                retprobe: false,
                cookie: None,
            }];
            for f in CLONE_FUNCS.iter().filter(|_| self.cfg.track_skb) {
                for (p, ret) in [
                    ("kprobe_clone_entry", false),
                    ("kretprobe_clone_exit", true),
                ] {
                    jobs.push(kprobe::Job {
                        site: sym(f),
                        fallback: None,
                        display: format!("{f} (track{})", if ret { ", return" } else { "" }),
                        prog: self.progs[p].as_fd(),
                        retprobe: ret,
                        cookie: None,
                    });
                }
            }
            if let Some(prog) = self.progs.get(NON_SKB_PROG) {
                for f in &self.cfg.stack_track.non_skb {
                    jobs.push(kprobe::Job {
                        site: sym(&f.name),
                        fallback: None,
                        display: f.name.clone(),
                        prog: prog.as_fd(),
                        retprobe: false,
                        cookie: None,
                    });
                }
            }
            let never = AtomicBool::new(false);
            let got = kprobe::attach(&pmu, &jobs, jobs.len(), &|_, _, _| {}, &never)?;
            self.links.extend(got.fds);
            stats.ignored.extend(got.ignored);
        }
        if !self.cfg.tracepoints.is_empty() {
            let offset_progress = |d: usize, _t: usize, i: usize| progress(nk + d, total, i);
            let mut got = match (self.progs.get(TP_COOKIE_PROG), &self.linked, &self.btf) {
                (Some(p), _, _) => tracepoint::attach_cookie(
                    p.as_fd(),
                    &self.cfg.tracepoints,
                    &offset_progress,
                    cancel,
                )?,
                (None, Some(linked), Some(btf)) => tracepoint::attach(
                    linked,
                    btf,
                    &self.cfg.tracepoints,
                    &offset_progress,
                    cancel,
                )?,
                _ => return Err(ConfigError::AttachedTwice.into()),
            };
            let tried = got.links.len() + got.ignored.len();
            stats.cancelled |= tried < self.cfg.tracepoints.len();
            if got.links.is_empty() && !got.ignored.is_empty() && !stats.cancelled {
                return Err(ProbeError::NothingAttached {
                    what: "tracepoint",
                    tried: got.ignored.len(),
                    first: got.ignored.swap_remove(0),
                });
            }
            stats.attached += got.links.len();
            stats.tracepoints = got.stats;
            self.links.extend(got.links);
            self.tp_progs.extend(got.progs);
            stats.ignored.extend(got.ignored);
        }
        if let Some(code) = self.prog_code.take() {
            let Some(btf) = &self.btf else {
                return Err(ConfigError::AttachedTwice.into());
            };
            let helper = match self.progs.get(HELPER_PROG) {
                Some(fd) => Some(fd.try_clone().map_err(|source| ProbeError::Io {
                    what: "duplicating the helper program's fd",
                    source,
                })?),
                None => None,
            };
            let maps = match MAP_PROGS.map(|p| self.progs.get(p)) {
                [
                    Some(lookup),
                    Some(update),
                    Some(delete),
                    Some(ret),
                    Some(elem_ret),
                ] => {
                    let dup = |fd: &OwnedFd| {
                        fd.try_clone().map_err(|source| ProbeError::Io {
                            what: "duplicating a map operation program's fd",
                            source,
                        })
                    };
                    Some(MapProgs {
                        lookup: dup(lookup)?,
                        update: dup(update)?,
                        delete: dup(delete)?,
                        lookup_ret: dup(ret)?,
                        lookup_elem_ret: dup(elem_ret)?,
                        funcs: self
                            .cfg
                            .progs
                            .map_funcs
                            .iter()
                            .map(|f| (f.name.clone(), f.clone()))
                            .collect(),
                    })
                }
                _ => None,
            };
            let (w, report) = Watch::start(self.cfg.progs.clone(), code, btf, helper, maps)?;
            self.watch = Some(w);
            stats.progs = Some(report);
        }
        self.linked = None;
        self.btf = None;
        trim_heap();
        stats.elapsed = t0.elapsed();
        Ok(stats)
    }
}
