//! pwru's flags whose features are not built yet: declared, so that a pwru command line is parsed and gets a
//! one-line "not supported yet" instead of clap's "unexpected argument", and refused by the plan before any work.
//! Whoever builds one of them moves its declaration into [`super::TraceArgs`] and deletes it here (clap refuses a
//! flag declared twice, so a forgotten line fails the tests).

use clap::ArgAction;

/// Flags of pwru v1.0.12 accepted by the parser and refused by [`PendingArgs::refusal`].
#[derive(clap::Args, Clone, Debug, Default)]
pub struct PendingArgs {
    /// Only XDP buffers for which this C expression holds (not supported yet).
    #[arg(long, value_name = "EXPR")]
    pub filter_xdp_expr: Option<String>,
    /// Print these XDP buffer fields (not supported yet).
    #[arg(long, value_delimiter = ',', value_name = "EXPRS", action = ArgAction::Append)]
    pub output_xdp_metadata: Vec<String>,
}

impl PendingArgs {
    /// The first pending flag given, as the one-line error that refuses it.
    pub fn refusal(&self) -> Option<String> {
        let given = [
            (
                self.filter_xdp_expr.is_some(),
                "--filter-xdp-expr",
                XDP_EXPR,
            ),
            (
                !self.output_xdp_metadata.is_empty(),
                "--output-xdp-metadata",
                XDP_EXPR,
            ),
        ];
        given
            .into_iter()
            .find(|(on, _, _)| *on)
            .map(|(_, flag, why)| not_supported(flag, why))
    }
}

const XDP_EXPR: &str =
    "BTF expressions over struct xdp_buff are not compiled into the traced XDP programs' probes";

/// The refusal of a flag that parses but has no feature behind it yet.
pub fn not_supported(flag: &str, why: &str) -> String {
    format!("{flag} is not supported yet: {why}")
}
