//! pwru's flags whose features are not built yet: declared, so that a pwru command line is parsed and gets a
//! one-line "not supported yet" instead of clap's "unexpected argument", and refused by the plan before any work.
//! Whoever builds one of them moves its declaration into [`super::TraceArgs`] and deletes it here (clap refuses a
//! flag declared twice, so a forgotten line fails the tests).

use clap::ArgAction;

/// Flags of pwru v1.0.12 accepted by the parser and refused by [`PendingArgs::refusal`].
#[derive(clap::Args, Clone, Debug, Default)]
pub struct PendingArgs {
    /// Only skbs for which this C expression holds, e.g. 'skb->protocol == 0x0800' (not supported yet).
    #[arg(long, value_name = "EXPR")]
    pub filter_skb_expr: Option<String>,
    /// Only XDP buffers for which this C expression holds (not supported yet).
    #[arg(long, value_name = "EXPR")]
    pub filter_xdp_expr: Option<String>,
    /// Print the skb (not supported yet).
    #[arg(long)]
    pub output_skb: bool,
    /// Print the skb's shared info (not supported yet).
    #[arg(long)]
    pub output_skb_shared_info: bool,
    /// Print these skb fields, e.g. skb->mark,skb->hash (not supported yet).
    #[arg(long, value_delimiter = ',', value_name = "EXPRS", action = ArgAction::Append)]
    pub output_skb_metadata: Vec<String>,
    /// Print these XDP buffer fields (not supported yet).
    #[arg(long, value_delimiter = ',', value_name = "EXPRS", action = ArgAction::Append)]
    pub output_xdp_metadata: Vec<String>,
}

impl PendingArgs {
    /// The first pending flag given, as the one-line error that refuses it.
    pub fn refusal(&self) -> Option<String> {
        let given = [
            (
                self.filter_skb_expr.is_some(),
                "--filter-skb-expr",
                BTF_EXPR,
            ),
            (
                self.filter_xdp_expr.is_some(),
                "--filter-xdp-expr",
                BTF_EXPR,
            ),
            (self.output_skb, "--output-skb", BTF_DUMP),
            (
                self.output_skb_shared_info,
                "--output-skb-shared-info",
                BTF_DUMP,
            ),
            (
                !self.output_skb_metadata.is_empty(),
                "--output-skb-metadata",
                BTF_EXPR,
            ),
            (
                !self.output_xdp_metadata.is_empty(),
                "--output-xdp-metadata",
                BTF_EXPR,
            ),
        ];
        given
            .into_iter()
            .find(|(on, _, _)| *on)
            .map(|(_, flag, why)| not_supported(flag, why))
    }
}

const BTF_EXPR: &str = "BTF expressions are not compiled into the probes";
const BTF_DUMP: &str = "BTF dumps of kernel structs are not built in";

/// The refusal of a flag that parses but has no feature behind it yet.
pub fn not_supported(flag: &str, why: &str) -> String {
    format!("{flag} is not supported yet: {why}")
}
