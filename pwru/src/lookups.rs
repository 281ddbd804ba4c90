//! The decoder's symbol lookups, backed by the `symbols` crate (kallsyms, drop reasons); kernel stacks come from
//! the tracer (`trace::pump::WithStacks`).

use crate::decode::Lookups;
use symbols::{DropReasons, Kallsyms};

pub struct Symbols {
    pub kallsyms: Option<Kallsyms>,
    pub reasons: DropReasons,
    /// probe_id → tracepoint name (without its `net:` system prefix, as pwru prints function names).
    pub tracepoints: Vec<String>,
    /// `--output-skb-metadata`: the layout of the values skb events carry.
    pub skb_values: Option<btf_expr::Fetch>,
    /// `--output-xdp-metadata`: the layout of the values the events of traced XDP programs carry.
    pub xdp_values: Option<btf_expr::Fetch>,
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

    fn btf_values(&self, xdp: bool) -> Option<&btf_expr::Fetch> {
        match xdp {
            true => self.xdp_values.as_ref(),
            false => self.skb_values.as_ref(),
        }
    }

    fn drop_reason_name(&self, code: u32) -> Option<String> {
        self.reasons.name(code).map(str::to_string).or_else(|| {
            // A subsystem's reason (SUBSYS:0x3) or the bare number: describe() knows which.
            let d = self.reasons.describe(code);
            (d != code.to_string()).then_some(d)
        })
    }
}
