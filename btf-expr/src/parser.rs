//! Tokens to a syntax tree. Precedence, loosest first: `||`, `&&`, one comparison (`== != < <= > >=`, not
//! chained), `&`, unary `! ~ -`, then member access and indexing. Unlike C, `&` binds tighter than the
//! comparisons, so `skb->mark & 0xff == 1` means `(skb->mark & 0xff) == 1`.

use crate::error::{ErrorKind, ExprError};
use crate::lexer::{Tok, Token};

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `==` (also written `=`)
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    fn from_op(op: &str) -> Option<CmpOp> {
        Some(match op {
            "==" => CmpOp::Eq,
            "!=" => CmpOp::Ne,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            ">=" => CmpOp::Ge,
            _ => return None,
        })
    }

    /// The operator as C writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// `a op b` == `b op.swap() a`.
    pub fn swap(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            o => o,
        }
    }

    /// Whether `a op b` holds for two plain integers.
    pub fn holds<T: Ord>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unary {
    Not,
    BitNot,
    Neg,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Expr {
    Ident(String, usize),
    Int(u64, usize),
    Str(Vec<u8>, usize),
    /// `base->name` (`arrow`) or `base.name`; the column is the member name's.
    Member {
        base: Box<Expr>,
        name: String,
        arrow: bool,
        col: usize,
    },
    /// `base[index]`; the column is the `[`.
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
        col: usize,
    },
    Unary(Unary, Box<Expr>, usize),
    Cmp(CmpOp, Box<Expr>, Box<Expr>, usize),
    Mask(Box<Expr>, Box<Expr>, usize),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

impl Expr {
    /// Column of the expression's first character.
    pub fn col(&self) -> usize {
        match self {
            Expr::Ident(_, c) | Expr::Int(_, c) | Expr::Str(_, c) | Expr::Unary(_, _, c) => *c,
            Expr::Member { base, .. } | Expr::Index { base, .. } => base.col(),
            Expr::Cmp(_, l, _, _) | Expr::Mask(l, _, _) | Expr::And(l, _) | Expr::Or(l, _) => {
                l.col()
            }
        }
    }
}

/// Deepest nesting of parentheses and unary operators (bounds the recursion).
const MAX_DEPTH: usize = 64;
/// Most tokens in one expression.
const MAX_TOKENS: usize = 4096;

pub(crate) fn parse(toks: &[Token]) -> Result<Expr, ExprError> {
    if toks.len() > MAX_TOKENS {
        return Err(ExprError::new(
            ErrorKind::Unsupported(format!(
                "expression too long (more than {MAX_TOKENS} tokens)"
            )),
            toks[MAX_TOKENS].col,
        ));
    }
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    if p.peek() == &Tok::End {
        return Err(p.error("empty expression"));
    }
    let e = p.or()?;
    if p.peek() != &Tok::End {
        let what = if p.peek() == &Tok::Op(")") {
            "unbalanced ')'".to_string()
        } else {
            format!(
                "unexpected {} after a complete expression",
                describe(p.peek())
            )
        };
        return Err(p.error(&what));
    }
    Ok(e)
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("name '{s}'"),
        Tok::Int(v) => format!("number {v}"),
        Tok::Str(_) => "string".into(),
        Tok::Op(o) => format!("'{o}'"),
        Tok::End => "end of expression".into(),
    }
}

struct Parser<'a> {
    toks: &'a [Token],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }
    fn col(&self) -> usize {
        self.toks[self.pos].col
    }
    fn error(&self, msg: &str) -> ExprError {
        ExprError::new(ErrorKind::Syntax(msg.to_string()), self.col())
    }
    fn eat(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Tok::Op(o) if *o == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    /// One level deeper, for the token at `col`.
    fn enter(&mut self, col: usize) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError::new(
                ErrorKind::Unsupported(format!("nested more than {MAX_DEPTH} deep")),
                col,
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut l = self.and()?;
        while self.eat("||") {
            let r = self.and()?;
            l = Expr::Or(Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut l = self.cmp()?;
        while self.eat("&&") {
            let r = self.cmp()?;
            l = Expr::And(Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn cmp(&mut self) -> Result<Expr, ExprError> {
        let l = self.mask()?;
        let Tok::Op(op) = *self.peek() else {
            return Ok(l);
        };
        let Some(cmp) = CmpOp::from_op(op) else {
            return Ok(l);
        };
        let col = self.col();
        self.pos += 1;
        let r = self.mask()?;
        if let Tok::Op(op2) = *self.peek()
            && CmpOp::from_op(op2).is_some()
        {
            return Err(self.error(&format!(
                "comparisons do not chain: write (a {op} b) && (b {op2} c), or add parentheses"
            )));
        }
        Ok(Expr::Cmp(cmp, Box::new(l), Box::new(r), col))
    }

    fn mask(&mut self) -> Result<Expr, ExprError> {
        let mut l = self.unary()?;
        loop {
            let col = self.col();
            if !self.eat("&") {
                return Ok(l);
            }
            let r = self.unary()?;
            l = Expr::Mask(Box::new(l), Box::new(r), col);
        }
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        let col = self.col();
        let op = match self.peek() {
            Tok::Op("!") => Unary::Not,
            Tok::Op("~") => Unary::BitNot,
            Tok::Op("-") => Unary::Neg,
            _ => return self.postfix(),
        };
        self.pos += 1;
        self.enter(col)?;
        let e = self.unary()?;
        self.depth -= 1;
        Ok(Expr::Unary(op, Box::new(e), col))
    }

    fn postfix(&mut self) -> Result<Expr, ExprError> {
        let mut e = self.primary()?;
        loop {
            let col = self.col();
            if self.eat("->") || self.eat(".") {
                let arrow = self.toks[self.pos - 1].tok == Tok::Op("->");
                let Tok::Ident(name) = self.peek().clone() else {
                    return Err(self.error(&format!(
                        "expected a member name after '{}', found {}",
                        if arrow { "->" } else { "." },
                        describe(self.peek())
                    )));
                };
                let col = self.col();
                self.pos += 1;
                e = Expr::Member {
                    base: Box::new(e),
                    name,
                    arrow,
                    col,
                };
            } else if self.eat("[") {
                self.enter(col)?;
                let index = self.or()?;
                self.depth -= 1;
                if !self.eat("]") {
                    return Err(
                        self.error(&format!("expected ']', found {}", describe(self.peek())))
                    );
                }
                e = Expr::Index {
                    base: Box::new(e),
                    index: Box::new(index),
                    col,
                };
            } else {
                return Ok(e);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let col = self.col();
        let tok = self.peek().clone();
        match tok {
            Tok::Ident(name) => {
                self.pos += 1;
                if self.peek() == &Tok::Op("(") {
                    return Err(ExprError::new(
                        ErrorKind::Unsupported(format!(
                            "function calls such as {name}() are not supported (fields of type __be16/__be32/__be64 are already compared in host byte order)"
                        )),
                        col,
                    ));
                }
                Ok(Expr::Ident(name, col))
            }
            Tok::Int(v) => {
                self.pos += 1;
                Ok(Expr::Int(v, col))
            }
            Tok::Str(s) => {
                self.pos += 1;
                Ok(Expr::Str(s, col))
            }
            Tok::Op("(") => {
                self.pos += 1;
                self.enter(col)?;
                let e = self.or()?;
                self.depth -= 1;
                if !self.eat(")") {
                    return Err(
                        self.error(&format!("expected ')', found {}", describe(self.peek())))
                    );
                }
                Ok(e)
            }
            other => Err(self.error(&format!("expected a value, found {}", describe(&other)))),
        }
    }
}
