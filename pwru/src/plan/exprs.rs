//! BTF expressions (`--filter-skb-expr`, `--output-skb-metadata`) and struct dumps (`--output-skb`,
//! `--output-skb-shared-info`): the expressions' syntax is checked with the other arguments, then they are compiled
//! on the kernel's BTF (the running kernel's, or `--kernel-btf`) before anything is loaded, so a bad member name is
//! refused at startup with its column.

use crate::cli::TraceArgs;
use crate::filter_cmd::BadFilter;
use anyhow::{Result, bail};

/// At most this many `--output-skb-metadata` expressions (pwru takes 4); their values also have to fit in
/// btf-expr's output area.
pub const MAX_METADATA: usize = 32;

// The probes' values section holds any area btf-expr may fill.
const _: () = assert!(probes::event::BTF_AREA_MAX == btf_expr::MAX_AREA);

/// What the kernel side runs: btf-expr's code, ready to splice.
#[derive(Debug, Default)]
pub struct Compiled {
    /// `--filter-skb-expr`, rooted at `struct sk_buff *skb`.
    pub skb_filter: Option<Vec<u8>>,
    /// `--output-skb-metadata`, rooted at `struct sk_buff *skb`.
    pub skb_fetch: Option<btf_expr::Fetch>,
}

/// `--filter-skb-expr`, or `None` when not given or empty (pwru ignores an empty expression too).
fn skb_filter_expr(args: &TraceArgs) -> Option<&str> {
    args.filter_skb_expr
        .as_deref()
        .filter(|e| !e.trim().is_empty())
}

/// The expressions of a repeatable flag, each value split at its commas as pwru splits them, except that a comma
/// inside a "string" does not split (`skb->dev->name == "a,b"`); empty items are dropped.
pub fn split_list(values: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for v in values {
        let (mut item, mut in_str, mut escaped) = (String::new(), false, false);
        for c in v.chars() {
            match c {
                ',' if !in_str => out.push(std::mem::take(&mut item)),
                _ => {
                    if in_str && !escaped && c == '"' {
                        in_str = false;
                    } else if !in_str && c == '"' {
                        in_str = true;
                    }
                    escaped = in_str && !escaped && c == '\\';
                    item.push(c);
                }
            }
        }
        out.push(item);
    }
    out.retain(|e| !e.trim().is_empty());
    out
}

/// `e` in `expr`, which was given as `what`: one line with the column, and a caret under it on a terminal.
fn refused(what: &str, expr: &str, e: &btf_expr::ExprError) -> anyhow::Error {
    let err = pcap_filter::FilterError::new(e.kind.to_string(), e.column);
    BadFilter::of(what, expr, err).into()
}

/// Refuses what is wrong without BTF: an expression that does not parse, too many of them, a dump buffer larger
/// than the probes hold (the plan checks `--set-percpu-buf` against the kernel's limit first).
pub fn check(args: &TraceArgs) -> Result<()> {
    if let Some(expr) = skb_filter_expr(args) {
        btf_expr::check_syntax(expr).map_err(|e| refused("--filter-skb-expr", expr, &e))?;
    }
    let meta = split_list(&args.output_skb_metadata);
    if meta.len() > MAX_METADATA {
        bail!(
            "--output-skb-metadata: {} expressions, at most {MAX_METADATA} are taken",
            meta.len()
        );
    }
    for expr in &meta {
        btf_expr::check_syntax(expr)
            .map_err(|e| refused(&format!("--output-skb-metadata {expr}"), expr, &e))?;
    }
    let max = probes::event::DUMP_BUF_MAX;
    if (args.output_skb || args.output_skb_shared_info) && args.set_percpu_buf > max {
        bail!(
            "--set-percpu-buf {}: the struct dumps of --output-skb and --output-skb-shared-info take at most {max} bytes each",
            args.set_percpu_buf
        );
    }
    Ok(())
}

/// The structs to print, once the kernel is known to print them: a kernel without `bpf_snprintf_btf` is refused,
/// naming the flag.
pub fn dumps(args: &TraceArgs) -> Result<probes::Dumps> {
    let d = probes::Dumps {
        skb: args.output_skb,
        shared_info: args.output_skb_shared_info,
    };
    if d.any()
        && let Err(why) = probes::snprintf_btf()
    {
        let flag = if d.skb {
            "--output-skb"
        } else {
            "--output-skb-shared-info"
        };
        bail!("{flag} cannot work here: {why}, which prints kernel structs");
    }
    Ok(d)
}

/// Compiles the expressions on `btf`.
pub fn compile(args: &TraceArgs, btf: &symbols::Btf) -> Result<Compiled> {
    let mut out = Compiled::default();
    let filter = skb_filter_expr(args);
    let meta = split_list(&args.output_skb_metadata);
    if filter.is_none() && meta.is_empty() {
        return Ok(out);
    }
    let skb = btf_expr::Compiler::new(btf, "skb", "sk_buff").map_err(|e| {
        let flag = if filter.is_some() {
            "--filter-skb-expr"
        } else {
            "--output-skb-metadata"
        };
        anyhow::anyhow!("{flag}: {e}")
    })?;
    if let Some(expr) = filter {
        let f = skb
            .filter(expr)
            .map_err(|e| refused("--filter-skb-expr", expr, &e))?;
        out.skb_filter = Some(f.to_bytes());
    }
    if !meta.is_empty() {
        let f = skb.fetch(&meta).map_err(|e| {
            let what = format!("--output-skb-metadata {}", e.expr);
            refused(&what, &e.expr, &e.error)
        })?;
        out.skb_fetch = Some(f);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(v: &[&str]) -> Vec<String> {
        split_list(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn comma_lists_split_outside_strings() {
        assert_eq!(
            split(&["skb->mark,skb->hash", "skb->len"]),
            ["skb->mark", "skb->hash", "skb->len"]
        );
        assert_eq!(
            split(&["skb->dev->name == \"a,b\",skb->len", ",,"]),
            ["skb->dev->name == \"a,b\"", "skb->len"]
        );
        // An escaped quote does not end the string; the comma after the string's end splits.
        assert_eq!(
            split(&[r#"skb->dev->name == "x\",y",skb->mark"#]),
            [r#"skb->dev->name == "x\",y""#, "skb->mark"]
        );
        assert!(split(&[]).is_empty());
    }
}
