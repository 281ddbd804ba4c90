//! [`Tracer::detach`]: closing links, perf events and programs.
use super::{DetachStats, Tracer};
use crate::parallel;
use std::time::Instant;

impl Tracer {
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
}

impl Drop for Tracer {
    fn drop(&mut self) {
        self.detach();
    }
}
