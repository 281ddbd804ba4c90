//! Tracepoints that carry an skb, found from their `btf_trace_<name>` typedefs (what `tp_btf` programs attach to).

use std::path::Path;

use crate::btf::{Btf, raw::kind};

/// Where tracefs is mounted (its own mount point, then its old place under debugfs).
pub const TRACEFS_DIRS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// A tracepoint with an skb argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkbTracepoint {
    /// The tracepoint's name (`kfree_skb`).
    pub name: String,
    /// tracefs system (`skb`, `net`, ...) when tracefs is readable.
    pub system: Option<String>,
    /// `None` for vmlinux.
    pub module: Option<String>,
    /// Position of the first `struct sk_buff *` among the tracepoint's own args, counted from 0 as function
    /// parameters and `probes::ArgIndex` count (the leading `void *` context of the `btf_trace_` prototype is not
    /// counted).
    pub skb_arg: u8,
    /// Position of an `enum skb_drop_reason` arg, counted from 0.
    pub reason_arg: Option<u8>,
    /// Number of the tracepoint's own args.
    pub nargs: u8,
}

impl SkbTracepoint {
    /// `system:name` when the system is known, else `name`.
    pub fn display_name(&self) -> String {
        match &self.system {
            Some(s) => format!("{s}:{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Every tracepoint in `btf` with an skb arg, sorted by name; systems from the first readable tracefs.
pub fn skb_tracepoints(btf: &Btf) -> Vec<SkbTracepoint> {
    let dir = TRACEFS_DIRS
        .iter()
        .map(Path::new)
        .find(|d| d.join("events").is_dir());
    skb_tracepoints_with(btf, dir)
}

/// Like [`skb_tracepoints`] with systems read from `tracefs` (a tracefs mount point), or none.
pub fn skb_tracepoints_with(btf: &Btf, tracefs: Option<&Path>) -> Vec<SkbTracepoint> {
    let systems = tracefs
        .map(|d| read_systems(&d.join("events")))
        .unwrap_or_default();
    let mut out: Vec<SkbTracepoint> = Vec::new();
    for view in btf.views() {
        for (_, ty) in view.own_types() {
            if ty.kind() != kind::TYPEDEF {
                continue;
            }
            let Some(name) = view.name(&ty).strip_prefix("btf_trace_") else {
                continue;
            };
            let Some(ptr) = view.ty(ty.rec.size_type) else {
                continue;
            };
            if ptr.kind() != kind::PTR {
                continue;
            }
            let Some(proto) = view.resolve(ptr.rec.size_type) else {
                continue;
            };
            let Some(params) = view.params(&proto) else {
                continue;
            };
            let args: Vec<u32> = params.skip(1).collect();
            let Some(skb_arg) = args
                .iter()
                .position(|&id| view.is_struct_ptr(id, "sk_buff"))
            else {
                continue;
            };
            let reason_arg = args
                .iter()
                .position(|&id| view.is_enum(id, "skb_drop_reason"));
            if out.iter().any(|t| t.name == name) {
                continue;
            }
            out.push(SkbTracepoint {
                name: name.to_string(),
                system: systems
                    .iter()
                    .find(|(_, ev)| ev == name)
                    .map(|(s, _)| s.clone()),
                module: view.module().map(str::to_string),
                skb_arg: skb_arg as u8,
                reason_arg: reason_arg.map(|r| r as u8),
                nargs: args.len().min(u8::MAX as usize) as u8,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// (system, event) pairs under tracefs `events/`.
fn read_systems(events: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(systems) = std::fs::read_dir(events) else {
        return out;
    };
    for sys in systems.flatten() {
        let Ok(evs) = std::fs::read_dir(sys.path()) else {
            continue;
        };
        let sys_name = sys.file_name().to_string_lossy().into_owned();
        for ev in evs.flatten() {
            if ev.path().is_dir() {
                out.push((
                    sys_name.clone(),
                    ev.file_name().to_string_lossy().into_owned(),
                ));
            }
        }
    }
    out
}
