//! The tracer: loads the BPF object with the caller's configuration, attaches it with the chosen backend,
//! hands out the event stream and detaches without leaving anything behind (no pins; every program, link and
//! perf event is an fd this struct owns, closed on [`Tracer::detach`] or on drop).
use crate::backend::placement::{self, FtraceSites};
use crate::backend::{self, kprobe, kprobe_multi, tracepoint};
use crate::config::{ArgIndex, Backend, Config, FetchCode, FilterCode, KprobePlacement};
use crate::contract::{FILTER_BUF_SIZE, counter};
use crate::error::{ConfigError, ObjectError, ProbeError};
use crate::event::{BTF_AREA_MAX, DUMP_BUF_MAX, SNAPLEN_MAX};
use crate::linked::{self, Linked};
use crate::maps::Maps;
use crate::parallel;
use crate::progs::{Code, MapProgs, Pair, ProgEvent, ProgTable, ProgsReport, Watch};
use crate::ringbuf::RingReader;
use crate::variant::{self, Variant, kprobe_variant};
use crate::{filters, objects, splice, support};
use aya::maps::{Array, PerCpuArray, RingBuf, StackTraceMap};
use aya_obj::btf::{Btf, BtfKind};
use aya_obj::generated::{bpf_attach_type, bpf_prog_type};
use bpf_sys::perf::KprobePmu;
use bpf_sys::prog::ProgLoad;
use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::AtomicBool;
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
    /// [`Tracer::attach_until`] stopped before every target was tried.
    pub cancelled: bool,
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
    /// [`Tracer::summed`], final.
    pub summed: u64,
    /// [`Tracer::recursion_misses`], final.
    pub recursion_misses: u64,
}

/// Which targets get one program for all, told apart by BPF cookie.
#[derive(Clone, Copy, Debug, Default)]
struct Cookies {
    kprobe: bool,
    tracepoint: bool,
}

/// The raw_tp program for every tracepoint, with raw_tp cookies.
const TP_COOKIE_PROG: &str = "raw_tp_cookie";

fn kprobe_program(multi: bool, suffix: &str) -> String {
    if multi {
        format!("kprobe_multi_{suffix}")
    } else {
        format!("kprobe_{suffix}")
    }
}

/// Writes `(index, value)` pairs into the array map `name`.
fn fill_array<V: aya::Pod>(
    maps: &mut Maps,
    name: &'static str,
    entries: impl Iterator<Item = (u32, V)>,
) -> Result<(), ProbeError> {
    let map = maps.get_mut(name).ok_or(ObjectError::Missing {
        kind: "map",
        name: name.into(),
    })?;
    let mut arr =
        Array::<_, V>::try_from(map).map_err(|source| ObjectError::Map { name, source })?;
    for (i, v) in entries {
        arr.set(i, v, 0)
            .map_err(|source| ObjectError::Map { name, source })?;
    }
    Ok(())
}

/// The kprobe program on the kernel functions traced BPF programs call.
const HELPER_PROG: &str = "kprobe_bpf_helper";

/// The `--output-bpfmap` programs (bpf/bpfprog.c): lookup, update, delete, and the lookups' returns (of the value,
/// of a hash element).
const MAP_PROGS: [&str; 5] = [
    "kprobe_map_lookup",
    "kprobe_map_update",
    "kprobe_map_delete",
    "kretprobe_map_lookup",
    "kretprobe_map_lookup_elem",
];

/// The `--filter-non-skb-funcs` program (bpf/kprobe.c), a perf kprobe with either kprobe backend.
const NON_SKB_PROG: &str = "kprobe_non_skb";

/// Functions whose clones skb tracking follows (kprobe backends).
const CLONE_FUNCS: [&str; 2] = ["skb_clone", "skb_copy"];

/// Loaded probes: the maps, our programs and, after [`Tracer::attach`], the links that run them.
pub struct Tracer {
    /// Attached links and perf events: dropped first so nothing fires into half-freed state.
    links: Vec<OwnedFd>,
    /// Programs we loaded ourselves (kprobe and kprobe-multi variants, the cookie programs), by name.
    progs: BTreeMap<String, OwnedFd>,
    /// Programs loaded per tracepoint (without raw_tp cookies), kept to read their counters.
    tp_progs: Vec<OwnedFd>,
    /// [`Tracer::recursion_misses`] as read when the programs were closed.
    final_misses: u64,
    cookies: Cookies,
    /// Counting in the kernel ([`Config::summary`], where it can be done).
    summarizing: bool,
    ring: Option<RingReader>,
    cfg: Config,
    /// The kernel BTF and the relocated object are only needed until attach() is done; then they are dropped
    /// (tens of MB) so a long trace does not carry them.
    btf: Option<Btf>,
    linked: Option<Linked>,
    /// The maps (the ring buffer is handed to the reader).
    maps: Maps,
    /// [`Tracer::attach`] ran.
    attached: bool,
    /// Until attach(): the fentry/fexit code for tracing tc/XDP programs; then the programs' watcher.
    prog_code: Option<Code>,
    watch: Option<Watch>,
    load_time: Duration,
}

