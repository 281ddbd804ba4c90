//! BTF expressions (`--filter-skb-expr`, `--output-skb-metadata` over the skb; `--filter-xdp-expr`,
//! `--output-xdp-metadata` over a traced XDP program's xdp_buff) and struct dumps (`--output-skb`,
//! `--output-skb-shared-info`): the expressions' syntax is checked with the other arguments, then they are compiled
//! on the kernel's BTF (the running kernel's, or `--kernel-btf`) before anything is loaded, so a bad member name is
//! refused at startup with its column.

use crate::cli::TraceArgs;
use crate::filter_cmd::BadFilter;
use anyhow::{Result, bail};

/// At most this many metadata expressions per root (pwru takes 4); their values also have to fit in btf-expr's
/// output area.
pub const MAX_METADATA: usize = 32;

// The probes' values section holds any area btf-expr may fill.
const _: () = assert!(probes::event::BTF_AREA_MAX == btf_expr::MAX_AREA);

/// What the kernel side runs: btf-expr's code, ready to splice.
#[derive(Debug, Default)]
pub struct Compiled {
    /// Rooted at `struct sk_buff *skb`: every skb event.
    pub skb: Side,
    /// Rooted at `struct xdp_buff *xdp`: the events of traced XDP programs.
    pub xdp: Side,
}

/// The expressions over one root.
#[derive(Debug, Default)]
pub struct Side {
    /// The filter (`--filter-skb-expr`, `--filter-xdp-expr`).
    pub filter: Option<Vec<u8>>,
    /// The values to print (`--output-skb-metadata`, `--output-xdp-metadata`).
    pub fetch: Option<btf_expr::Fetch>,
}

impl Side {
    /// The fetcher as the probes splice it.
    pub fn fetch_code(&self) -> Option<probes::FetchCode> {
        self.fetch.as_ref().map(|f| probes::FetchCode {
            insns: f.to_bytes(),
            area_size: f.area_size,
        })
    }
}

/// A root and the flags that give expressions over it.
struct Root {
    var: &'static str,
    strukt: &'static str,
    filter_flag: &'static str,
    meta_flag: &'static str,
}

const SKB: Root = Root {
    var: "skb",
    strukt: "sk_buff",
    filter_flag: "--filter-skb-expr",
    meta_flag: "--output-skb-metadata",
};

const XDP: Root = Root {
    var: "xdp",
    strukt: "xdp_buff",
    filter_flag: "--filter-xdp-expr",
    meta_flag: "--output-xdp-metadata",
};

/// The expressions given over one root: the filter (`None` when not given or empty: pwru ignores an empty
/// expression too) and the metadata list.
struct Given<'a> {
    root: &'static Root,
    filter: Option<&'a str>,
    meta: Vec<String>,
}

fn filter_expr(e: &Option<String>) -> Option<&str> {
    e.as_deref().filter(|e| !e.trim().is_empty())
}

fn given(args: &TraceArgs) -> [Given<'_>; 2] {
    let filter = filter_expr;
    [
        Given {
            root: &SKB,
            filter: filter(&args.filter_skb_expr),
            meta: split_list(&args.output_skb_metadata),
        },
        Given {
            root: &XDP,
            filter: filter(&args.filter_xdp_expr),
            meta: split_list(&args.output_xdp_metadata),
        },
    ]
}

/// Whether any BTF expression was given.
pub fn any(args: &TraceArgs) -> bool {
    given(args)
        .iter()
        .any(|g| g.filter.is_some() || !g.meta.is_empty())
}

/// Whether any expression over the xdp_buff was given (they only act on traced XDP programs).
pub fn any_xdp(args: &TraceArgs) -> bool {
    let [_, xdp] = given(args);
    xdp.filter.is_some() || !xdp.meta.is_empty()
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
    for g in given(args) {
        if let Some(expr) = g.filter {
            btf_expr::check_syntax(expr).map_err(|e| refused(g.root.filter_flag, expr, &e))?;
        }
        if g.meta.len() > MAX_METADATA {
            bail!(
                "{}: {} expressions, at most {MAX_METADATA} are taken",
                g.root.meta_flag,
                g.meta.len()
            );
        }
        for expr in &g.meta {
            btf_expr::check_syntax(expr)
                .map_err(|e| refused(&format!("{} {expr}", g.root.meta_flag), expr, &e))?;
        }
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
    let [skb, xdp] = given(args);
    Ok(Compiled {
        skb: compile_side(&skb, btf)?,
        xdp: compile_side(&xdp, btf)?,
    })
}

fn compile_side(g: &Given<'_>, btf: &symbols::Btf) -> Result<Side> {
    let mut out = Side::default();
    if g.filter.is_none() && g.meta.is_empty() {
        return Ok(out);
    }
    let root = btf_expr::Compiler::new(btf, g.root.var, g.root.strukt).map_err(|e| {
        let flag = match g.filter {
            Some(_) => g.root.filter_flag,
            None => g.root.meta_flag,
        };
        anyhow::anyhow!("{flag}: {e}")
    })?;
    if let Some(expr) = g.filter {
        let f = root
            .filter(expr)
            .map_err(|e| refused(g.root.filter_flag, expr, &e))?;
        out.filter = Some(f.to_bytes());
    }
    if !g.meta.is_empty() {
        let f = root.fetch(&g.meta).map_err(|e| {
            let what = format!("{} {}", g.root.meta_flag, e.expr);
            refused(&what, &e.expr, &e.error)
        })?;
        out.fetch = Some(f);
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
