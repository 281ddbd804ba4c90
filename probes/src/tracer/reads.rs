//! What a loaded tracer reads back from the kernel: counters, stacks, the traced programs, kernel ids.
use super::{KernelIds, Tracer};
use crate::contract::counter;
use crate::progs::{ProgEvent, ProgTable, Watch};
use aya::maps::{PerCpuArray, StackTraceMap};
use std::os::fd::AsFd;

impl Tracer {
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
    /// [`super::DetachStats::recursion_misses`]).
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

    /// Whether the programs count in the kernel and ship only drops ([`crate::Config::summary`], where kprobes have BPF
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
}
