//! The trace command: check privileges and arguments, pick a backend, discover targets, attach, stream events
//! until Ctrl-C / SIGTERM / `--output-limit-lines`, detach, and report what was produced and lost.

use crate::cli::{self, TraceArgs};
use crate::clock::WallClock;
use crate::decode::{Decoder, Lookups, Want};
use crate::filters::{self, NetnsFilter};
use crate::lookups::Symbols;
use crate::progress::Progress;
use crate::sink::{self, Sink};
use anyhow::{Context, Result, bail};
use std::io::IsTerminal;
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::signal::unix::{SignalKind, signal};

/// Everything the arguments say, checked before any BPF work.
struct Plan {
    backend: probes::Backend,
    kprobes: Vec<probes::Target>,
    tracepoints: Vec<probes::TracepointTarget>,
    tracepoint_names: Vec<String>,
    netns: Option<NetnsFilter>,
    mark: Option<filters::MarkFilter>,
    ifindex: Option<u32>,
    filter: Option<probes::FilterCode>,
    reasons: symbols::DropReasons,
    need_kallsyms: bool,
    /// Loaded during discovery (kprobe backends), reused for symbolising.
    kallsyms: Option<symbols::Kallsyms>,
    notice: Option<String>,
}

fn probes_backend(b: cli::Backend) -> Option<probes::Backend> {
    match b {
        cli::Backend::Auto => None,
        cli::Backend::Kprobe => Some(probes::Backend::Kprobe),
        cli::Backend::KprobeMulti => Some(probes::Backend::KprobeMulti),
        cli::Backend::Tracepoint => Some(probes::Backend::Tracepoint),
    }
}

