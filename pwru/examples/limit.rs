//! The benchmarks' limit program: takes pwru's command line, finds the same functions as pwru would (the same
//! plan), attaches a program that only counts (`probes::limit`) through the same backend code, prints the same
//! "attaching"/"attached" lines, creates `--ready-file`, and on SIGINT or SIGTERM detaches and exits. bench/
//! runs it beside pwru in the same VM boot: what pwru takes beyond it is pwru's own cost.
//!
//!     cargo build --release -p pwru --example limit
//!     sudo target/release/examples/limit --backend kprobe --ready-file /tmp/r icmp
use anyhow::{Context, Result};
use clap::Parser;
use pwru::cli::Cli;
use pwru::plan::Plan;
use std::time::Instant;

fn main() -> Result<()> {
    // Blocked before any thread starts, so every thread inherits the mask and sigwait() takes the signal.
    // SAFETY: plain signal-mask calls on a zeroed sigset.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    let cli = Cli::parse();
    let plan = Plan::new(&cli.trace, &|_| {})?;
    let cfg = plan.tracer;
    let t0 = Instant::now();
    let mut limit = probes::limit::Limit::load(cfg.backend, cfg.kprobe_batch)?;
    eprintln!(
        "limit: attaching {} functions ({}), program loaded in {} ms",
        cfg.kprobes.len(),
        cfg.backend.name(),
        t0.elapsed().as_millis()
    );
    let stats = limit.attach(&cfg.kprobes, cfg.kprobe_placement, &|_, _, _| {})?;
    eprintln!(
        "limit: {}/{} attached, {} ignored ({} ms)",
        stats.attached,
        cfg.kprobes.len(),
        stats.ignored.len(),
        stats.elapsed.as_millis()
    );
    if let Some(p) = &plan.ready_file {
        std::fs::write(p, b"").with_context(|| format!("cannot write {}", p.display()))?;
    }
    let mut sig = 0;
    // SAFETY: `set` is a valid, initialised signal set.
    unsafe { libc::sigwait(&set, &mut sig) };
    let det = limit.detach(&|_, _| {});
    eprintln!(
        "limit: {} runs counted, {} links closed (detached in {} ms)",
        det.produced,
        det.closed,
        det.elapsed.as_millis()
    );
    Ok(())
}
