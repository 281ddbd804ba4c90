//! The tracer: loads the BPF object with the caller's configuration, attaches it with the chosen backend,
//! hands out the event stream and detaches without leaving anything behind (no pins; every program, link and
//! perf event is an fd this struct owns, closed on [`Tracer::detach`] or on drop).
use crate::backend::{self, kprobe, kprobe_multi, tracepoint};
use crate::config::{ArgIndex, Backend, Config, FilterCode};
use crate::contract::{FILTER_BUF_SIZE, counter};
use crate::error::{ConfigError, ObjectError, ProbeError};
use crate::event::{BTF_AREA_MAX, DUMP_BUF_MAX, SNAPLEN_MAX};
use crate::linked::{self, Linked};
use crate::parallel;
use crate::progs::{Code, Pair, ProgEvent, ProgTable, ProgsReport, Watch};
use crate::ringbuf::RingReader;
use crate::variant::{self, Variant, kprobe_variant};
use crate::{filters, objects, splice};
use aya::maps::{PerCpuArray, RingBuf, StackTraceMap};
use aya::{Ebpf, EbpfLoader};
use aya_obj::btf::{Btf, BtfKind};
use aya_obj::generated::{bpf_attach_type, bpf_prog_type};
use bpf_sys::perf::KprobePmu;
use bpf_sys::prog::ProgLoad;
use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

pub use crate::backend::tracepoint::TracepointStats;

/// A probe target the kernel refused, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ignored {
    /// The function or tracepoint.
    pub name: String,
    /// The kernel's answer, in one line.
    pub reason: String,
}

/// The outcome of [`Tracer::attach`].
#[derive(Clone, Debug, Default)]
pub struct AttachStats {
    /// Functions and tracepoints that are being traced.
    pub attached: usize,
    /// Targets the kernel refused (not fatal).
    pub ignored: Vec<Ignored>,
    /// How the tracepoints were attached.
    pub tracepoints: TracepointStats,
    /// How long attaching took.
    pub elapsed: Duration,
    /// tc/XDP program tracing, when asked for.
    pub progs: Option<ProgsReport>,
}

/// What a tracer holds in the kernel, by id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelIds {
    /// Program ids (ours, and those behind our links).
    pub programs: Vec<u32>,
    /// BPF link ids (perf-event kprobes are not BPF links and have none).
    pub links: Vec<u32>,
}

/// The outcome of [`Tracer::detach`].
#[derive(Clone, Copy, Debug, Default)]
pub struct DetachStats {
    /// Links and perf events closed.
    pub closed: usize,
    /// How long detaching took.
    pub elapsed: Duration,
    /// Events produced, read after the links were closed (final).
    pub produced: u64,
    /// Events lost, read after the links were closed (final).
    pub lost: u64,
}

/// The kprobe program on the kernel functions traced BPF programs call.
const HELPER_PROG: &str = "kprobe_bpf_helper";

/// Functions whose clones skb tracking follows (kprobe backends).
const CLONE_FUNCS: [&str; 2] = ["skb_clone", "skb_copy"];

/// Loaded probes: the maps, our programs and, after [`Tracer::attach`], the links that run them.
pub struct Tracer {
    /// Attached links and perf events: dropped first so nothing fires into half-freed state.
    links: Vec<OwnedFd>,
    /// Programs we loaded ourselves (kprobe and kprobe-multi variants), by name.
    progs: BTreeMap<String, OwnedFd>,
    ring: Option<RingReader>,
    cfg: Config,
    /// The kernel BTF and the relocated object are only needed until attach() is done; then they are dropped
    /// (tens of MB) so a long trace does not carry them.
    btf: Option<Btf>,
    linked: Option<Linked>,
    /// Until attach(): the fentry/fexit code for tracing tc/XDP programs; then the programs' watcher.
    prog_code: Option<Code>,
    watch: Option<Watch>,
    /// aya's side: the maps (and the object's BTF).
    ebpf: Ebpf,
    load_time: Duration,
}

/// Looks through an error chain for the errno that explains it (EPERM deserves its own message).
fn errno_in(e: &(dyn std::error::Error + 'static)) -> Option<i32> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(n) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.raw_os_error())
        {
            return Some(n);
        }
        cur = err.source();
    }
    None
}

/// `size` if the programs' buffers take it (1 to `max` bytes).
fn checked_size(what: &'static str, size: u32, max: u32) -> Result<u32, ConfigError> {
    if (1..=max).contains(&size) {
        Ok(size)
    } else {
        Err(ConfigError::Size { what, size, max })
    }
}

