//! The decoder's symbol lookups, backed by the `symbols` crate (kallsyms, drop reasons) and the probes' maps.

use crate::decode::Lookups;
use symbols::{DropReasons, Kallsyms};

pub struct Symbols {
    pub kallsyms: Option<Kallsyms>,
    pub reasons: DropReasons,
    /// probe_id → tracepoint name (without its `net:` system prefix, as pwru prints function names).
    pub tracepoints: Vec<String>,
    /// Stack ids are resolved through the tracer's STACKS map.
    pub stacks: Option<Box<dyn Fn(i32) -> Vec<u64>>>,
}

impl Lookups for Symbols {
    fn func_name(&self, ip: u64) -> Option<String> {
        // On IBT kernels bpf_get_func_ip points a few bytes into the function: the nearest symbol is right.
        self.kallsyms
            .as_ref()?
            .resolve(ip)
            .map(|s| s.name.to_string())
    }

    fn sym_offset(&self, ip: u64) -> Option<String> {
        self.kallsyms.as_ref()?.resolve(ip).map(|s| s.to_string())
    }

    fn tracepoint_name(&self, probe_id: u32) -> Option<String> {
        self.tracepoints.get(probe_id as usize).cloned()
    }

    fn drop_reason_name(&self, code: u32) -> Option<String> {
        self.reasons.name(code).map(str::to_string).or_else(|| {
            // A subsystem's reason (SUBSYS:0x3) or the bare number: describe() knows which.
            let d = self.reasons.describe(code);
            (d != code.to_string()).then_some(d)
        })
    }

    fn stack(&self, id: i32) -> Vec<u64> {
        self.stacks.as_ref().map(|f| f(id)).unwrap_or_default()
    }
}
