//! The benchmarks' limit: a program that only counts its runs, attached to the same functions through the same
//! backend code as [`crate::Tracer`] (same placement, same worker threads, one kprobe-multi link). What the
//! tracer takes beyond it is its own cost; what this takes is the kernel's.
use crate::backend::placement::{self, FtraceSites};
use crate::backend::{kprobe, kprobe_multi};
use crate::config::{Backend, KprobePlacement, Target};
use crate::error::ProbeError;
use crate::parallel;
use crate::tracer::{AttachStats, DetachStats};
use aya_obj::generated::{bpf_attach_type, bpf_insn, bpf_map_type, bpf_prog_type};
use bpf_sys::map::{Map, MapSpec};
use bpf_sys::perf::KprobePmu;
use bpf_sys::prog::{ProgLoad, insn, prog_load};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// A counting program and its links.
pub struct Limit {
    backend: Backend,
    batch: Option<usize>,
    links: Vec<OwnedFd>,
    prog: OwnedFd,
    hits: Map,
    cookie_links: bool,
}

/// `key = 0; v = map_lookup_elem(map, &key); if (v) *v += 1; return 0;` (a per-CPU slot: no atomics).
fn counting_program(map_fd: i32) -> Vec<bpf_insn> {
    vec![
        insn(0x18, 1, 1, 0, map_fd), // r1 = map (BPF_PSEUDO_MAP_FD), 16 bytes
        insn(0, 0, 0, 0, 0),
        insn(0x62, 10, 0, -4, 0), // *(u32 *)(r10 - 4) = 0
        insn(0xbf, 2, 10, 0, 0),  // r2 = r10
        insn(0x07, 2, 0, 0, -4),  // r2 += -4
        insn(0x85, 0, 0, 0, 1),   // call bpf_map_lookup_elem
        insn(0x15, 0, 0, 3, 0),   // if r0 == 0 goto +3
        insn(0x79, 1, 0, 0, 0),   // r1 = *(u64 *)(r0 + 0)
        insn(0x07, 1, 0, 0, 1),   // r1 += 1
        insn(0x7b, 0, 1, 0, 0),   // *(u64 *)(r0 + 0) = r1
        insn(0xb7, 0, 0, 0, 0),   // r0 = 0
        insn(0x95, 0, 0, 0, 0),   // exit
    ]
}

impl Limit {
    /// Loads the counting program for `backend` (kprobe or kprobe-multi). `batch` is as
    /// [`crate::Config::kprobe_batch`].
    pub fn load(backend: Backend, batch: Option<usize>) -> Result<Limit, ProbeError> {
        bpf_sys::rlimit::raise_nofile_limit();
        let hits = Map::create(&MapSpec::new(
            bpf_map_type::BPF_MAP_TYPE_PERCPU_ARRAY,
            "limit_hits",
            4,
            8,
            1,
        ))
        .map_err(|e| ProbeError::sys("creating the counter map", e))?;
        let insns = counting_program(hits.as_fd().as_raw_fd());
        let mut spec = ProgLoad::new(bpf_prog_type::BPF_PROG_TYPE_KPROBE, "limit", &insns);
        if backend == Backend::KprobeMulti {
            spec.expected_attach_type = Some(bpf_attach_type::BPF_TRACE_KPROBE_MULTI);
        }
        let prog = prog_load(&spec).map_err(ProbeError::load)?;
        Ok(Limit {
            backend,
            batch,
            links: Vec::new(),
            prog,
            hits,
            cookie_links: false,
        })
    }

    /// Attaches plain kprobes through BPF perf links with a cookie each, as the tracer's cookie program is, instead
    /// of `PERF_EVENT_IOC_SET_BPF` (to see what the links cost).
    pub fn use_cookie_links(&mut self) {
        self.cookie_links = true;
    }

    /// Attaches to `targets` as the tracer's backend would.
    pub fn attach(
        &mut self,
        targets: &[Target],
        placement: KprobePlacement,
        progress: &(dyn Fn(usize, usize, usize) + Sync),
    ) -> Result<AttachStats, ProbeError> {
        let t0 = Instant::now();
        let mut stats = AttachStats::default();
        match self.backend {
            Backend::Kprobe => {
                let pmu = KprobePmu::open().map_err(|e| ProbeError::sys("kprobe PMU", e))?;
                let ftrace = (placement == KprobePlacement::PastFtrace)
                    .then(FtraceSites::read)
                    .flatten();
                let jobs: Vec<kprobe::Job<'_>> =
                    placement::sites(targets, placement, ftrace.as_ref())
                        .into_iter()
                        .zip(targets)
                        .enumerate()
                        .map(|(i, ((site, fallback), t))| kprobe::Job {
                            site,
                            fallback,
                            display: t.name.clone(),
                            prog: self.prog.as_fd(),
                            retprobe: false,
                            cookie: self.cookie_links.then_some(i as u64),
                        })
                        .collect();
                let threads = parallel::threads_for(jobs.len(), self.batch);
                let got = kprobe::attach(&pmu, &jobs, threads, progress, &AtomicBool::new(false))?;
                stats.attached = got.fds.len();
                stats.ignored = got.ignored;
                self.links.extend(got.fds);
            }
            Backend::KprobeMulti => {
                let group = kprobe_multi::Group {
                    prog: self.prog.as_fd(),
                    names: targets.iter().map(|t| t.name.clone()).collect(),
                    cookies: None,
                };
                let (fds, ignored) = kprobe_multi::attach(&[group], progress)?;
                stats.attached = targets.len() - ignored.len();
                stats.ignored = ignored;
                self.links.extend(fds);
            }
            Backend::Tracepoint => {
                return Err(ProbeError::Unsupported {
                    backend: "tracepoint",
                    reason: "the limit program is for the kprobe backends".into(),
                });
            }
        }
        stats.elapsed = t0.elapsed();
        Ok(stats)
    }

    /// Closes every link as the tracer does.
    pub fn detach(&mut self, progress: &(dyn Fn(usize, usize) + Sync)) -> DetachStats {
        let t0 = Instant::now();
        let links = std::mem::take(&mut self.links);
        let closed = links.len();
        parallel::drop_all(links, parallel::threads_for(closed, self.batch), progress);
        DetachStats {
            closed,
            elapsed: t0.elapsed(),
            produced: self.hits(),
            lost: 0,
            summed: 0,
            recursion_misses: bpf_sys::obj::prog_info(self.prog.as_fd())
                .map_or(0, |i| i.recursion_misses),
        }
    }

    /// Times the program ran, over all CPUs.
    pub fn hits(&self) -> u64 {
        self.hits
            .get(&0u32.to_ne_bytes())
            .ok()
            .flatten()
            .map(|v| {
                self.hits
                    .per_cpu(&v)
                    .iter()
                    .map(|c| u64::from_ne_bytes(c[..8].try_into().unwrap_or([0; 8])))
                    .sum()
            })
            .unwrap_or(0)
    }
}
