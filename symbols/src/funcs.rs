//! Kernel functions that take a `struct sk_buff *`: what pwru attaches kprobes to.

use std::collections::HashSet;

use crate::btf::{Btf, raw::kind};
use crate::error::{Result, SymbolsError};
use crate::traceable::{TraceSource, Traceable};

/// kprobe programs read the first five arguments from registers (PT_REGS_PARM1..5).
pub const MAX_ARG: usize = 5;

/// A function with an skb argument (probe-able when it comes from [`skb_functions`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SkbFunc {
    /// The function's name.
    pub name: String,
    /// `None` for vmlinux.
    pub module: Option<String>,
    /// Position of the first `struct sk_buff *` parameter, counted from 0 (below [`MAX_ARG`]), as tracepoint
    /// arguments and `probes::ArgIndex` count.
    pub skb_arg: u8,
    /// Position of an `enum skb_drop_reason` parameter, counted from 0, when below [`MAX_ARG`].
    pub reason_arg: Option<u8>,
}

impl SkbFunc {
    /// The name as `available_filter_functions` and `/proc/kallsyms` show it: `fn` or `fn [mod]`.
    pub fn display_name(&self) -> String {
        match &self.module {
            Some(m) => format!("{} [{m}]", self.name),
            None => self.name.clone(),
        }
    }
}

/// A `--filter-func` regex, always matched against the whole function name.
#[derive(Clone, Debug)]
pub struct FuncFilter {
    regex: regex::Regex,
    source: String,
}

impl FuncFilter {
    /// An empty expression matches every name (as pwru treats `--filter-func ""`).
    pub fn new(expr: &str) -> Result<FuncFilter> {
        // Checked on its own first so an error points into what the user typed, not our anchors.
        regex::Regex::new(expr).map_err(|e| bad_regex(expr, &e))?;
        let anchored = if expr.is_empty() {
            ".*".to_string()
        } else {
            format!("^(?:{expr})$")
        };
        let regex = regex::Regex::new(&anchored).map_err(|e| bad_regex(expr, &e))?;
        Ok(FuncFilter {
            regex,
            source: expr.to_string(),
        })
    }

    /// Whether the whole of `name` matches the expression.
    pub fn is_match(&self, name: &str) -> bool {
        self.regex.is_match(name)
    }

    /// The expression as the user gave it.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

/// `'ip_(rcv': unclosed group` from the regex crate's multi-line report.
fn bad_regex(expr: &str, e: &regex::Error) -> SymbolsError {
    let text = e.to_string();
    let why = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map(str::to_string)
        .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "));
    SymbolsError::BadFilterRegex(format!("'{expr}': {why}"))
}

/// The outcome of function discovery.
#[derive(Debug)]
pub struct Discovery {
    /// Sorted by (module, name); each (name, module) once.
    pub funcs: Vec<SkbFunc>,
    /// skb functions in BTF that passed the filter, before the probe-ability check.
    pub total_btf: usize,
    /// Of those, how many are not in the probe-able list (inlined, notrace, renamed `.isra`/`.constprop` ...).
    pub not_traceable: usize,
    /// Which list told what can be probed.
    pub source: TraceSource,
    /// What the user should know about that list (one line each).
    pub warnings: Vec<String>,
}

/// Every probe-able function in `btf` with an skb among its first [`MAX_ARG`] parameters, narrowed by `filter`.
pub fn skb_functions(btf: &Btf, filter: Option<&FuncFilter>) -> Result<Discovery> {
    let traceable = Traceable::detect()?;
    Ok(skb_functions_with(btf, filter, &traceable))
}

/// Like [`skb_functions`], reusing a loaded kallsyms table for the fallback instead of reading it again.
pub fn skb_functions_kallsyms(
    btf: &Btf,
    filter: Option<&FuncFilter>,
    kallsyms: &crate::Kallsyms,
) -> Result<Discovery> {
    let traceable = Traceable::detect_with(Some(kallsyms))?;
    Ok(skb_functions_with(btf, filter, &traceable))
}

/// Like [`skb_functions`] with an explicit probe-able list.
pub fn skb_functions_with(
    btf: &Btf,
    filter: Option<&FuncFilter>,
    traceable: &Traceable,
) -> Discovery {
    let candidates = skb_functions_in_btf(btf, filter);
    let total_btf = candidates.len();
    let funcs: Vec<SkbFunc> = candidates
        .into_iter()
        .filter(|f| traceable.contains(&f.name, f.module.as_deref()))
        .collect();
    Discovery {
        not_traceable: total_btf - funcs.len(),
        total_btf,
        funcs,
        source: traceable.source.clone(),
        warnings: traceable.warnings.clone(),
    }
}

/// Every FUNC in `btf` with an skb among its first [`MAX_ARG`] parameters (no probe-ability check), sorted by
/// (module, name).
pub fn skb_functions_in_btf(btf: &Btf, filter: Option<&FuncFilter>) -> Vec<SkbFunc> {
    let mut out = Vec::new();
    let mut seen: HashSet<(Option<&str>, &str)> = HashSet::new();
    for view in btf.views() {
        for (_, ty) in view.own_types() {
            if ty.kind() != kind::FUNC {
                continue;
            }
            let Some(params) = view.params(&ty) else {
                continue;
            };
            let mut skb_arg = None;
            let mut reason_arg = None;
            for (i, id) in params.take(MAX_ARG).enumerate() {
                let pos = i as u8;
                // Only the first skb parameter counts; a second one must not shift anything.
                if skb_arg.is_none() && view.is_struct_ptr(id, "sk_buff") {
                    skb_arg = Some(pos);
                } else if reason_arg.is_none() && view.is_enum(id, "skb_drop_reason") {
                    reason_arg = Some(pos);
                }
            }
            let Some(skb_arg) = skb_arg else { continue };
            // Named only now: most FUNCs have no skb, and the regex is the costliest check.
            let name = view.name(&ty);
            if filter.is_some_and(|f| !f.is_match(name)) {
                continue;
            }
            if !seen.insert((view.module(), name)) {
                continue;
            }
            out.push(SkbFunc {
                name: name.to_string(),
                module: view.module().map(str::to_string),
                skb_arg,
                reason_arg,
            });
        }
    }
    out.sort_by(|a, b| (&a.module, &a.name).cmp(&(&b.module, &b.name)));
    out
}
