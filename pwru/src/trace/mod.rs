//! The trace run: plan ([`crate::plan`]), load, attach, stream events into the sinks ([`crate::sink`]) until a
//! signal, a sink's stop, `--output-limit-lines` or an error, then detach and report. Parts: [`startup`] (signals,
//! interruptible start-up), `session` (streaming and the end of the run) and [`pump`] (ring → decoder → sinks).
//!
//! Every way out after the probes are attached prints the summary line
//! (`N events produced, M lost, P printed`), errors included.

pub mod pump;
mod session;
pub mod startup;

use crate::cli::TraceArgs;
use crate::plan::Plan;
use crate::progress::Progress;
use crate::say;
use crate::sink::{self, Sinks, StopHandle};
use anyhow::Result;
use pump::Pump;
use session::Session;
use startup::{Interrupted, Startup};

/// `pwru [flags] [PCAP-FILTER]`: returns the exit code.
pub fn trace(args: TraceArgs) -> Result<i32> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let _enter = rt.enter();
    let mut start = Startup::new(&rt)?;
    match start_and_run(&rt, &mut start, args).map_err(|e| e.downcast::<Interrupted>()) {
        Ok(code) => Ok(code),
        Err(Ok(i)) => {
            say!("{i}");
            Ok(128 + i.signal.number)
        }
        Err(Err(e)) => Err(e),
    }
}

fn start_and_run(
    rt: &tokio::runtime::Runtime,
    start: &mut Startup,
    args: TraceArgs,
) -> Result<i32> {
    // The loader's kernel BTF is parsed while the plan runs, and where the programs do not depend on the targets
    // they are loaded while it searches for them too: each takes as long as the search on a slow machine.
    let (plan, loading) = start.run("checking the arguments", move |phase| {
        let mut loading = probes::Loading::new();
        let plan = Plan::new(&args, phase, Some(&mut loading));
        (plan, loading)
    })?;
    let plan = plan?;
    for n in &plan.notes {
        say!("{n}");
    }
    let Plan {
        tracer: cfg,
        names,
        want,
        mut output,
        destinations,
        cilium,
        metrics,
        ready_file,
        expedite_detach,
        ..
    } = plan;
    let backend = cfg.backend;
    let track_skb = cfg.track_skb;
    let prog_flag = match (cfg.progs.tc, cfg.progs.xdp) {
        (true, true) => "--filter-trace-tc/--filter-trace-xdp",
        (false, true) => "--filter-trace-xdp",
        _ => "--filter-trace-tc",
    };
    let helpers = cfg.progs.helpers;
    let total = cfg.kprobes.len() + cfg.tracepoints.len();
    let what = if backend == probes::Backend::Tracepoint {
        "tracepoints"
    } else {
        "functions"
    };

    let ahead = loading.started();
    let waited = std::time::Instant::now();
    let tracer = start.run("loading the BPF programs", move |_| loading.finish(cfg))??;
    startup::timing(format_args!(
        "loaded in {:.3} s{} ({})",
        tracer.load_time().as_secs_f64(),
        match ahead {
            true => format!(
                " during the search, waited {:.3} s",
                waited.elapsed().as_secs_f64()
            ),
            false => String::new(),
        },
        tracer
            .load_phases()
            .iter()
            .map(|(p, d)| format!("{p} {:.3}", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let progress = Progress::new(total as u64, backend.name(), what);
    let phase = "attaching the probes";
    let ((tracer, stats, progress), caught) = start.run_cancellable(phase, move |cancel| {
        let mut tracer = tracer;
        let stats = tracer.attach_until(
            |done, _total, ignored| progress.update(done as u64, ignored as u64),
            cancel,
        );
        (tracer, stats, progress)
    })?;
    let stats = stats?;
    progress.finish(
        stats.attached as u64,
        stats.ignored.len() as u64,
        stats.elapsed,
    );
    for ig in stats.ignored.iter().take(5) {
        say!("ignored {}: {}", ig.name, ig.reason);
    }
    if stats.ignored.len() > 5 {
        say!("… and {} more ignored", stats.ignored.len() - 5);
    }
    if let Some(r) = &stats.progs {
        for l in crate::progs_report::startup(r, prog_flag, helpers) {
            say!("{l}");
        }
        // No tc program is traced: a column of their cb words would show only what kernel functions left there.
        if r.refused.is_some() && output.skb_cb_with_tc {
            output.options.skb_cb = false;
        }
    }

    // From here on, every way out prints the summary line.
    let kernel_summary = tracer.summarizing();
    let session = Session {
        tracer,
        source: sink::Source {
            name: backend.name().to_string(),
            attached: stats.attached,
            track_skb,
            kernel_summary,
            replay: None,
        },
        names,
        want,
        pump: Pump {
            enrich: cilium,
            // --drops-only counts the events it prints itself.
            limit: output.limit.filter(|_| output.drops_only.is_none()),
            delivered: 0,
        },
        output,
        metrics,
        ready_file,
        expedite_detach,
        sinks: Sinks::default(),
        stop: StopHandle::default(),
    };
    if let Some(signal) = caught {
        say!("{}", Interrupted { signal, phase });
        session.interrupted(rt, &mut start.signals);
        return Ok(128 + signal.number);
    }
    Ok(session.run(rt, &mut start.signals, destinations))
}
