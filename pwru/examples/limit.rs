//! The benchmarks' limit program: takes pwru's command line, finds the same functions as pwru would (the same
//! plan), attaches a program that only counts (`probes::limit`) through the same backend code, prints the same
//! "attaching"/"attached" lines, creates `--ready-file`, and on SIGINT or SIGTERM detaches and exits. bench/
//! runs it beside pwru in the same VM boot: what pwru takes beyond it is pwru's own cost.
//!
//! `--mechanism NAME[,NAME...]` (first argument, benchmark experiments only) changes how the kernel is asked, to see
//! whether a mechanism moves the limit, and restores what it changed after detaching:
//! - `rcu-expedited` sets `/sys/kernel/rcu_expedited` while detaching, so the grace periods each plain kprobe
//!   removal waits for are expedited ones;
//! - `ftrace-off` sets `kernel.ftrace_enabled` to 0 while detaching: the kernel unpatches every ftrace call site
//!   once, and removing a kprobe then changes ftrace's filter without rescanning and patching the call sites (it
//!   also stops every other ftrace user for that time; on 6.12 it left ftrace dead for the rest of the boot:
//!   throwaway VMs only).
//! - `cookie-links` attaches plain kprobes through BPF perf links with a cookie each, as pwru's cookie program is
//!   attached, instead of `PERF_EVENT_IOC_SET_BPF`.
//!
//! ```text
//! cargo build --release -p pwru --example limit
//! sudo target/release/examples/limit --backend kprobe --ready-file /tmp/r icmp
//! sudo target/release/examples/limit --mechanism rcu-expedited --backend kprobe --ready-file /tmp/r icmp
//! ```
use anyhow::{Context, Result, bail};
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
    let mut args: Vec<String> = std::env::args().collect();
    let mechanism = match args.get(1).map(String::as_str) {
        Some("--mechanism") => {
            let m = args.get(2).cloned().unwrap_or_default();
            args.drain(1..3.min(args.len()));
            m
        }
        _ => "default".to_string(),
    };
    let mut settings = Vec::new();
    for m in mechanism.split(',') {
        settings.extend(match m {
            "default" | "cookie-links" => None,
            "rcu-expedited" => Some(("/sys/kernel/rcu_expedited", "1")),
            "ftrace-off" => Some(("/proc/sys/kernel/ftrace_enabled", "0")),
            m => bail!(
                "--mechanism {m:?}: one of default, rcu-expedited, ftrace-off, cookie-links (or several, joined by commas)"
            ),
        });
    }
    let cli = Cli::parse_from(args);
    let plan = Plan::new(&cli.trace, &|_| {}, None)?;
    let cfg = plan.tracer;
    let t0 = Instant::now();
    let mut limit = probes::limit::Limit::load(cfg.backend, cfg.kprobe_batch)?;
    if mechanism.split(',').any(|m| m == "cookie-links") {
        limit.use_cookie_links();
    }
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
    let changed = settings
        .into_iter()
        .map(|(path, value)| Sysctl::set(path, value))
        .collect::<Result<Vec<_>>>()?;
    let det = limit.detach(&|_, _| {});
    drop(changed);
    eprintln!(
        "limit: {} runs counted, {} links closed (mechanism {mechanism}, detached in {} ms)",
        det.produced,
        det.closed,
        det.elapsed.as_millis()
    );
    Ok(())
}

/// A kernel setting changed for a while: the old value is written back on drop.
struct Sysctl {
    path: &'static str,
    old: String,
}

impl Sysctl {
    fn set(path: &'static str, value: &str) -> Result<Sysctl> {
        let old = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
        std::fs::write(path, value).with_context(|| format!("cannot write {path}"))?;
        Ok(Sysctl {
            path,
            old: old.trim().to_string(),
        })
    }
}

impl Drop for Sysctl {
    fn drop(&mut self) {
        if let Err(e) = std::fs::write(self.path, &self.old) {
            eprintln!("limit: cannot restore {} to {}: {e}", self.path, self.old);
        }
    }
}
