//! BTF expressions (`--filter-skb-expr`): their syntax is checked with the other arguments, then they are compiled
//! on the kernel's BTF (the running kernel's, or `--kernel-btf`) before anything is loaded, so a bad member name is
//! refused at startup with its column.

use crate::cli::TraceArgs;
use crate::filter_cmd::BadFilter;
use anyhow::Result;

/// What the kernel side runs: btf-expr's code, ready to splice.
#[derive(Debug, Default)]
pub struct Compiled {
    /// `--filter-skb-expr`, rooted at `struct sk_buff *skb`.
    pub skb_filter: Option<Vec<u8>>,
}

/// `--filter-skb-expr`, or `None` when not given or empty (pwru ignores an empty expression too).
fn skb_filter_expr(args: &TraceArgs) -> Option<&str> {
    args.filter_skb_expr
        .as_deref()
        .filter(|e| !e.trim().is_empty())
}

/// `e` in `expr`, which was given as `what`: one line with the column, and a caret under it on a terminal.
fn refused(what: &str, expr: &str, e: &btf_expr::ExprError) -> anyhow::Error {
    let err = pcap_filter::FilterError::new(e.kind.to_string(), e.column);
    BadFilter::named(what, expr, err).into()
}

/// Refuses an expression that does not parse, before any BTF is read.
pub fn check_syntax(args: &TraceArgs) -> Result<()> {
    if let Some(expr) = skb_filter_expr(args) {
        btf_expr::check_syntax(expr).map_err(|e| refused("--filter-skb-expr", expr, &e))?;
    }
    Ok(())
}

/// Compiles the expressions on `btf`.
pub fn compile(args: &TraceArgs, btf: &symbols::Btf) -> Result<Compiled> {
    let mut out = Compiled::default();
    if let Some(expr) = skb_filter_expr(args) {
        let flag = "--filter-skb-expr";
        let skb =
            btf_expr::Compiler::new(btf, "skb", "sk_buff").map_err(|e| refused(flag, expr, &e))?;
        let f = skb.filter(expr).map_err(|e| refused(flag, expr, &e))?;
        out.skb_filter = Some(f.to_bytes());
    }
    Ok(out)
}
