//! [`Tracer::load`]: the configuration globals, the maps, the programs the backend needs.
use super::{
    Cookies, HELPER_PROG, MAP_PROGS, NON_SKB_PROG, Phases, Ring, TP_COOKIE_PROG, Tracer,
    kprobe_program, trim_heap,
};
use crate::config::{Backend, Config, FetchCode, FilterCode, KprobePlacement};
use crate::contract::{CONSUMED_CODES, FILTER_BUF_SIZE};
use crate::error::{ConfigError, ObjectError, ProbeError};
use crate::event::{BTF_AREA_MAX, DUMP_BUF_MAX, SNAPLEN_MAX};
use crate::kernel_btf::KernelBtf;
use crate::linked::{self, Linked};
use crate::maps::Maps;
use crate::progs::{Code, Pair};
use crate::variant::{self, Variant, kprobe_variant};
use crate::{btf_subset, filters, objects, parallel, splice, support};
use aya::maps::Array;
use aya_obj::generated::{bpf_attach_type, bpf_prog_type};
use bpf_sys::prog::ProgLoad;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

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
        Self::load_with(cfg, KernelBtf::read_in_background())
    }

    /// [`Tracer::load`] with the kernel's BTF already being parsed (started before the caller's own work).
    pub fn load_with(cfg: Config, kernel_btf: KernelBtf) -> Result<Self, ProbeError> {
        check_targets(&cfg)?;
        Self::load_programs(cfg, kernel_btf, false)
    }

    /// The load itself. `targets_later`: `cfg` has no targets yet ([`crate::Loading`]), load as if it had.
    pub(super) fn load_programs(
        cfg: Config,
        kernel_btf: KernelBtf,
        targets_later: bool,
    ) -> Result<Self, ProbeError> {
        let t0 = Instant::now();
        let mut phases = Phases::new(t0);
        bpf_sys::rlimit::raise_nofile_limit();
        // No backend support check here: loading (verifying) kprobe programs works on any kernel, and attach()
        // reports an unsupported backend with its reason.
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
        let kprobing =
            cfg.backend != Backend::Tracepoint && (targets_later || !cfg.kprobes.is_empty());
        let tracing = if targets_later {
            cfg.backend == Backend::Tracepoint
        } else {
            !cfg.tracepoints.is_empty()
        };
        phases.mark("checks");
        // The summary's index of a kprobe event is its cookie's target index: without kprobe cookies there is none.
        // The programs on traced BPF programs and the functions without an skb ship their events as they are, and
        // so does a run whose consumed reasons CFG_CONSUMED's bits cannot all hold (none on any kernel so far).
        let summary_wanted = cfg
            .summary
            .as_ref()
            .is_some_and(|s| s.consumed_reasons.iter().all(|&c| c < CONSUMED_CODES))
            && !cfg.progs.any()
            && cfg.stack_track.non_skb.is_empty();
        // One program for every function (and one for every tracepoint) where the kernel has BPF cookies: the
        // filter is verified once, however many targets there are. Else one program per variant (kprobes) and
        // one load per tracepoint.
        // A plain kprobe's cookie comes only with a BPF perf link, and removing a thousand probes held by links
        // took a third longer than closing their perf events (probes/README.md): plain kprobes take the
        // variants, run by PERF_EVENT_IOC_SET_BPF, unless a probe needs its cookie, as the kernel summary does and
        // a probe placed past the ftrace site (bpf_get_func_ip() is 0 there: its function comes from FUNC_IPS).
        let kprobe_cookie_needed =
            multi || summary_wanted || cfg.kprobe_placement == KprobePlacement::PastFtrace;
        let cookies = Cookies {
            kprobe: kprobing
                && kprobe_cookie_needed
                && support::has_cookies(bpf_prog_type::BPF_PROG_TYPE_KPROBE, kprobe_attach),
            tracepoint: tracing
                && support::has_cookies(bpf_prog_type::BPF_PROG_TYPE_RAW_TRACEPOINT, None),
        };
        phases.mark("cookie probes");
        let nk = if cfg.backend == Backend::Tracepoint {
            0
        } else {
            cfg.kprobes.len()
        };
        let summarizing = summary_wanted && (nk == 0 || cookies.kprobe);
        let sum = cfg.summary.as_ref().filter(|_| summarizing);
        let mut consumed = [0u64; CONSUMED_CODES as usize / 64];
        for &c in sum.iter().flat_map(|s| &s.consumed_reasons) {
            consumed[c as usize / 64] |= 1 << (c % 64);
        }
        let consumed: Vec<u8> = consumed.iter().flat_map(|w| w.to_ne_bytes()).collect();
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

        // Only the programs loaded below (and per tracepoint by attach(), and for traced tc/XDP programs) are kept
        // in the object: parsing and CO-RE relocating the other backends' programs was most of load()'s time.
        let mut keep: Vec<String> = wanted.iter().map(|(n, _, _)| n.clone()).collect();
        for v in &tp_variants {
            keep.extend([
                format!("raw_tp_{}", v.suffix()),
                format!("tp_btf_{}", v.suffix()),
            ]);
        }
        if cfg.progs.any() {
            keep.extend(PROG_TRACING.map(String::from));
        }
        let keep: Vec<&str> = keep.iter().map(String::as_str).collect();
        let elf = splice::splice_keeping(objects::object(), &stubs, &keep)?;
        let mut obj = aya_obj::Object::parse(&elf).map_err(ObjectError::Parse)?;
        drop(elf);
        objects::release();
        phases.mark("object");
        let kernel = kernel_btf.wait()?;
        phases.mark("kernel BTF");
        // bpf_snprintf_btf() names the struct by its id in the running kernel's BTF.
        let struct_id = |on: bool, name: &'static str| -> Result<u32, ProbeError> {
            if !on {
                return Ok(0);
            }
            kernel
                .id(btf_subset::STRUCT, name)
                .ok_or(ConfigError::NoStruct(name).into())
        };
        let skb_btf_id = struct_id(dumps.skb, "sk_buff")?;
        let shinfo_btf_id = struct_id(dumps.shared_info, "skb_shared_info")?;
        let globals: [(&str, u32); 32] = [
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
        ];
        let bytes: Vec<(&str, [u8; 4])> =
            globals.iter().map(|(n, v)| (*n, v.to_ne_bytes())).collect();
        let mut data: std::collections::HashMap<&str, (&[u8], bool)> =
            bytes.iter().map(|(n, b)| (*n, (&b[..], true))).collect();
        data.insert("CFG_CONSUMED", (&consumed, true));
        obj.patch_map_data(data).map_err(ObjectError::Parse)?;

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
        phases.mark("maps");
        let linked = Linked::new(obj, &kernel.core, maps.iter())?;
        phases.mark("CO-RE");
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
        // The verifier runs in the loading thread: the per-variant programs (kprobes without a cookie, each with
        // the whole filter) are verified side by side.
        let cpus = std::thread::available_parallelism().map_or(1, |c| c.get());
        let loaded = parallel::try_map(
            &wanted,
            cpus.min(wanted.len()),
            &AtomicBool::new(false),
            |_, (name, prog_type, attach)| {
                let insns = linked.insns(name)?;
                let mut spec = ProgLoad::new(*prog_type, name, &insns);
                spec.expected_attach_type = *attach;
                linked::load(&spec).map(|fd| (name.clone(), fd))
            },
        )?;
        progs.extend(loaded);
        phases.mark("programs");
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
            let [fentry_tc, fexit_tc, fentry_xdp, fexit_xdp, refs] =
                PROG_TRACING.map(|name| linked.insns(name));
            Some(Code {
                tc: Pair {
                    fentry: fentry_tc?,
                    fexit: fexit_tc?,
                },
                xdp: Pair {
                    fentry: fentry_xdp?,
                    fexit: fexit_xdp?,
                },
                refs: refs?,
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
            Some(kernel)
        } else {
            drop(kernel);
            None
        };
        trim_heap();
        phases.mark("rest");
        let events = maps.take("EVENTS").ok_or(ObjectError::Missing {
            kind: "map",
            name: "EVENTS".into(),
        })?;
        let mut tracer = Tracer {
            links: Vec::new(),
            progs,
            tp_progs: Vec::new(),
            final_misses: 0,
            cookies,
            summarizing,
            ring: Ring::Unmapped(events),
            cfg,
            btf,
            linked,
            maps,
            attached: false,
            prog_code,
            watch: None,
            load_time: t0.elapsed(),
            load_phases: phases.done(),
        };
        // Mapped last, its pages need not add to the peak of BTF parsing; a load ahead of the targets leaves it
        // to Loading::finish, after the caller's search.
        if !targets_later {
            tracer.map_ring()?;
        }
        Ok(tracer)
    }
}

/// Refuses a target the programs cannot serve (an skb or reason argument past what they read).
pub(super) fn check_targets(cfg: &Config) -> Result<(), ProbeError> {
    for t in &cfg.kprobes {
        kprobe_variant(t)?;
    }
    for t in &cfg.tracepoints {
        variant::tracepoint_variant(t)?;
    }
    Ok(())
}

/// The programs that trace tc and XDP programs (loaded per traced program by `crate::progs`), and the iterator
/// that finds the programs they call.
const PROG_TRACING: [&str; 5] = [
    "fentry_tc",
    "fexit_tc",
    "fentry_xdp",
    "fexit_xdp",
    "iter_prog_refs",
];

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
