//! Following packets by stack (`--filter-track-skb-by-stackid`) and what reports through it (functions without an
//! skb, `--filter-non-skb-funcs`), and the BPF map operations of traced programs (`--output-bpfmap`), found in BTF
//! and the probe-able list.

use crate::cli::TraceArgs;
use symbols::{Btf, Traceable};

/// Whether the run follows packets by stack: asked for, or needed by the functions that report through it (as in
/// pwru, `--filter-non-skb-funcs` turns it on).
pub fn wanted(args: &TraceArgs) -> bool {
    args.filter_track_skb_by_stackid || !args.filter_non_skb_funcs.is_empty()
}

/// Most "not probe-able" notes printed for `--filter-non-skb-funcs` (the rest are counted).
const MAX_NOTES: usize = 5;

/// The `--filter-non-skb-funcs` functions to probe: each name found probe-able in vmlinux, else in a module; names
/// already probed as skb functions (`skb_funcs`) or as map operations (`map_funcs`) are left to those probes.
/// Names that cannot be probed are skipped with a note (pwru skips them too, so its command lines keep working on
/// kernels that lack a function).
pub fn non_skb_funcs(
    names: &[String],
    traceable: &Traceable,
    skb_funcs: &[probes::Target],
    map_funcs: &[probes::MapFuncTarget],
    notes: &mut Vec<String>,
) -> Vec<probes::StackFunc> {
    let mut out: Vec<probes::StackFunc> = Vec::new();
    let mut missing = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        if skb_funcs.iter().any(|t| t.name == name)
            || map_funcs.iter().any(|m| m.name == name)
            || out.iter().any(|f| f.name == name)
        {
            continue;
        }
        let module = if traceable.contains(name, None) {
            None
        } else {
            let mut mods: Vec<&str> = traceable
                .modules()
                .filter(|m| traceable.contains(name, Some(m)))
                .collect();
            mods.sort_unstable();
            match mods.first() {
                Some(m) => Some(m.to_string()),
                None => {
                    missing.push(name.to_string());
                    continue;
                }
            }
        };
        out.push(probes::StackFunc {
            name: name.to_string(),
            module,
        });
    }
    for m in missing.iter().take(MAX_NOTES) {
        notes.push(format!(
            "--filter-non-skb-funcs: {m} is not a probe-able function of this kernel ({}): skipped",
            traceable.source
        ));
    }
    if missing.len() > MAX_NOTES {
        notes.push(format!(
            "--filter-non-skb-funcs: … and {} more skipped",
            missing.len() - MAX_NOTES
        ));
    }
    out
}

/// `--output-bpfmap`: the map operation functions (those the traced programs call get probes), and where the hash
/// element's value starts.
pub fn map_funcs(btf: &Btf, traceable: &Traceable) -> (Vec<probes::MapFuncTarget>, Option<u32>) {
    let funcs = symbols::map_functions(btf, Some(traceable))
        .into_iter()
        .map(|f| probes::MapFuncTarget {
            name: f.name,
            op: match f.op {
                symbols::MapOp::Lookup => probes::MapOpKind::Lookup,
                symbols::MapOp::Update => probes::MapOpKind::Update,
                symbols::MapOp::Delete => probes::MapOpKind::Delete,
            },
            returns_elem: f.returns_elem,
        })
        .collect();
    (funcs, symbols::htab_elem_key_offset(btf))
}

/// The tracepoint backend's refusal of `--filter-non-skb-funcs`: a function is probed with a kprobe, and the run
/// would otherwise trace something else than what was asked.
pub fn tracepoint_check(args: &TraceArgs) -> anyhow::Result<()> {
    if args.filter_non_skb_funcs.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "--filter-non-skb-funcs needs kprobes: the tracepoint backend cannot probe functions (this kernel has no kprobes, or --backend tracepoint was given)"
    )
}

/// What the tracepoint backend cannot do of these flags, one line each.
pub fn tracepoint_notes(args: &TraceArgs) -> Vec<String> {
    let mut notes = Vec::new();
    if args.output_bpfmap {
        notes.push(
            "--output-bpfmap: map operations are kernel functions, which need kprobes: the tracepoint backend shows none"
                .to_string(),
        );
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn traceable() -> Traceable {
        Traceable::from_available_filter_functions(
            "xfrm_state_lookup\nxfrm_state_look_at\nhtab_map_lookup_elem\nvxlan_xmit [vxlan]\nip_rcv\n",
            Path::new("/t/available_filter_functions"),
        )
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn non_skb_names_resolve_to_vmlinux_or_a_module() {
        let skb = vec![probes::Target {
            name: "ip_rcv".into(),
            module: None,
            skb_arg: probes::ArgIndex(0),
            reason_arg: None,
            address: None,
        }];
        let maps = vec![probes::MapFuncTarget {
            name: "htab_map_lookup_elem".into(),
            op: probes::MapOpKind::Lookup,
            returns_elem: false,
        }];
        let mut notes = Vec::new();
        let got = non_skb_funcs(
            &names(&[
                "xfrm_state_lookup",
                " vxlan_xmit",
                "ip_rcv",
                "htab_map_lookup_elem",
                "xfrm_state_lookup",
                "no_such_fn",
                "",
            ]),
            &traceable(),
            &skb,
            &maps,
            &mut notes,
        );
        assert_eq!(
            got,
            vec![
                probes::StackFunc {
                    name: "xfrm_state_lookup".into(),
                    module: None
                },
                probes::StackFunc {
                    name: "vxlan_xmit".into(),
                    module: Some("vxlan".into())
                },
            ]
        );
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].starts_with("--filter-non-skb-funcs: no_such_fn is not a probe-able function")
                && notes[0].contains("/t/available_filter_functions"),
            "{notes:?}"
        );
    }

    fn trace_args(args: &[&str]) -> TraceArgs {
        use clap::Parser;
        crate::cli::Cli::try_parse_from(std::iter::once("pwru").chain(args.iter().copied()))
            .unwrap()
            .trace
    }

    #[test]
    fn non_skb_funcs_turn_stack_tracking_on_and_need_kprobes() {
        let none = trace_args(&[]);
        assert!(!wanted(&none) && tracepoint_check(&none).is_ok());
        let by_stack = trace_args(&["--filter-track-skb-by-stackid"]);
        assert!(wanted(&by_stack) && tracepoint_check(&by_stack).is_ok());
        let non_skb = trace_args(&["--filter-non-skb-funcs", "fib_table_lookup,br_fdb_find_rcu"]);
        assert!(wanted(&non_skb));
        let err = tracepoint_check(&non_skb).unwrap_err().to_string();
        assert!(
            err.starts_with("--filter-non-skb-funcs needs kprobes") && !err.contains('\n'),
            "{err}"
        );
    }

    #[test]
    fn many_missing_names_are_counted() {
        let mut notes = Vec::new();
        let many: Vec<String> = (0..9).map(|i| format!("nope{i}")).collect();
        let got = non_skb_funcs(&many, &traceable(), &[], &[], &mut notes);
        assert!(got.is_empty());
        assert_eq!(notes.len(), MAX_NOTES + 1);
        assert_eq!(
            notes[MAX_NOTES],
            "--filter-non-skb-funcs: … and 4 more skipped"
        );
    }
}