fn round_ring_size(bytes: u32) -> u32 {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u32;
    bytes
        .max(page)
        .checked_next_power_of_two()
        .unwrap_or(1 << 31)
}

impl Tracer {
    /// Creates the maps and loads the programs the backend needs (verifying them), without attaching.
    /// Tracepoint programs are loaded by [`Tracer::attach`], one per tracepoint.
    pub fn load(cfg: Config) -> Result<Self, ProbeError> {
        let t0 = Instant::now();
        bpf_sys::rlimit::raise_nofile_limit();
        // No backend support check here: loading (verifying) kprobe programs works on any kernel, and attach()
        // reports an unsupported backend with its reason.
        for t in &cfg.kprobes {
            kprobe_variant(t)?;
        }
        for t in &cfg.tracepoints {
            variant::tracepoint_variant(t)?;
        }
        // The main filter and the tunnel filters share the one stub (crate::filters); the BTF expressions have theirs.
        fn insns(f: &Option<FilterCode>) -> Option<&[u8]> {
            f.as_ref().map(|f| f.insns.as_slice())
        }
        let (tun_l2, tun_l3) = (&cfg.tunnel.filter_l2, &cfg.tunnel.filter_l3);
        let body = (cfg.filter.is_some() || tun_l2.is_some() || tun_l3.is_some())
            .then(|| filters::join(insns(&cfg.filter), insns(tun_l2), insns(tun_l3)))
            .transpose()
            .map_err(ConfigError::from)?;
        let stubs: Vec<splice::Stub<'_>> = [
            (splice::PCAP_FILTER, body.as_deref()),
            (splice::BTF_FILTER, cfg.skb_expr.as_deref()),
            (
                splice::BTF_FETCH,
                cfg.skb_fetch.as_ref().map(|f| &f.insns[..]),
            ),
        ]
        .into_iter()
        .filter_map(|(section, insns)| {
            Some(splice::Stub {
                section,
                insns: insns?,
            })
        })
        .collect();
        let meta_size = match &cfg.skb_fetch {
            Some(f) => checked_size("the BTF-expression output area", f.area_size, BTF_AREA_MAX)?,
            None => 0,
        };
        let dumps = cfg.dumps;
        let dump_size = match dumps.any() {
            true => checked_size("the dump buffer", cfg.percpu_buf, DUMP_BUF_MAX)?,
            false => 0,
        };
        let elf = splice::splice(objects::object(), &stubs)?;
        let btf = Btf::from_sys_fs().map_err(ObjectError::KernelBtf)?;
        // bpf_snprintf_btf() names the struct by its id in the running kernel's BTF.
        let struct_id = |on: bool, name: &'static str| -> Result<u32, ProbeError> {
            if !on {
                return Ok(0);
            }
            btf.id_by_type_name_kind(name, BtfKind::Struct)
                .map_err(|_| ConfigError::NoStruct(name).into())
        };
        let skb_btf_id = struct_id(dumps.skb, "sk_buff")?;
        let shinfo_btf_id = struct_id(dumps.shared_info, "skb_shared_info")?;
        let (dump_skb, dump_shinfo) = (dumps.skb as u32, dumps.shared_info as u32);

        let netns = cfg.netns.unwrap_or(0);
        let (mark_on, mark, mask) = match cfg.mark {
            Some((v, m)) => (1u32, v, m),
            None => (0, 0, 0),
        };
        let ifindex = cfg.ifindex.unwrap_or(0);
        let track = cfg.track_skb as u32;
        let caller = cfg.caller as u32;
        let stack = cfg.stack as u32;
        let have_filter = cfg.filter.is_some() as u32;
        let have_skb_expr = cfg.skb_expr.is_some() as u32;
        let filter_snaplen = |f: &Option<FilterCode>| {
            f.as_ref()
                .map_or(FILTER_BUF_SIZE, |f| f.snaplen.clamp(1, FILTER_BUF_SIZE))
        };
        let snaplen = filter_snaplen(&cfg.filter);
        let (have_tun_l2, have_tun_l3) = (tun_l2.is_some() as u32, tun_l3.is_some() as u32);
        let (snaplen_tun_l2, snaplen_tun_l3) = (filter_snaplen(tun_l2), filter_snaplen(tun_l3));
        let tunnel = cfg.tunnel.output as u32;
        let ring_size = round_ring_size(cfg.ringbuf_bytes);
        let snaplen_packet = cfg.snaplen.min(SNAPLEN_MAX);
        let self_tgid: u32 = std::process::id();
        let skb_cb = cfg.skb_cb as u32;
        let xdp_follow = cfg.progs.xdp as u32;
        let mut loader = EbpfLoader::new();
        loader
            .btf(Some(&btf))
            .override_global("CFG_NETNS", &netns, true)
            .override_global("CFG_MARK_ON", &mark_on, true)
            .override_global("CFG_MARK", &mark, true)
            .override_global("CFG_MARK_MASK", &mask, true)
            .override_global("CFG_IFINDEX", &ifindex, true)
            .override_global("CFG_TRACK_SKB", &track, true)
            .override_global("CFG_CALLER", &caller, true)
            .override_global("CFG_STACK", &stack, true)
            .override_global("CFG_SELF_TGID", &self_tgid, true)
            .override_global("HAVE_FILTER", &have_filter, true)
            .override_global("FILTER_SNAPLEN", &snaplen, true)
            .override_global("HAVE_SKB_EXPR", &have_skb_expr, true)
            .override_global("CFG_SNAPLEN", &snaplen_packet, true)
            .override_global("CFG_META_SIZE", &meta_size, true)
            .override_global("CFG_DUMP_SKB", &dump_skb, true)
            .override_global("CFG_DUMP_SHINFO", &dump_shinfo, true)
            .override_global("CFG_DUMP_SIZE", &dump_size, true)
            .override_global("CFG_SKB_BTF_ID", &skb_btf_id, true)
            .override_global("CFG_SHINFO_BTF_ID", &shinfo_btf_id, true)
            .override_global("CFG_SKB_CB", &skb_cb, true)
            .override_global("CFG_XDP_FOLLOW", &xdp_follow, true)
            .override_global("CFG_TUNNEL", &tunnel, true)
            .override_global("HAVE_TUNNEL_L2", &have_tun_l2, true)
            .override_global("HAVE_TUNNEL_L3", &have_tun_l3, true)
            .override_global("TUNNEL_SNAPLEN_L2", &snaplen_tun_l2, true)
            .override_global("TUNNEL_SNAPLEN_L3", &snaplen_tun_l3, true)
            .map_max_entries("EVENTS", ring_size);
        if cfg.progs.any() {
            let cpus = bpf_sys::map::possible_cpus()
                .map_err(|e| ProbeError::sys("reading the possible CPUs", e))?;
            loader.map_max_entries("PROG_STACK", cpus as u32);
        }
        if !cfg.stack {
            loader.map_max_entries("STACKS", 1);
        }
        if !cfg.track_skb {
            loader.map_max_entries("TRACKED", 1);
        }
        let mut ebpf = loader.load(&elf).map_err(|e| match errno_in(&e) {
            Some(libc::EPERM) | Some(libc::EACCES) => ProbeError::Permission {
                what: "creating the BPF maps".into(),
            },
            _ => ObjectError::Maps(e).into(),
        })?;
        let linked = Linked::new(&elf, &btf, ebpf.maps())?;
        let prog_code = if cfg.progs.any() {
            let pair = |hook: &str| -> Result<Pair, ProbeError> {
                Ok(Pair {
                    fentry: linked.insns(&format!("fentry_{hook}"))?,
                    fexit: linked.insns(&format!("fexit_{hook}"))?,
                })
            };
            Some(Code {
                tc: pair("tc")?,
                xdp: pair("xdp")?,
                refs: linked.insns("iter_prog_refs")?,
            })
        } else {
            None
        };
        let ring = ebpf.take_map("EVENTS").ok_or(ObjectError::Missing {
            kind: "map",
            name: "EVENTS".into(),
        })?;
        let ring = RingBuf::try_from(ring).map_err(|source| ObjectError::Map {
            name: "EVENTS",
            source,
        })?;

        let mut progs = BTreeMap::new();
        let multi = cfg.backend == Backend::KprobeMulti;
        let mut wanted: Vec<(String, Option<bpf_attach_type>)> = Vec::new();
        if cfg.backend != Backend::Tracepoint {
            for t in &cfg.kprobes {
                let v = kprobe_variant(t)?.suffix();
                let (name, attach) = if multi {
                    (
                        format!("kprobe_multi_{v}"),
                        Some(bpf_attach_type::BPF_TRACE_KPROBE_MULTI),
                    )
                } else {
                    (format!("kprobe_{v}"), None)
                };
                if !wanted.iter().any(|(n, _)| *n == name) {
                    wanted.push((name, attach));
                }
            }
            if cfg.track_skb && !cfg.kprobes.is_empty() {
                for p in [
                    "kprobe_untrack",
                    "kprobe_clone_entry",
                    "kretprobe_clone_exit",
                ] {
                    wanted.push((p.to_string(), None));
                }
            }
        }
        // Tracepoint programs are loaded per tracepoint in attach(); verify each variant once now (as raw_tp,
        // which needs no target) so that a verifier rejection is reported by load(), not as N ignored targets.
        let mut tp_variants: Vec<Variant> = Vec::new();
        for t in &cfg.tracepoints {
            let v = variant::tracepoint_variant(t)?;
            if !tp_variants.contains(&v) {
                tp_variants.push(v);
            }
        }
        for v in tp_variants {
            let name = format!("raw_tp_{}", v.suffix());
            let insns = linked.insns(&name)?;
            let spec = ProgLoad::new(bpf_prog_type::BPF_PROG_TYPE_RAW_TRACEPOINT, &name, &insns);
            drop(linked::load(&spec)?);
        }
        if cfg.progs.any() && cfg.progs.helpers {
            wanted.push((HELPER_PROG.to_string(), None));
        }
        for (name, attach) in wanted {
            let insns = linked.insns(&name)?;
            let mut spec = ProgLoad::new(bpf_prog_type::BPF_PROG_TYPE_KPROBE, &name, &insns);
            spec.expected_attach_type = attach;
            let fd = linked::load(&spec)?;
            progs.insert(name, fd);
        }
        Ok(Tracer {
            links: Vec::new(),
            progs,
            ring: Some(RingReader::new(ring)),
            cfg,
            btf: Some(btf),
            linked: Some(linked),
            prog_code,
            watch: None,
            ebpf,
            load_time: t0.elapsed(),
        })
    }

    /// How long [`Tracer::load`] took.
    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    /// Attaches everything; `progress(done, total, ignored)` is called from worker threads as targets finish.
    pub fn attach(
        &mut self,
        progress: impl Fn(usize, usize, usize) + Sync,
    ) -> Result<AttachStats, ProbeError> {
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
                let mut jobs = Vec::with_capacity(self.cfg.kprobes.len());
                for t in &self.cfg.kprobes {
                    let prog_name = format!("kprobe_{}", kprobe_variant(t)?.suffix());
                    let symbol = match &t.module {
                        Some(m) => format!("{m}:{}", t.name),
                        None => t.name.clone(),
                    };
                    jobs.push(kprobe::Job {
                        symbol: CString::new(symbol).map_err(|_| ConfigError::BadName {
                            kind: "function",
                            name: t.name.clone(),
                        })?,
                        display: t.name.clone(),
                        prog: self.progs[&prog_name].as_fd(),
                        retprobe: false,
                    });
                }
                let (fds, ignored) = kprobe::attach(&pmu, &jobs, prog)?;
                stats.attached += fds.len();
                self.links.extend(fds);
                stats.ignored.extend(ignored);
            }
            Backend::KprobeMulti => {
                let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for t in &self.cfg.kprobes {
                    groups
                        .entry(format!("kprobe_multi_{}", kprobe_variant(t)?.suffix()))
                        .or_default()
                        .push(t.name.clone());
                }
                let groups: Vec<kprobe_multi::Group> = groups
                    .into_iter()
                    .map(|(p, names)| kprobe_multi::Group {
                        prog: self.progs[&p].as_fd(),
                        names,
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
        if self.cfg.track_skb
            && self.cfg.backend != Backend::Tracepoint
            && !self.cfg.kprobes.is_empty()
        {
            let pmu =
                KprobePmu::open().map_err(|e| ProbeError::sys("opening the kprobe PMU", e))?;
            let mut jobs = vec![kprobe::Job {
                symbol: CString::new("kfree_skbmem").expect("no NUL"),
                display: "kfree_skbmem (track)".into(),
                prog: self.progs["kprobe_untrack"].as_fd(),
                retprobe: false,
            }];
            for f in CLONE_FUNCS {
                for (p, ret) in [
                    ("kprobe_clone_entry", false),
                    ("kretprobe_clone_exit", true),
                ] {
                    jobs.push(kprobe::Job {
                        symbol: CString::new(f).expect("no NUL"),
                        display: format!("{f} (track{})", if ret { ", return" } else { "" }),
                        prog: self.progs[p].as_fd(),
                        retprobe: ret,
                    });
                }
            }
            let (fds, ignored) = kprobe::attach(&pmu, &jobs, &|_, _, _| {})?;
            self.links.extend(fds);
            stats.ignored.extend(ignored);
        }
        if !self.cfg.tracepoints.is_empty() {
            let offset_progress = |d: usize, _t: usize, i: usize| progress(nk + d, total, i);
            let (Some(linked), Some(btf)) = (&self.linked, &self.btf) else {
                return Err(ConfigError::AttachedTwice.into());
            };
            let (fds, mut ignored, tp) =
                tracepoint::attach(linked, btf, &self.cfg.tracepoints, &offset_progress)?;
            if fds.is_empty() && !ignored.is_empty() {
                return Err(ProbeError::NothingAttached {
                    what: "tracepoint",
                    tried: ignored.len(),
                    first: ignored.swap_remove(0),
                });
            }
            stats.attached += fds.len();
            stats.tracepoints = tp;
            self.links.extend(fds);
            stats.ignored.extend(ignored);
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
            let (w, report) = Watch::start(self.cfg.progs.clone(), code, btf, helper)?;
            self.watch = Some(w);
            stats.progs = Some(report);
        }
        self.linked = None;
        self.btf = None;
        // Give the freed BTF/object memory back to the system rather than keep it for the whole trace.
        #[cfg(target_env = "gnu")]
        // SAFETY: malloc_trim only releases free heap pages.
        unsafe {
            libc::malloc_trim(0);
        }
        stats.elapsed = t0.elapsed();
        Ok(stats)
    }

    /// Takes the event stream (once; `None` afterwards).
    pub fn take_ring(&mut self) -> Option<RingReader> {
        self.ring.take()
    }

    fn counter(&self, idx: u32) -> u64 {
        let Some(map) = self.ebpf.map("COUNTERS") else {
            return 0;
        };
        let Ok(arr) = PerCpuArray::<_, u64>::try_from(map) else {
            return 0;
        };
        arr.get(&idx, 0).map(|v| v.iter().sum()).unwrap_or(0)
    }

    /// Events that passed the in-kernel filters (delivered + lost).
    pub fn produced(&self) -> u64 {
        self.counter(counter::PRODUCED)
    }

    /// Events dropped because the ring buffer was full.
    pub fn lost(&self) -> u64 {
        self.counter(counter::LOST)
    }

    /// skbs `--filter-track-skb` could not remember because its table was full.
    pub fn track_overflows(&self) -> u64 {
        self.counter(counter::TRACK_FULL)
    }

    /// The kernel stack (innermost first) recorded under `id` (events with `EV_HAS_STACK`).
    pub fn stack(&self, id: i32) -> Vec<u64> {
        let Some(map) = self.ebpf.map("STACKS") else {
            return Vec::new();
        };
        let Ok(st) = StackTraceMap::try_from(map) else {
            return Vec::new();
        };
        st.get(&(id as u32), 0)
            .map(|s| s.frames().iter().map(|f| f.ip).collect())
            .unwrap_or_default()
    }

    /// The configuration this tracer was loaded with (`probe_id` of a tracepoint event indexes
    /// `config().tracepoints`).
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The tc/XDP programs seen (names for events of those kinds); empty without program tracing.
    pub fn prog_table(&self) -> ProgTable {
        self.watch
            .as_ref()
            .map(|w| w.table().clone())
            .unwrap_or_default()
    }

    /// Programs traced, skipped or let go, and helper kprobes added, since the last call.
    pub fn prog_events(&self) -> Vec<ProgEvent> {
        self.watch.as_ref().map(Watch::events).unwrap_or_default()
    }

    /// Kernel ids of the programs and BPF links this tracer holds (for leak checks).
    pub fn kernel_ids(&self) -> KernelIds {
        let mut ids = KernelIds::default();
        for (link, prog) in self.watch.iter().flat_map(Watch::link_ids) {
            ids.links.push(link);
            ids.programs.push(prog);
        }
        for fd in self.progs.values() {
            ids.programs
                .extend(bpf_sys::obj::prog_info(fd.as_fd()).map(|i| i.id));
        }
        for fd in &self.links {
            if let Ok(info) = bpf_sys::obj::link_info(fd.as_fd()) {
                ids.links.push(info.id);
                if !ids.programs.contains(&info.prog_id) {
                    ids.programs.push(info.prog_id);
                }
            }
        }
        ids
    }

    /// Detaches everything, closing links and perf events from several threads at once, and unloads our
    /// programs. The maps stay until the tracer is dropped, so [`Tracer::produced`] and [`Tracer::lost`] read
    /// final values afterwards (also returned here). Calling it again does nothing.
    pub fn detach(&mut self) -> DetachStats {
        let t0 = Instant::now();
        // The traced programs' links first: their trampolines go, and no helper event can follow.
        if let Some(mut w) = self.watch.take() {
            w.stop();
        }
        let links = std::mem::take(&mut self.links);
        let closed = links.len();
        parallel::drop_all(links);
        self.progs.clear();
        DetachStats {
            closed,
            elapsed: t0.elapsed(),
            produced: self.produced(),
            lost: self.lost(),
        }
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        self.detach();
    }
}