fn plan(args: &TraceArgs) -> Result<Plan> {
    // Cheap argument checks first, so a typo never waits for BTF parsing.
    let func_re = args
        .filter_func
        .as_deref()
        .map(filters::parse_func_regex)
        .transpose()?;
    let mark = args
        .filter_mark
        .as_deref()
        .map(filters::parse_mark)
        .transpose()?;
    let netns = args
        .filter_netns
        .as_deref()
        .map(filters::parse_netns)
        .transpose()?;
    let ifindex = match &args.filter_ifname {
        None => None,
        Some(name) => {
            let path = netns.as_ref().and_then(|n| n.path.clone());
            if netns.is_some() && path.is_none() {
                bail!(
                    "--filter-ifname {name}: cannot enter netns {} to resolve it",
                    args.filter_netns.as_deref().unwrap_or("")
                );
            }
            let where_ = args.filter_netns.as_deref().unwrap_or("the current netns");
            let idx = crate::ifnames::ifindex_of(name, path.as_deref()).with_context(|| {
                format!("--filter-ifname {name}: cannot list interfaces in {where_}")
            })?;
            Some(
                idx.with_context(|| format!("--filter-ifname: no interface {name:?} in {where_}"))?,
            )
        }
    };
    let filter = match args.filter_expr() {
        None => None,
        Some(expr) => {
            let prog = pcap_filter::compile(&expr)
                .map_err(|e| crate::filter_cmd::BadFilter::new(&expr, e))?;
            Some(probes::FilterCode {
                insns: prog.to_bytes(),
                snaplen: prog.snaplen,
            })
        }
    };

    let kmods = if args.all_kmods {
        symbols::ModuleSel::All
    } else if args.kmods.is_empty() {
        symbols::ModuleSel::None
    } else {
        symbols::ModuleSel::Some(args.kmods.clone())
    };
    let btf = symbols::Btf::load_with(&symbols::BtfOptions {
        kernel_btf: args.kernel_btf.clone(),
        kmods,
        ..Default::default()
    })?;

    let support = probes::support();
    let mut notice = None;
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

    let mut kallsyms = None;
    let mut kprobes = Vec::new();
    let mut tracepoints = Vec::new();
    let mut tracepoint_names = Vec::new();
    if backend == probes::Backend::Tracepoint {
        for tp in symbols::skb_tracepoints(&btf) {
            if func_re.as_ref().is_some_and(|re| !re.is_match(&tp.name)) || tp.skb_arg > 4 {
                continue;
            }
            // The programs read a drop reason only where skb:kfree_skb has it (skb 0, reason 2).
            let reason_arg = (tp.skb_arg == 0 && tp.reason_arg == Some(2)).then_some(2);
            tracepoint_names.push(tp.name.clone());
            tracepoints.push(probes::TracepointTarget {
                name: tp.name,
                skb_arg: tp.skb_arg,
                reason_arg,
                nargs: tp.nargs,
            });
        }
        if tracepoints.is_empty() {
            bail!(
                "no skb tracepoint matches --filter-func {}",
                args.filter_func.as_deref().unwrap_or("")
            );
        }
    } else {
        let ff = args
            .filter_func
            .as_deref()
            .map(symbols::FuncFilter::new)
            .transpose()?;
        // One read of /proc/kallsyms serves both the probe-able check and, later, the function names.
        let k = symbols::Kallsyms::load()?;
        let found = symbols::skb_functions_kallsyms(&btf, ff.as_ref(), &k)?;
        kallsyms = Some(k);
        for w in &found.warnings {
            eprintln!("pwru: {w}");
        }
        for f in found.funcs {
            let reason_arg = match (f.skb_arg, f.reason_arg) {
                (1, Some(2)) | (2, Some(3)) => f.reason_arg,
                _ => None,
            };
            kprobes.push(probes::Target {
                name: f.name,
                module: f.module,
                skb_arg: f.skb_arg,
                reason_arg,
            });
        }
        if kprobes.is_empty() {
            bail!(
                "no probe-able skb function matches --filter-func {}",
                args.filter_func.as_deref().unwrap_or("")
            );
        }
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
        notice = Some(match backend {
            probes::Backend::Tracepoint => {
                format!("{why}: using {} tracepoints", tracepoints.len())
            }
            _ => format!("{why}: using kprobes on {} functions", kprobes.len()),
        });
    }

    Ok(Plan {
        backend,
        kprobes,
        tracepoints,
        tracepoint_names,
        netns,
        mark,
        ifindex,
        filter,
        reasons: symbols::DropReasons::from_btf(&btf),
        kallsyms,
        need_kallsyms: backend != probes::Backend::Tracepoint
            || args.output_caller
            || args.output_stack,
        notice,
    })
}

/// Why the event loop ended.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    Signal,
    Limit,
}

