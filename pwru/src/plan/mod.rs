//! The tracer's arguments → one checked [`Plan`], before any BPF work (ripgrep's lowargs → hiargs): every
//! validation of the command line happens here, and what the plan holds is ready to use.
//!
//! Order: value checks that need nothing (a typo never waits for BTF parsing, nor needs root), then privileges,
//! then what needs the system (interfaces in a namespace, the output file, Cilium's maps), then the backend, BTF
//! and the targets. Parts: [`filters`] (netns, mark, func regex), [`kmods`] (`--kmods`), [`targets`] (backend
//! and discovery), [`exprs`] (BTF expressions), [`output`] (format and destination), [`stack`] (following packets
//! by stack, functions without an skb, map operations).
//!
//! Adding a flag: declare it in `cli.rs`, check it and turn it into a typed field here (or in the part it
//! belongs to), and let the run or a sink read the field; nothing after the plan looks at [`TraceArgs`].

pub mod exprs;
pub mod filters;
pub mod kernel_summary;
pub mod kmods;
pub mod output;
pub mod stack;
pub mod targets;

use crate::cli::TraceArgs;
use crate::decode::Want;
use crate::lookups::Symbols;
use anyhow::{Context, Result, bail};
use filters::NetnsFilter;
use std::path::{Path, PathBuf};

pub use output::{Destination, Destinations, DropsOnlyCaps, Format, Metrics, Output, Summary};

/// Everything a trace run needs, checked.
pub struct Plan {
    /// What the kernel side is asked to do.
    pub tracer: probes::Config,
    /// Names for decoding: functions, tracepoints, drop reasons.
    pub names: Symbols,
    /// Which lookups decoding must do for the output.
    pub want: Want,
    pub output: Output,
    /// Where text or JSON lines and pcapng go, open.
    pub destinations: Destinations,
    /// `--cilium`: Cilium's maps, open.
    pub cilium: Option<cilium::Enricher>,
    /// `--metrics`: listening already.
    pub metrics: Option<Metrics>,
    /// Created once every probe is attached.
    pub ready_file: Option<PathBuf>,
    /// Expedite RCU grace periods while detaching ([`crate::rcu`]): plain kprobes, unless `--detach-normal-rcu`.
    /// Not kprobe-multi: its detach (0.17 s in the VM benchmark) would gain ~60 ms, not worth an IPI to every CPU
    /// of a busy node per grace period meanwhile.
    pub expedite_detach: bool,
    /// Lines to show before attaching (backend fallback, --kmods notes, discovery warnings).
    pub notes: Vec<String>,
}

/// How often `--filter-trace-tc`/`--filter-trace-xdp` look for programs loaded or released while tracing.
pub const PROG_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// The ring buffer is mapped whole into the kernel's memory and pwru's: more than this is a mistake.
pub const MAX_RINGBUF_BYTES: u64 = 1 << 30;

