//! The compiler's error type: what is wrong, and the column it is at.

/// A refused expression. `Display` gives one line: the message, then `at column N` when the error has a place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    /// What is wrong.
    pub kind: ErrorKind,
    /// 1-based column in characters; 0 when the error is not tied to a place (e.g. a missing root type).
    pub column: usize,
}

impl ExprError {
    pub(crate) fn new(kind: ErrorKind, column: usize) -> Self {
        ExprError { kind, column }
    }
}

impl std::fmt::Display for ExprError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.column > 0 {
            write!(f, "{} at column {}", self.kind, self.column)
        } else {
            write!(f, "{}", self.kind)
        }
    }
}

impl std::error::Error for ExprError {}

/// The kinds of refusal. Paths (`skb->dev`) and types (`struct net_device *`) appear in C notation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text does not parse (bad character, number, string, or a token where another was expected).
    #[error("{0}")]
    Syntax(String),
    /// An identifier that is neither the root variable nor an enumerator in the BTF.
    #[error("unknown name '{name}'{}", hint.as_deref().map(|h| format!(": {h}")).unwrap_or_default())]
    UnknownName {
        /// The identifier.
        name: String,
        /// What to do instead (`#define` constants are not in BTF, nearest enumerators, the root's name).
        hint: Option<String>,
    },
    /// An enumerator name that two enums define with different values.
    #[error("'{name}' is ambiguous: {choices}")]
    AmbiguousName {
        /// The enumerator.
        name: String,
        /// The enums and values it could be.
        choices: String,
    },
    /// `path->member` or `path.member` where the struct or union has no such member.
    #[error(
        "{path}: {container} has no member '{member}'{}",
        suggestion(suggestions)
    )]
    NoMember {
        /// The path up to and including the bad member.
        path: String,
        /// The struct or union searched, e.g. `struct sk_buff`.
        container: String,
        /// The name that was not found.
        member: String,
        /// The nearest member names, best first (may be empty).
        suggestions: Vec<String>,
    },
    /// A member access, index or dereference that the type does not allow (`.` on a pointer, `->` on a struct,
    /// a forward-declared struct, an index out of bounds).
    #[error("{path}: {message}")]
    BadAccess {
        /// The path up to the bad step.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// Two operands whose types cannot meet in this operator.
    #[error("cannot {action} {left} with {right}{}", hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    TypeMismatch {
        /// `compare`, `mask`.
        action: &'static str,
        /// The left operand and its type, e.g. `skb->dev->name (char[16])`.
        left: String,
        /// The right operand and its type, e.g. `int 9`.
        right: String,
        /// How to write it instead.
        hint: Option<String>,
    },
    /// A path whose type has no value here: a struct, an array without index, void.
    #[error("{path} is {ty}, not a value{}", hint.as_deref().map(|h| format!(": {h}")).unwrap_or_default())]
    NotAValue {
        /// The path.
        path: String,
        /// Its type.
        ty: String,
        /// What would work.
        hint: Option<String>,
    },
    /// A comparison that can never be true or never be false because the constant lies outside the values
    /// of the other side.
    #[error(
        "{constant} is out of range for {path} ({ty}: {range}), so the comparison is always {always}"
    )]
    OutOfRange {
        /// The constant as written.
        constant: String,
        /// The compared path.
        path: String,
        /// Its type.
        ty: String,
        /// `0..=7`.
        range: String,
        /// `false` or `true`.
        always: &'static str,
    },
    /// Something the compiler does not do (floats, non-constant indexes, too deep nesting, too many outputs).
    #[error("{0}")]
    Unsupported(String),
    /// The root variable's type is not in the BTF.
    #[error("the BTF has no {0}")]
    NoRootType(String),
}

fn suggestion(s: &[String]) -> String {
    match s {
        [] => String::new(),
        [one] => format!(" (did you mean '{one}'?)"),
        many => {
            let quoted: Vec<String> = many.iter().map(|m| format!("'{m}'")).collect();
            format!(" (did you mean {}?)", quoted.join(", "))
        }
    }
}