pub fn trace(args: TraceArgs) -> Result<i32> {
    if args.tui {
        // Before any BPF work: without a terminal there is nothing to show.
        ::tui::check_terminal()?;
    }
    crate::privileges::check()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Signals are caught from here on: a Ctrl-C during attach ends the run cleanly right after it.
    let _enter = rt.enter();
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;

    let plan = plan(&args)?;
    if let Some(n) = &plan.notice {
        eprintln!("pwru: {n}");
    }
    let mut enrich = match &args.cilium {
        None => None,
        Some(dir) => Some(
            cilium::Enricher::open((!dir.is_empty()).then(|| std::path::Path::new(dir.as_str())))
                .map_err(cilium_error)?,
        ),
    };
    let out = sink::open_writer(args.output_file.as_deref())?;
    let kallsyms = match plan.kallsyms {
        Some(k) => Some(k),
        None if plan.need_kallsyms => Some(symbols::Kallsyms::load()?),
        None => None,
    };

    // Tracepoints have no return address: --output-caller takes the firing function from the stack.
    let tp_caller = args.output_caller && plan.backend == probes::Backend::Tracepoint;
    let cfg = probes::Config {
        backend: plan.backend,
        kprobes: plan.kprobes,
        tracepoints: plan.tracepoints,
        filter: plan.filter,
        netns: plan.netns.as_ref().map(|n| n.inode),
        mark: plan.mark.map(|m| (m.mark, m.mask)),
        ifindex: plan.ifindex,
        track_skb: args.filter_track_skb,
        caller: args.output_caller,
        stack: args.output_stack || tp_caller,
        ringbuf_bytes: args.ringbuf_size,
    };
    let total = cfg.kprobes.len() + cfg.tracepoints.len();
    let what = if plan.backend == probes::Backend::Tracepoint {
        "tracepoints"
    } else {
        "functions"
    };
    let mut tracer = probes::Tracer::load(cfg)?;
    let progress = Progress::new(total as u64, plan.backend.name(), what);
    let stats =
        tracer.attach(|done, _total, ignored| progress.update(done as u64, ignored as u64))?;
    progress.finish(
        stats.attached as u64,
        stats.ignored.len() as u64,
        stats.elapsed,
    );
    for ig in stats.ignored.iter().take(5) {
        eprintln!("pwru: ignored {}: {}", ig.name, ig.reason);
    }
    if stats.ignored.len() > 5 {
        eprintln!("pwru: … and {} more ignored", stats.ignored.len() - 5);
    }
    if stats.attached == 0 {
        bail!("no probe could be attached");
    }
    if let Some(p) = &args.ready_file {
        std::fs::write(p, b"")
            .with_context(|| format!("cannot write --ready-file {}", p.display()))?;
    }

    let ring = tracer.take_ring().context("the tracer has no event ring")?;
    let mut tui_ui = None;
    let mut sink = if args.tui {
        let (s, h) = sink::tui::start(tui_config(&args, plan.backend, stats.attached))?;
        tui_ui = Some(h);
        Box::new(s) as Box<dyn Sink + Send>
    } else {
        sink::new_sink(args.output_json, args.text_options(), out)?
    };
    let mut tui_done = tui_ui.as_mut().and_then(|h| h.done.take());
    let syms = Symbols {
        kallsyms,
        reasons: plan.reasons,
        tracepoints: plan.tracepoint_names,
        stacks: None,
    };
    let want = Want {
        ifnames: args.output_meta,
        caller: args.output_caller,
        stack: args.output_stack || tp_caller,
    };
    let limit = (args.output_limit_lines > 0).then_some(args.output_limit_lines);

    let mut printed = 0u64;
    // SAFETY: the AsyncFd owns the ring, so its fd stays open for as long as it is registered.
    let mut afd = unsafe { AsyncFd::register(ring) }
        .map_err(|e| anyhow::anyhow!("cannot watch the event ring: {e}"))?;
    let stop = {
        let lookups = WithStacks {
            syms: &syms,
            tracer: &tracer,
        };
        let mut dec = Decoder::new(lookups, WallClock::measure(), want);
        let live_lost = std::io::stderr().is_terminal() && tui_ui.is_none();
        let mut reported_lost = 0;
        rt.block_on(async {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    biased;
                    _ = sigint.recv() => return Ok::<_, anyhow::Error>(Stop::Signal),
                    _ = sigterm.recv() => return Ok(Stop::Signal),
                    _ = sink::tui::quit(&mut tui_done) => return Ok(Stop::Signal),
                    g = afd.readable_mut() => {
                        let mut g = g?;
                        if drain(g.get_inner_mut(), &mut dec, &mut enrich, sink.as_mut(), &mut printed, limit)? {
                            return Ok(Stop::Limit);
                        }
                        g.clear_ready();
                    }
                    _ = tick.tick() => {
                        let lost = tracer.lost();
                        if let Some(h) = &tui_ui {
                            h.counters.lost.store(lost, std::sync::atomic::Ordering::Relaxed);
                        }
                        if live_lost && lost > reported_lost {
                            eprintln!("pwru: {lost} events lost so far (ring buffer full: try --ringbuf-size or a narrower filter)");
                            reported_lost = lost;
                        }
                    }
                }
            }
        })?
    };

    // The UI leaves the screen before anything else is printed.
    if let Some(h) = tui_ui.take()
        && let Err(e) = h.finish()
    {
        eprintln!("pwru: --tui: {e:#}");
    }
    // Links first: after this no new event is produced, and the kernel's counters are final.
    let det = tracer.detach();
    if stop == Stop::Signal {
        // What the kernel wrote before the links closed is still in the ring: print it too.
        let lookups = WithStacks {
            syms: &syms,
            tracer: &tracer,
        };
        let mut dec = Decoder::new(lookups, WallClock::measure(), want);
        drain(
            afd.get_mut(),
            &mut dec,
            &mut enrich,
            sink.as_mut(),
            &mut printed,
            limit,
        )?;
    }
    sink.flush()?;
    let unread = det
        .produced
        .saturating_sub(det.lost)
        .saturating_sub(printed);
    let unread = if unread > 0 {
        format!(", {unread} not read")
    } else {
        String::new()
    };
    eprintln!(
        "pwru: {} events produced, {} lost, {printed} printed{unread} (detached in {} ms)",
        det.produced,
        det.lost,
        det.elapsed.as_millis()
    );
    Ok(0)
}

