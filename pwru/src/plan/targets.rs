//! Which backend, and what it attaches to: the skb functions in BTF (kprobe backends) or the skb tracepoints.

use super::kmods;
use crate::cli;
use crate::say;
use anyhow::{Context, Result, bail};
use std::os::unix::fs::FileTypeExt;
use symbols::Kallsyms;

/// What to attach, and what naming the events needs from discovery.
pub struct Targets {
    pub backend: probes::Backend,
    /// Kernel functions (kprobe backends).
    pub kprobes: Vec<probes::Target>,
    /// Tracepoints (tracepoint backend); the index is the event's `probe_id`.
    pub tracepoints: Vec<probes::TracepointTarget>,
    /// `probe_id` → tracepoint name.
    pub tracepoint_names: Vec<String>,
    pub reasons: symbols::DropReasons,
    /// Read during discovery (kprobe backends), reused to name functions.
    pub kallsyms: Option<Kallsyms>,
    /// Lines for the user: why `auto` fell back, what --kmods did.
    pub notes: Vec<String>,
    /// The kernel's types (vmlinux and the selected modules), for the BTF expressions.
    pub btf: symbols::Btf,
    /// `--filter-non-skb-funcs` functions to probe (kprobe backends).
    pub non_skb: Vec<probes::StackFunc>,
    /// `--output-bpfmap`: map operation functions to probe (kprobe backends).
    pub map_funcs: Vec<probes::MapFuncTarget>,
    /// `offsetof(struct htab_elem, key)`, for `--output-bpfmap`.
    pub htab_elem_key: Option<u32>,
}

/// Where packets are dropped or freed, by backend: `--drops-only`, `--summary` and `--metrics` probe them also
/// when `--filter-func` leaves them out, so that drops are seen and paths end.
const DROP_POINTS_KPROBE: &str =
    "kfree_skb_reason|sk_skb_reason_drop|kfree_skb|__kfree_skb|consume_skb|kfree_skbmem";
const DROP_POINTS_TRACEPOINT: [&str; 2] = ["kfree_skb", "consume_skb"];

fn probes_backend(b: cli::Backend) -> Option<probes::Backend> {
    match b {
        cli::Backend::Auto => None,
        cli::Backend::Kprobe => Some(probes::Backend::Kprobe),
        cli::Backend::KprobeMulti => Some(probes::Backend::KprobeMulti),
        cli::Backend::Tracepoint => Some(probes::Backend::Tracepoint),
    }
}