impl Plan {
    /// Checks `args` and resolves everything they name. `phase` is told what is being done, so an interruption
    /// can say where it happened.
    ///
    /// With `loading`, the programs may be loaded while the plan searches for the targets
    /// ([`probes::Loading::start`]); the caller finishes the load with the plan's [`Plan::tracer`].
    pub fn new(
        args: &TraceArgs,
        phase: &dyn Fn(&'static str),
        loading: Option<&mut probes::Loading>,
    ) -> Result<Plan> {
        phase("checking the arguments");
        let (sel, out) = (&args.select, &args.output);
        let func_re = sel
            .filter_func
            .as_deref()
            .map(filters::parse_func_regex)
            .transpose()?;
        let mark = sel
            .filter_mark
            .as_deref()
            .map(filters::parse_mark)
            .transpose()?;
        let netns = sel
            .filter_netns
            .as_deref()
            .map(filters::parse_netns)
            .transpose()?;
        let ringbuf_bytes = ringbuf_size(args.ringbuf_size, page_size())?;
        let filter = args
            .filter_expr()
            .map(|e| compile_filter("filter", &e))
            .transpose()?;
        let tunnel_filter = |what, expr: &Option<String>| {
            // An empty expression is no filter, as in pwru.
            expr.as_deref()
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(|e| compile_filter(what, e))
                .transpose()
        };
        exprs::check(args)?;
        let tunnel = probes::TunnelConfig {
            output: out.output_tunnel,
            filter_l2: tunnel_filter("--filter-tunnel-pcap-l2", &args.filter_tunnel_pcap_l2)?,
            filter_l3: tunnel_filter("--filter-tunnel-pcap-l3", &args.filter_tunnel_pcap_l3)?,
        };
        let percpu_buf = percpu_buf(args.set_percpu_buf)?;
        let words = output::filter_words(
            args.filter_expr(),
            sel,
            [
                args.filter_tunnel_pcap_l2.as_deref(),
                args.filter_tunnel_pcap_l3.as_deref(),
            ],
        );
        let mut output = output::plan(&args.output, words, args.snaplen)?;
        output::drop_views(&mut output, args)?;
        output.options.skb_cb = args.skb_cb();
        output.skb_cb_with_tc = args.output_skb_cb.is_none() && args.filter_trace_tc;
        let metrics_addr = args
            .metrics
            .as_deref()
            .map(output::parse_metrics_addr)
            .transpose()?;
        crate::privileges::check()?;

        let ifindex = match &sel.filter_ifname {
            None => None,
            Some(name) => Some(ifindex(name, netns.as_ref(), sel.filter_netns.as_deref())?),
        };
        phase("opening the output");
        let destinations = output::open_all(&output, &args.output)?;
        let metrics = match (metrics_addr, &args.metrics) {
            (Some(addr), Some(arg)) => Some(Metrics {
                listener: output::listen(addr, arg)?,
                max_series: args.metrics_max_series as usize,
            }),
            _ => None,
        };
        let cilium = match &args.cilium {
            None => None,
            Some(dir) => {
                phase("opening Cilium's maps");
                Some(
                    cilium::Enricher::open((!dir.is_empty()).then(|| Path::new(dir.as_str())))
                        .map_err(cilium_error)?,
                )
            }
        };

        let dumps = exprs::dumps(args)?;
        // What the probes are asked, but for what the backend and the search decide.
        let tracer = probes::Config {
            backend: probes::Backend::Tracepoint,
            kprobes: Vec::new(),
            tracepoints: Vec::new(),
            filter,
            skb_fetch: None,
            xdp_fetch: None,
            skb_expr: None,
            xdp_expr: None,
            dumps,
            netns: netns.map(|n| n.inode),
            mark: mark.map(|m| (m.mark, m.mask)),
            ifindex,
            track_skb: sel.filter_track_skb,
            progs: probes::ProgTracing {
                tc: args.filter_trace_tc,
                xdp: args.filter_trace_xdp,
                helpers: args.filter_track_bpf_helpers,
                map_funcs: Vec::new(),
                htab_elem_key: None,
                poll: Some(PROG_POLL),
            },
            skb_cb: args.skb_cb(),
            caller: out.output_caller,
            stack: false,
            ringbuf_bytes,
            kprobe_placement: match args.kprobe_placement {
                crate::cli::KprobePlacement::Symbol => probes::KprobePlacement::Symbol,
                crate::cli::KprobePlacement::Entry => probes::KprobePlacement::Entry,
                crate::cli::KprobePlacement::PastFtrace => probes::KprobePlacement::PastFtrace,
            },
            kprobe_batch: args.filter_kprobe_batch.map(|n| n as usize),
            tunnel,
            stack_track: probes::StackConfig {
                track: stack::wanted(args),
                non_skb: Vec::new(),
            },
            percpu_buf,
            // Bytes only for a sink that writes them: without one, events cost what they did.
            snaplen: output.pcap.map_or(0, |p| p.snaplen),
            summary: None,
        };
        // Tracepoints have no return address: --output-caller takes the firing function from the stack.
        let stack_on =
            |b| out.output_stack || (out.output_caller && b == probes::Backend::Tracepoint);
        // The programs are loaded during the search when nothing it finds changes them: the BTF expressions are
        // compiled on the BTF it reads; the summary's tables, the functions without an skb and the map operations
        // are sized by what it finds.
        let mut ahead = loading.filter(|_| {
            !exprs::any(args)
                && !kernel_summary::wanted(&output)
                && args
                    .filter_non_skb_funcs
                    .iter()
                    .all(|n| n.trim().is_empty())
                && !args.output_bpfmap
        });
        let targets = targets::discover(args, func_re.as_ref(), phase, &mut |backend| {
            if let Some(l) = ahead.as_deref_mut() {
                l.start(probes::Config {
                    backend,
                    stack: stack_on(backend),
                    ..tracer.clone()
                });
            }
        })?;
        phase("compiling the BTF expressions");
        let exprs = exprs::compile(args, &targets.btf)?;
        drop(targets.btf);
        let stack = stack_on(targets.backend);
        let kallsyms = match targets.kallsyms {
            // Without callers, stacks or other probed functions (BPF helpers included) only the skb functions are
            // ever named: keep just those (a few KB instead of the whole kernel's symbols, for the whole trace).
            Some(k)
                if !(out.output_caller || out.output_stack || args.filter_track_bpf_helpers)
                    && targets.non_skb.is_empty()
                    && targets.map_funcs.is_empty() =>
            {
                let probed: std::collections::HashSet<(&str, Option<&str>)> = targets
                    .kprobes
                    .iter()
                    .map(|t| (t.name.as_str(), t.module.as_deref()))
                    .collect();
                Some(k.retain(|name, module| probed.contains(&(name, module))))
            }
            Some(k) => Some(k),
            // Helper events are kprobe events: their functions are named from kallsyms.
            None if out.output_caller
                || out.output_stack
                || args.filter_track_bpf_helpers
                || args.output_bpfmap =>
            {
                phase("reading /proc/kallsyms");
                Some(symbols::Kallsyms::load()?)
            }
            None => None,
        };
        let mut notes = targets.notes;
        if args.filter_track_bpf_helpers && !args.filter_trace_tc && !args.filter_trace_xdp {
            notes.push(
                "--filter-track-bpf-helpers shows the helpers traced tc/XDP programs call: add --filter-trace-tc or --filter-trace-xdp".into(),
            );
        }
        if exprs::any_xdp(args) && !args.filter_trace_xdp {
            notes.push(
                "--filter-xdp-expr and --output-xdp-metadata act on traced XDP programs: add --filter-trace-xdp".into(),
            );
        }
        if args.output_bpfmap && !args.filter_trace_tc && !args.filter_trace_xdp {
            notes.push(
                "--output-bpfmap shows the map operations of traced tc/XDP programs: add --filter-trace-tc or --filter-trace-xdp".into(),
            );
        }
        let summary = kernel_summary::wanted(&output).then(|| {
            kernel_summary::table(
                targets.backend,
                &targets.kprobes,
                &targets.tracepoint_names,
                &targets.reasons,
            )
        });
        Ok(Plan {
            tracer: probes::Config {
                backend: targets.backend,
                kprobes: targets.kprobes,
                tracepoints: targets.tracepoints,
                skb_fetch: exprs.skb.fetch_code(),
                xdp_fetch: exprs.xdp.fetch_code(),
                skb_expr: exprs.skb.filter,
                xdp_expr: exprs.xdp.filter,
                stack,
                progs: probes::ProgTracing {
                    map_funcs: targets.map_funcs,
                    htab_elem_key: targets.htab_elem_key,
                    ..tracer.progs
                },
                stack_track: probes::StackConfig {
                    non_skb: targets.non_skb,
                    ..tracer.stack_track
                },
                summary,
                ..tracer
            },
            names: Symbols {
                kallsyms,
                reasons: targets.reasons,
                tracepoints: targets.tracepoint_names,
                skb_values: exprs.skb.fetch,
                xdp_values: exprs.xdp.fetch,
            },
            want: Want {
                // pcapng names its interfaces; the drop views label drops by interface.
                ifnames: out.output_meta
                    || output.pcap.is_some()
                    || args.summary
                    || args.metrics.is_some(),
                netns_names: out.output_netns_names,
                caller: out.output_caller,
                stack,
            },
            output,
            destinations,
            cilium,
            metrics,
            ready_file: args.ready_file.clone(),
            expedite_detach: targets.backend == probes::Backend::Kprobe && !args.detach_normal_rcu,
            notes,
        })
    }
}

/// `--filter-ifname NAME`, looked up in the `--filter-netns` namespace (else the current one).
fn ifindex(name: &str, netns: Option<&NetnsFilter>, netns_arg: Option<&str>) -> Result<u32> {
    let path = netns.and_then(|n| n.path.clone());
    if netns.is_some() && path.is_none() {
        bail!(
            "--filter-ifname {name}: cannot enter netns {} to resolve it",
            netns_arg.unwrap_or("")
        );
    }
    let where_ = netns_arg.unwrap_or("the current netns");
    crate::ifnames::ifindex_of(name, path.as_deref())
        .with_context(|| format!("--filter-ifname {name}: cannot list interfaces in {where_}"))?
        .with_context(|| format!("--filter-ifname: no interface {name:?} in {where_}"))
}

/// `--cilium`'s error, with how to fix it in this command line's terms where that is a flag.
fn cilium_error(e: cilium::Error) -> anyhow::Error {
    match e {
        cilium::Error::NoBpffs | cilium::Error::NoGlobals(_) | cilium::Error::NotBpffs(_) => {
            anyhow::anyhow!("--cilium: {e}; pass --cilium=DIR to read another bpffs")
        }
        e => anyhow::Error::new(e).context("--cilium"),
    }
}

/// A pcap expression given as `what` (`filter` for the positional one), compiled for the probes.
fn compile_filter(what: &'static str, expr: &str) -> Result<probes::FilterCode> {
    let prog =
        pcap_filter::compile(expr).map_err(|e| crate::filter_cmd::BadFilter::of(what, expr, e))?;
    Ok(probes::FilterCode {
        insns: prog.to_bytes(),
        snaplen: prog.snaplen,
    })
}

/// Smallest `--set-percpu-buf`: a dump shorter than this says nothing.
const MIN_PERCPU_BUF: u32 = 64;
/// Largest `--set-percpu-buf`: the kernel refuses per-CPU map values over 32 KiB (PCPU_MIN_UNIT_SIZE).
const MAX_PERCPU_BUF: u32 = 32 << 10;

/// `--set-percpu-buf`: checked here, so that a bad size is an argument error rather than a map the kernel
/// refuses later.
fn percpu_buf(n: u32) -> Result<u32> {
    if (MIN_PERCPU_BUF..=MAX_PERCPU_BUF).contains(&n) {
        return Ok(n);
    }
    bail!(
        "invalid --set-percpu-buf {n}: must be from {MIN_PERCPU_BUF} to {MAX_PERCPU_BUF} bytes (the kernel's limit for a per-CPU BPF map value)"
    )
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).max(4096) as u64
}