/// What the `--tui` status line says about the tracer.
fn tui_config(args: &TraceArgs, backend: probes::Backend, attached: usize) -> ::tui::TuiConfig {
    let mut filter: Vec<String> = args.filter_expr().into_iter().collect();
    if let Some(n) = &args.filter_netns {
        filter.push(format!("netns {n}"));
    }
    if let Some(m) = &args.filter_mark {
        filter.push(format!("mark {m}"));
    }
    if let Some(i) = &args.filter_ifname {
        filter.push(format!("iface {i}"));
    }
    if let Some(f) = &args.filter_func {
        filter.push(format!("func {f}"));
    }
    ::tui::TuiConfig {
        max_packets: args.tui_max_packets as usize,
        track_skb: args.filter_track_skb,
        // `w` writes what the text output would print with the same flags (stacks whenever events carry them).
        text_options: event::TextOptions {
            stack: true,
            ..args.text_options()
        },
        status: ::tui::StatusInfo {
            backend: backend.name().to_string(),
            attached,
            filter: filter.join(" · "),
        },
        ..Default::default()
    }
}

/// Decodes and writes every ready record; true when the line limit was reached.
fn drain<L: Lookups>(
    ring: &mut probes::RingReader,
    dec: &mut Decoder<L>,
    enrich: &mut Option<cilium::Enricher>,
    sink: &mut dyn Sink,
    printed: &mut u64,
    limit: Option<u64>,
) -> Result<bool> {
    let mut hit = false;
    while limit.is_none_or(|l| *printed < l) {
        let Some(raw) = ring.next_event() else { break };
        let mut ev = dec.decode(&raw);
        if let Some(e) = enrich {
            e.enrich(&mut ev);
        }
        sink.event(&ev)?;
        *printed += 1;
        if limit.is_some_and(|l| *printed >= l) {
            hit = true;
        }
    }
    sink.flush()?;
    Ok(hit)
}

struct WithStacks<'a> {
    syms: &'a Symbols,
    tracer: &'a probes::Tracer,
}

impl Lookups for WithStacks<'_> {
    fn func_name(&self, ip: u64) -> Option<String> {
        self.syms.func_name(ip)
    }
    fn sym_offset(&self, ip: u64) -> Option<String> {
        self.syms.sym_offset(ip)
    }
    fn tracepoint_name(&self, id: u32) -> Option<String> {
        self.syms.tracepoint_name(id)
    }
    fn drop_reason_name(&self, code: u32) -> Option<String> {
        self.syms.drop_reason_name(code)
    }
    fn stack(&self, id: i32) -> Vec<u64> {
        self.tracer.stack(id)
    }
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