/// Picks the backend (the asked one if it works here, else the best), then finds its targets in BTF.
/// `chosen` is told the backend before the search, once /proc/kallsyms is read: a load started there overlaps
/// the search, and its memory does not add to the read's.
pub fn discover(
    args: &cli::TraceArgs,
    func_re: Option<&regex::Regex>,
    phase: &dyn Fn(&'static str),
    chosen: &mut dyn FnMut(probes::Backend),
) -> Result<Targets> {
    phase("probing the kernel's tracing support");
    let support = probes::support();
    let backend = match probes_backend(args.backend) {
        Some(b) => {
            support.check(b)?;
            b
        }
        None => support.best().with_context(|| {
            format!(
                "no tracing backend works on this kernel: {}; {}; {}",
                support.kprobe_multi.clone().unwrap_err(),
                support.kprobe.clone().unwrap_err(),
                support.tracepoint.clone().unwrap_err()
            )
        })?,
    };
    let tracepoint_backend = backend == probes::Backend::Tracepoint;
    if tracepoint_backend {
        super::stack::tracepoint_check(args)?;
    }
    let drop_points = (args.drops_only || args.summary || args.metrics.is_some())
        && args.select.filter_func.is_some();

    // Kprobe backends read kallsyms anyway; the tracepoint backend only if a --kmods name needs it.
    let mut kallsyms = None;
    if !tracepoint_backend {
        phase("reading /proc/kallsyms");
        kallsyms = Some(Kallsyms::load()?);
    }
    chosen(backend);
    let lazy = std::cell::OnceCell::new();
    let is_vmlinux_symbol = |name: &str| {
        let k = kallsyms
            .as_ref()
            .or_else(|| lazy.get_or_init(|| Kallsyms::load().ok()).as_ref());
        k.is_some_and(|k| k.address_in(name, None).is_some())
    };
    let (modules, mut notes) = kmods::select(
        &args.kmods,
        args.all_kmods,
        tracepoint_backend,
        &kmods::Roots::running_kernel(),
        &is_vmlinux_symbol,
    )?;

    phase("reading BTF");
    if let Some(p) = &args.kernel_btf
        && std::fs::metadata(p).is_ok_and(|m| m.file_type().is_fifo())
    {
        say!(
            "--kernel-btf {} is a FIFO: waiting for a writer (Ctrl-C to stop)",
            p.display()
        );
    }
    let btf = symbols::Btf::load_with(&symbols::BtfOptions {
        kernel_btf: args.kernel_btf.clone(),
        kmods: modules,
        ..Default::default()
    })?;

    phase("finding skb functions");
    let mut kprobes = Vec::new();
    let mut tracepoints = Vec::new();
    let mut tracepoint_names = Vec::new();
    let (mut non_skb, mut map_funcs, mut htab_elem_key) = (Vec::new(), Vec::new(), None);
    if tracepoint_backend {
        notes.extend(super::stack::tracepoint_notes(args));
        for tp in symbols::skb_tracepoints(&btf) {
            let t = probes::TracepointTarget::from(tp);
            let forced = drop_points && DROP_POINTS_TRACEPOINT.contains(&t.name.as_str());
            if (func_re.is_some_and(|re| !re.is_match(&t.name)) && !forced) || !t.supported() {
                continue;
            }
            tracepoint_names.push(t.name.clone());
            tracepoints.push(t);
        }
        if tracepoints.is_empty() {
            bail!(
                "no skb tracepoint matches --filter-func {}",
                args.select.filter_func.as_deref().unwrap_or("")
            );
        }
    } else {
        let ff = args
            .select
            .filter_func
            .as_deref()
            .map(|f| match drop_points {
                // The user's expression is checked alone first, so its errors point into what was typed.
                true => symbols::FuncFilter::new(f).and_then(|_| {
                    symbols::FuncFilter::new(&format!("(?:{f})|{DROP_POINTS_KPROBE}"))
                }),
                false => symbols::FuncFilter::new(f),
            })
            .transpose()?;
        let k = kallsyms.as_ref().context("kallsyms not read")?;
        // One read of /proc/kallsyms serves both the probe-able check and, later, the function names.
        let traceable = symbols::Traceable::detect_with(Some(k))?;
        let found = symbols::skb_functions_with(&btf, ff.as_ref(), &traceable);
        notes.extend(found.warnings);
        for f in found.funcs {
            // By address, saving the kernel a symbol search per probe; a name several functions share stays a
            // name, which the kernel refuses rather than guess.
            let mut at = k.addresses(&f.name).into_iter();
            let address = match (at.next(), at.next()) {
                (Some((a, m)), None) if a != 0 && m == f.module.as_deref() => Some(a),
                _ => None,
            };
            kprobes.push(probes::Target {
                name: f.name,
                module: f.module,
                skb_arg: probes::ArgIndex(f.skb_arg),
                reason_arg: f.reason_arg.map(probes::ArgIndex),
                address,
            });
        }
        if kprobes.is_empty() {
            bail!(
                "no probe-able skb function matches --filter-func {}",
                args.select.filter_func.as_deref().unwrap_or("")
            );
        }
        if args.output_bpfmap {
            (map_funcs, htab_elem_key) = super::stack::map_funcs(&btf, &traceable);
        }
        non_skb = super::stack::non_skb_funcs(
            &args.filter_non_skb_funcs,
            &traceable,
            &kprobes,
            &map_funcs,
            &mut notes,
        );
    }
    if drop_points {
        notes.push(format!(
            "--filter-func: the drop and free points ({}) are probed too, for the drop views",
            if tracepoint_backend {
                DROP_POINTS_TRACEPOINT.join(", ")
            } else {
                DROP_POINTS_KPROBE.replace('|', ", ")
            }
        ));
    }
    if probes_backend(args.backend).is_none() && backend != probes::Backend::KprobeMulti {
        let why = match backend {
            probes::Backend::Kprobe => support.kprobe_multi.clone().err(),
            _ => support
                .kprobe
                .clone()
                .err()
                .or(support.kprobe_multi.clone().err()),
        }
        .unwrap_or_default();
        notes.insert(
            0,
            match backend {
                probes::Backend::Tracepoint => {
                    format!("{why}: using {} tracepoints", tracepoints.len())
                }
                _ => format!("{why}: using kprobes on {} functions", kprobes.len()),
            },
        );
    }
    Ok(Targets {
        backend,
        kprobes,
        tracepoints,
        tracepoint_names,
        reasons: symbols::DropReasons::from_btf(&btf),
        kallsyms: kallsyms.or_else(|| lazy.into_inner().flatten()),
        notes,
        btf,
        non_skb,
        map_funcs,
        htab_elem_key,
    })
}