/// Gives freed memory (the kernel BTF, the relocated object) back to the system rather than keep it for the
/// whole trace.
fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free heap pages.
    unsafe {
        libc::malloc_trim(0);
    }
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
        fn fetch_insns(f: &Option<FetchCode>) -> Option<&[u8]> {
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
            (splice::BTF_FETCH, fetch_insns(&cfg.skb_fetch)),
            (splice::XDP_FILTER, cfg.xdp_expr.as_deref()),
            (splice::XDP_FETCH, fetch_insns(&cfg.xdp_fetch)),
        ]
        .into_iter()
        .filter_map(|(section, insns)| {
            Some(splice::Stub {
                section,
                insns: insns?,
            })
        })
        .collect();
        let area_size = |f: &Option<FetchCode>| match f {
            Some(f) => checked_size("the BTF-expression output area", f.area_size, BTF_AREA_MAX),
            None => Ok(0),
        };
        let (meta_size, xdp_meta_size) = (area_size(&cfg.skb_fetch)?, area_size(&cfg.xdp_fetch)?);
        let dumps = cfg.dumps;
        let dump_size = match dumps.any() {
            true => checked_size("the dump buffer", cfg.percpu_buf, DUMP_BUF_MAX)?,
            false => 0,
        };
        let elf = splice::splice(objects::object(), &stubs)?;
        let mut obj = aya_obj::Object::parse(&elf).map_err(ObjectError::Parse)?;
        drop(elf);
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
        // Functions without an skb report through stack tracking (as in pwru, they turn it on).
        let by_stack = cfg.stack_track.track || !cfg.stack_track.non_skb.is_empty();
        if !cfg.stack_track.non_skb.is_empty() && cfg.backend == Backend::Tracepoint {
            return Err(ConfigError::NonSkbNeedsKprobes.into());
        }
        let netns = cfg.netns.unwrap_or(0);
        let (mark_on, mark, mask) = match cfg.mark {
            Some((v, m)) => (1u32, v, m),
            None => (0, 0, 0),
        };
        let filter_snaplen = |f: &Option<FilterCode>| {
            f.as_ref()
                .map_or(FILTER_BUF_SIZE, |f| f.snaplen.clamp(1, FILTER_BUF_SIZE))
        };
        let multi = cfg.backend == Backend::KprobeMulti;
        let kprobe_attach = multi.then_some(bpf_attach_type::BPF_TRACE_KPROBE_MULTI);
        let kprobing = cfg.backend != Backend::Tracepoint && !cfg.kprobes.is_empty();
        // One program for every function (and one for every tracepoint) where the kernel has BPF cookies: the
        // filter is verified once, however many targets there are. Else one program per variant (kprobes) and
        // one load per tracepoint.
        let cookies = Cookies {
            kprobe: kprobing
                && support::has_cookies(bpf_prog_type::BPF_PROG_TYPE_KPROBE, kprobe_attach),
            tracepoint: !cfg.tracepoints.is_empty()
                && support::has_cookies(bpf_prog_type::BPF_PROG_TYPE_RAW_TRACEPOINT, None),
        };
        // The summary's index of a kprobe event is its cookie's target index: without kprobe cookies there is none.
        // The programs on traced BPF programs and the functions without an skb ship their events as they are.
        let nk = if cfg.backend == Backend::Tracepoint {
            0
        } else {
            cfg.kprobes.len()
        };
        let summarizing = cfg.summary.is_some()
            && (nk == 0 || cookies.kprobe)
            && !cfg.progs.any()
            && cfg.stack_track.non_skb.is_empty();
        let sum = cfg.summary.as_ref().filter(|_| summarizing);
        let consumed = |i: usize| {
            sum.and_then(|s| s.consumed_reasons.get(i).copied())
                .unwrap_or(u32::MAX)
        };
        let globals: [(&str, u32); 34] = [
            ("CFG_NETNS", netns),
            ("CFG_MARK_ON", mark_on),
            ("CFG_MARK", mark),
            ("CFG_MARK_MASK", mask),
            ("CFG_IFINDEX", cfg.ifindex.unwrap_or(0)),
            ("CFG_TRACK_SKB", cfg.track_skb as u32),
            ("CFG_TRACK_STACK", by_stack as u32),
            ("CFG_CALLER", cfg.caller as u32),
            ("CFG_STACK", cfg.stack as u32),
            ("CFG_SELF_TGID", std::process::id()),
            ("HAVE_FILTER", cfg.filter.is_some() as u32),
            ("FILTER_SNAPLEN", filter_snaplen(&cfg.filter)),
            ("HAVE_SKB_EXPR", cfg.skb_expr.is_some() as u32),
            ("CFG_SNAPLEN", cfg.snaplen.min(SNAPLEN_MAX)),
            ("CFG_META_SIZE", meta_size),
            ("HAVE_XDP_EXPR", cfg.xdp_expr.is_some() as u32),
            ("CFG_XDP_META_SIZE", xdp_meta_size),
            ("CFG_DUMP_SKB", dumps.skb as u32),
            ("CFG_DUMP_SHINFO", dumps.shared_info as u32),
            ("CFG_DUMP_SIZE", dump_size),
            ("CFG_SKB_BTF_ID", skb_btf_id),
            ("CFG_SHINFO_BTF_ID", shinfo_btf_id),
            ("CFG_SKB_CB", cfg.skb_cb as u32),
            ("CFG_XDP_FOLLOW", cfg.progs.xdp as u32),
            ("CFG_TUNNEL", cfg.tunnel.output as u32),
            ("HAVE_TUNNEL_L2", tun_l2.is_some() as u32),
            ("HAVE_TUNNEL_L3", tun_l3.is_some() as u32),
            ("TUNNEL_SNAPLEN_L2", filter_snaplen(tun_l2)),
            ("TUNNEL_SNAPLEN_L3", filter_snaplen(tun_l3)),
            ("CFG_HTAB_KEY_OFF", cfg.progs.htab_elem_key.unwrap_or(0)),
            ("CFG_SUMMARY", summarizing as u32),
            ("CFG_SUM_TP_BASE", nk as u32),
            ("CFG_CONSUMED_A", consumed(0)),
            ("CFG_CONSUMED_B", consumed(1)),
        ];
        let bytes: Vec<(&str, [u8; 4])> =
            globals.iter().map(|(n, v)| (*n, v.to_ne_bytes())).collect();
        obj.patch_map_data(bytes.iter().map(|(n, b)| (*n, (&b[..], true))).collect())
            .map_err(ObjectError::Parse)?;

        let mut wanted: Vec<(String, bpf_prog_type, Option<bpf_attach_type>)> = Vec::new();
        let kprobe = |name: String| (name, bpf_prog_type::BPF_PROG_TYPE_KPROBE, kprobe_attach);
        if kprobing {
            if cookies.kprobe {
                wanted.push(kprobe(kprobe_program(multi, "cookie")));
            }
            for t in cfg.kprobes.iter().filter(|_| !cookies.kprobe) {
                let name = kprobe_program(multi, &kprobe_variant(t)?.suffix());
                if !wanted.iter().any(|(n, _, _)| *n == name) {
                    wanted.push(kprobe(name));
                }
            }
            // Perf kprobes with either backend: they are few.
            let plain = |p: &str| (p.to_string(), bpf_prog_type::BPF_PROG_TYPE_KPROBE, None);
            if cfg.track_skb || by_stack {
                wanted.push(plain("kprobe_untrack"));
            }
            if cfg.track_skb {
                wanted.extend(["kprobe_clone_entry", "kretprobe_clone_exit"].map(plain));
            }
            if !cfg.stack_track.non_skb.is_empty() {
                wanted.push(plain(NON_SKB_PROG));
            }
        }
        // Without raw_tp cookies, tracepoint programs are loaded per tracepoint in attach(); each variant is
        // verified once now (as raw_tp, which needs no target) so that a verifier rejection is reported by
        // load(), not as N ignored targets.
        let mut tp_variants: Vec<Variant> = Vec::new();
        if cookies.tracepoint {
            wanted.push((
                TP_COOKIE_PROG.into(),
                bpf_prog_type::BPF_PROG_TYPE_RAW_TRACEPOINT,
                None,
            ));
        } else {
            for t in &cfg.tracepoints {
                let v = variant::tracepoint_variant(t)?;
                if !tp_variants.contains(&v) {
                    tp_variants.push(v);
                }
            }
        }
        if cfg.progs.any() && cfg.progs.helpers {
            wanted.push((
                HELPER_PROG.into(),
                bpf_prog_type::BPF_PROG_TYPE_KPROBE,
                None,
            ));
        }
        let map_ops = cfg.progs.any() && !cfg.progs.map_funcs.is_empty();
        if map_ops {
            wanted.extend(
                MAP_PROGS
                    .iter()
                    .map(|p| (p.to_string(), bpf_prog_type::BPF_PROG_TYPE_KPROBE, None)),
            );
        }
        let per_tracepoint = !tp_variants.is_empty();

        let ring_size = round_ring_size(cfg.ringbuf_bytes);
        let mut sizes = vec![
            ("EVENTS", ring_size),
            ("FUNC_IPS", (cfg.kprobes.len() as u32).max(1)),
        ];
        if cfg.progs.any() {
            let cpus = bpf_sys::map::possible_cpus()
                .map_err(|e| ProbeError::sys("reading the possible CPUs", e))?;
            sizes.push(("PROG_STACK", cpus as u32));
        }
        if !cfg.stack {
            sizes.push(("STACKS", 1));
        }
        if !cfg.track_skb {
            sizes.push(("TRACKED", 1));
        }
        let sum_slots = sum.map_or(1, |s| (s.roles.len() as u32).max(1));
        sizes.extend([("SUM_ROLES", sum_slots), ("SUM_FUNCS", sum_slots)]);
        if sum.is_none() {
            sizes.push(("SUM_PATHS", 1));
        }
        if !by_stack {
            sizes.extend([("STACK_SKB", 1), ("SKB_STACK", 1)]);
        }
        let mut maps = Maps::create(&obj, &sizes)?;
        let linked = Linked::new(obj, &btf, maps.iter())?;
        if map_ops {
            own_maps(&maps)?;
        }

        let mut progs = BTreeMap::new();
        for v in &tp_variants {
            let name = format!("raw_tp_{}", v.suffix());
            let insns = linked.insns(&name)?;
            let spec = ProgLoad::new(bpf_prog_type::BPF_PROG_TYPE_RAW_TRACEPOINT, &name, &insns);
            drop(linked::load(&spec)?);
        }
        for (name, prog_type, attach) in wanted {
            let insns = linked.insns(&name)?;
            let mut spec = ProgLoad::new(prog_type, &name, &insns);
            spec.expected_attach_type = attach;
            let fd = linked::load(&spec)?;
            progs.insert(name, fd);
        }
        if cookies.kprobe && cfg.backend == Backend::Kprobe {
            // The cookie program's function address for kprobes placed past the entry, where the kernel gives
            // the program none.
            let ips = cfg.kprobes.iter().enumerate();
            fill_array(
                &mut maps,
                "FUNC_IPS",
                ips.filter_map(|(i, t)| Some((i as u32, t.address?))),
            )?;
        }
        if let Some(s) = sum {
            let roles = s.roles.iter().enumerate();
            fill_array(&mut maps, "SUM_ROLES", roles.map(|(i, r)| (i as u32, *r)))?;
        }
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
        // The relocated object (tens of MB) is only needed to load programs per tracepoint, the kernel BTF also to
        // find the traced tc/XDP programs' functions.
        let linked = if per_tracepoint {
            Some(linked)
        } else {
            drop(linked);
            None
        };
        let btf = if per_tracepoint || cfg.progs.any() {
            Some(btf)
        } else {
            drop(btf);
            None
        };
        trim_heap();
        // Mapped only now: its pages count in pwru's memory (twice the ring's size: the kernel maps the data
        // twice), and need not add to the peak of BTF parsing.
        let ring = maps.take("EVENTS").ok_or(ObjectError::Missing {
            kind: "map",
            name: "EVENTS".into(),
        })?;
        let ring = RingBuf::try_from(ring).map_err(|source| ObjectError::Map {
            name: "EVENTS",
            source,
        })?;
        Ok(Tracer {
            links: Vec::new(),
            progs,
            tp_progs: Vec::new(),
            final_misses: 0,
            cookies,
            summarizing,
            ring: Some(RingReader::new(ring)),
            cfg,
            btf,
            linked,
            maps,
            attached: false,
            prog_code,
            watch: None,
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

    /// Takes the event stream (once; `None` afterwards).
    pub fn take_ring(&mut self) -> Option<RingReader> {
        self.ring.take()
    }

    fn counter(&self, idx: u32) -> u64 {
        let Some(map) = self.maps.get("COUNTERS") else {
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

    /// Runs of our programs the kernel skipped because another BPF program was already running on that CPU (a
    /// probed function called from inside a probe, or an interrupt): `recursion_misses` of `bpf_prog_info`,
    /// summed. Each is an event that may have been lost. Final once [`Tracer::detach`] returned (see
    /// [`DetachStats::recursion_misses`]).
    pub fn recursion_misses(&self) -> u64 {
        if self.progs.is_empty() && self.tp_progs.is_empty() {
            return self.final_misses;
        }
        self.progs
            .values()
            .chain(&self.tp_progs)
            .filter_map(|fd| bpf_sys::obj::prog_info(fd.as_fd()).ok())
            .map(|i| i.recursion_misses)
            .sum()
    }

    /// Whether the programs count in the kernel and ship only drops ([`Config::summary`], where kprobes have BPF
    /// cookies).
    pub fn summarizing(&self) -> bool {
        self.summarizing
    }

    /// In-kernel summary: packets seen (paths started).
    pub fn packets(&self) -> u64 {
        self.counter(counter::PACKETS)
    }

    /// In-kernel summary: events counted and not shipped (part of [`Tracer::produced`]).
    pub fn summed(&self) -> u64 {
        self.counter(counter::SUMMED)
    }

    /// In-kernel summary: events whose packet the table of live skbs could not hold (each counted as a packet).
    pub fn paths_full(&self) -> u64 {
        self.counter(counter::PATHS_FULL)
    }

    /// In-kernel summary: events per target, in the order of [`crate::KernelSummary::roles`] (empty when not
    /// summarizing).
    pub fn function_events(&self) -> Vec<u64> {
        let n = match (self.summarizing, &self.cfg.summary) {
            (true, Some(s)) => s.roles.len(),
            _ => return Vec::new(),
        };
        let Some(arr) = self
            .maps
            .get("SUM_FUNCS")
            .and_then(|m| PerCpuArray::<_, u64>::try_from(m).ok())
        else {
            return vec![0; n];
        };
        (0..n as u32)
            .map(|i| arr.get(&i, 0).map(|v| v.iter().sum()).unwrap_or(0))
            .collect()
    }

    /// skbs `--filter-track-skb` could not remember because its table was full.
    pub fn track_overflows(&self) -> u64 {
        self.counter(counter::TRACK_FULL)
    }

    /// The kernel stack (innermost first) recorded under `id` (events with `EV_HAS_STACK`).
    pub fn stack(&self, id: i32) -> Vec<u64> {
        let Some(map) = self.maps.get("STACKS") else {
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
        self.detach_with(&|_, _| {})
    }

    /// [`Tracer::detach`], calling `progress(done, total)` from the worker threads as links close (removing a
    /// plain kprobe waits for RCU grace periods: a thousand take tens of seconds).
    pub fn detach_with(&mut self, progress: &(dyn Fn(usize, usize) + Sync)) -> DetachStats {
        let t0 = Instant::now();
        // The traced programs' links first: their trampolines go, and no helper event can follow.
        if let Some(mut w) = self.watch.take() {
            w.stop();
        }
        let links = std::mem::take(&mut self.links);
        let closed = links.len();
        let threads = parallel::threads_for(closed, self.cfg.kprobe_batch);
        parallel::drop_all(links, threads, progress);
        // No program runs any more: their counters are final; read them before the programs go.
        self.final_misses = self.recursion_misses();
        self.progs.clear();
        self.tp_progs.clear();
        DetachStats {
            closed,
            elapsed: t0.elapsed(),
            produced: self.produced(),
            lost: self.lost(),
            summed: self.summed(),
            recursion_misses: self.final_misses,
        }
    }

    /// Links and perf events still attached (what [`Tracer::detach`] has to close).
    pub fn attached_links(&self) -> usize {
        self.links.len()
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        self.detach();
    }
}

/// Puts the ids of our own maps into `OWN_MAPS`: the map operation kprobes leave out the lookups our own programs
/// do while a traced program runs.
fn own_maps(maps: &Maps) -> Result<(), ProbeError> {
    let sys = |e| ProbeError::sys("reading our own maps", e);
    let mut ids = Vec::new();
    let mut own = None;
    for (name, m) in maps.iter() {
        let Some(fd) = linked::map_fd(m) else {
            continue;
        };
        // SAFETY: the fd belongs to `m`, which `maps` keeps open for this whole function.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let info = bpf_sys::obj::map_info(fd).map_err(sys)?;
        if name == "OWN_MAPS" {
            own = Some(info.id);
        }
        ids.push(info.id);
    }
    let own = own.ok_or(ObjectError::Missing {
        kind: "map",
        name: "OWN_MAPS".into(),
    })?;
    let own = bpf_sys::map::Map::from_id(own).map_err(sys)?;
    for id in ids {
        own.update(&id.to_ne_bytes(), &[1], 0).map_err(sys)?;
    }
    Ok(())
}