/// `--ringbuf-size`: the kernel wants a power of two and a multiple of the page size; more than
/// [`MAX_RINGBUF_BYTES`] is refused rather than silently taken from the node's memory.
fn ringbuf_size(n: u64, page: u64) -> Result<u32> {
    if n.is_power_of_two() && (page..=MAX_RINGBUF_BYTES).contains(&n) {
        return Ok(n as u32);
    }
    bail!(
        "invalid --ringbuf-size {n}: must be a power of two from {page} (the page size) to {MAX_RINGBUF_BYTES} (1 GiB, the cap), e.g. 8388608 (the default, 8 MiB)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percpu_buf_sizes() {
        for ok in [64, 4096, 32768] {
            assert_eq!(percpu_buf(ok).unwrap(), ok);
        }
        for bad in [0, 63, 32769, u32::MAX] {
            let e = percpu_buf(bad).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!(
                    "invalid --set-percpu-buf {bad}: must be from 64 to 32768"
                )),
                "{e}"
            );
        }
    }

    #[test]
    fn tunnel_filter_errors_name_their_flag() {
        let e = compile_filter("--filter-tunnel-pcap-l3", "icmp and hots 1.2.3.4").unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("--filter-tunnel-pcap-l3: "), "{msg}");
        let bad = e.downcast_ref::<crate::filter_cmd::BadFilter>().unwrap();
        assert!(bad.excerpt().is_some());
        assert!(compile_filter("filter", "tcp").is_ok());
    }

    #[test]
    fn ringbuf_sizes() {
        for ok in [4096, 8 << 20, 1 << 30] {
            assert_eq!(ringbuf_size(ok, 4096).unwrap() as u64, ok);
        }
        for bad in [0, 3, 6000, 2048, 4097, (1 << 31), u32::MAX as u64, 1 << 40] {
            let e = ringbuf_size(bad, 4096).unwrap_err().to_string();
            assert!(
                e.contains("power of two from 4096") && e.contains("1 GiB, the cap"),
                "{bad}: {e}"
            );
        }
        // 64 KiB pages (arm64): 16 KiB is a power of two but not a multiple of the page.
        assert!(ringbuf_size(16 << 10, 64 << 10).is_err());
    }
}
