//! Syntax tree + BTF to the checked form ([`crate::ir`]): member paths become pointer hops and offsets,
//! enumerators become numbers, and every operator is checked against the types it meets.
//!
//! Layout: this file checks conditions, operands and comparisons; `places` resolves member paths, `strings`
//! checks string comparisons, `constants` numbers and enumerators.

mod constants;
mod places;
mod strings;

use symbols::{Btf, Type, TypeId};

use crate::error::{ErrorKind, ExprError};
use crate::ir::{Access, Cond, I64_MAX, Scalar, StrSrc, U64_MAX, Val, range, scalar_range};
use crate::parser::{CmpOp, Expr, Unary};
use crate::types::{c_name, find_member, is_big_endian, member_names, nearest, suggest_member};

type Result<T> = std::result::Result<T, ExprError>;

/// The root variable: its name in expressions and the struct it points to.
pub(crate) struct Checker<'a> {
    pub btf: &'a Btf,
    pub root_name: &'a str,
    pub root_struct: TypeId,
}

/// A memory location reached by a member path.
#[derive(Clone, Debug)]
struct Place {
    hops: Vec<i32>,
    /// Offset in bits from the last hop's base.
    bit_off: i64,
    /// Declared type (typedefs kept, for `__be16` and error messages).
    ty: TypeId,
    /// Bitfield width, 0 for an ordinary member.
    bitfield: u32,
    /// The path as written, normalised (`skb->dev->name`).
    path: String,
    col: usize,
}

/// A checked operand before the operator decides what it must be.
enum Operand {
    Root,
    Place(Place),
    /// A constant expression (number, enumerator, `-`/`~`/`&` of constants) and how it was written.
    Const(i128, String),
    Str(Vec<u8>, usize),
    Value(Value),
    Cond(Cond),
}

/// A value with what the error messages and printers need to know about it.
#[derive(Clone, Debug)]
pub(crate) struct Value {
    pub val: Val,
    /// `skb->len (unsigned int)`.
    pub desc: String,
    pub kind: ValueType,
}

/// The type of a checked value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ValueType {
    Const,
    Int {
        signed: bool,
        bits: u8,
        name: String,
    },
    Enum {
        id: TypeId,
        name: String,
    },
    Bool,
    Pointer {
        name: String,
    },
}

/// A string-valued place: a char array or a char pointer.
#[derive(Clone, Debug)]
pub(crate) struct StrPlace {
    pub acc: Access,
    pub src: StrSrc,
    pub desc: String,
}

/// One `--output-...-metadata` expression, checked.
#[derive(Clone, Debug)]
pub(crate) enum FetchItem {
    Value(Value),
    Str(StrPlace),
    /// A non-char array, fetched as raw bytes.
    Bytes {
        acc: Access,
        len: u32,
        elem: String,
    },
    Cond(Cond),
}

/// Longest non-string array fetched as bytes.
pub(crate) const MAX_BYTES: u32 = 64;

/// Gives a column to an error that has none yet.
pub(crate) fn at(mut e: ExprError, col: usize) -> ExprError {
    if e.column == 0 {
        e.column = col;
    }
    e
}

fn err(kind: ErrorKind, col: usize) -> ExprError {
    ExprError::new(kind, col)
}

fn bad_access(path: &str, message: String, col: usize) -> ExprError {
    err(
        ErrorKind::BadAccess {
            path: path.to_string(),
            message,
        },
        col,
    )
}

impl Place {
    /// The byte offset of a whole-byte member, or an error for a bitfield (whose address cannot be taken).
    fn byte_off(&self) -> Result<i32> {
        if self.bitfield != 0 || self.bit_off % 8 != 0 {
            return Err(bad_access(
                &self.path,
                "is a bitfield, which has no address".into(),
                self.col,
            ));
        }
        off32(self.bit_off / 8, &self.path, self.col)
    }
}

fn off32(v: i64, path: &str, col: usize) -> Result<i32> {
    i32::try_from(v).map_err(|_| bad_access(path, format!("offset {v} is too large"), col))
}

impl Checker<'_> {
    fn name(&self, id: TypeId) -> String {
        c_name(self.btf, id)
    }

    fn root_desc(&self) -> String {
        format!("{} *", self.name(self.root_struct))
    }

    /// A top-level filter expression.
    pub fn filter(&self, e: &Expr) -> Result<Cond> {
        self.cond(e)
    }

    /// A top-level fetch expression.
    pub fn fetch(&self, e: &Expr) -> Result<FetchItem> {
        match e {
            Expr::Cmp(..) | Expr::And(..) | Expr::Or(..) | Expr::Unary(Unary::Not, ..) => {
                return Ok(FetchItem::Cond(self.cond(e)?));
            }
            _ => {}
        }
        match self.operand(e)? {
            Operand::Place(p) => {
                if let Some(s) = self.str_place(&p, true)? {
                    return Ok(FetchItem::Str(s));
                }
                let resolved = self.btf.resolve(p.ty);
                if let Some(Type::Array { elem, len }) = self.btf.type_of(resolved)
                    && matches!(
                        self.btf.type_of(self.btf.resolve(elem)),
                        Some(Type::Int(_) | Type::Enum(_) | Type::Ptr { .. })
                    )
                {
                    let size = self.btf.size_of(resolved).unwrap_or(0);
                    if len == 0 || size > MAX_BYTES as u64 {
                        return Err(err(
                            ErrorKind::Unsupported(format!(
                                "{} is {} ({size} bytes): arrays print up to {MAX_BYTES} bytes; index it ([0])",
                                p.path,
                                self.name(p.ty)
                            )),
                            p.col,
                        ));
                    }
                    return Ok(FetchItem::Bytes {
                        acc: Access {
                            hops: p.hops.clone(),
                            off: p.byte_off()?,
                        },
                        len: size as u32,
                        elem: self.name(elem),
                    });
                }
                Ok(FetchItem::Value(self.place_value(&p)?))
            }
            Operand::Str(_, col) => Err(err(
                ErrorKind::Unsupported("a string literal has no kernel value to print".into()),
                col,
            )),
            other => Ok(FetchItem::Value(
                self.value(other).map_err(|x| at(x, e.col()))?,
            )),
        }
    }

    fn cond(&self, e: &Expr) -> Result<Cond> {
        match e {
            Expr::And(a, b) => Ok(Cond::And(Box::new(self.cond(a)?), Box::new(self.cond(b)?))),
            Expr::Or(a, b) => Ok(Cond::Or(Box::new(self.cond(a)?), Box::new(self.cond(b)?))),
            Expr::Unary(Unary::Not, a, _) => Ok(Cond::Not(Box::new(self.cond(a)?))),
            Expr::Cmp(op, l, r, col) => self.compare(*op, l, r, *col),
            _ => {
                let col = e.col();
                match self.operand(e)? {
                    Operand::Cond(c) => Ok(c),
                    Operand::Const(c, _) => Ok(Cond::Const(c != 0)),
                    Operand::Str(..) => Err(err(
                        ErrorKind::Unsupported(
                            "a string is not a condition: compare a member with it (skb->dev->name == \"eth0\")"
                                .into(),
                        ),
                        col,
                    )),
                    other => {
                        let v = self.value(other).map_err(|x| at(x, col))?;
                        Ok(Cond::Truth(v.val))
                    }
                }
            }
        }
    }

    /// Checks one operand without deciding yet whether it is a value, a string or a condition.
    fn operand(&self, e: &Expr) -> Result<Operand> {
        match e {
            Expr::Ident(name, _) if name == self.root_name => Ok(Operand::Root),
            Expr::Member { .. } | Expr::Index { .. } => Ok(Operand::Place(self.place(e)?)),
            Expr::Str(s, col) => Ok(Operand::Str(s.clone(), *col)),
            Expr::Ident(..) | Expr::Int(..) | Expr::Unary(Unary::Neg | Unary::BitNot, ..) => {
                let (v, text) = self.constant(e, None)?;
                Ok(Operand::Const(v, text))
            }
            Expr::Mask(a, b, col) => self.mask(a, b, *col),
            Expr::Cmp(..) | Expr::And(..) | Expr::Or(..) | Expr::Unary(Unary::Not, ..) => {
                Ok(Operand::Cond(self.cond(e)?))
            }
        }
    }

    fn mask(&self, a: &Expr, b: &Expr, col: usize) -> Result<Operand> {
        let (oa, ob) = (self.operand(a)?, self.operand(b)?);
        if let (Operand::Const(x, tx), Operand::Const(y, ty)) = (&oa, &ob) {
            return Ok(Operand::Const(x & y, format!("{tx} & {ty}")));
        }
        let va = self.value(oa).map_err(|e| at(e, a.col()))?;
        let vb = self.value(ob).map_err(|e| at(e, b.col()))?;
        for (v, other) in [(&va, &vb), (&vb, &va)] {
            if matches!(v.kind, ValueType::Pointer { .. }) {
                return Err(err(
                    ErrorKind::TypeMismatch {
                        action: "mask",
                        left: v.desc.clone(),
                        right: other.desc.clone(),
                        hint: Some("& masks integers".into()),
                    },
                    col,
                ));
            }
        }
        let desc = format!("({} & {})", short(&va.desc), short(&vb.desc));
        let val = Val::Mask(Box::new(va.val), Box::new(vb.val));
        let (lo, hi) = range(&val);
        Ok(Operand::Value(Value {
            val,
            desc,
            kind: ValueType::Int {
                signed: lo < 0 && hi <= I64_MAX,
                bits: 64,
                name: if lo < 0 { "s64" } else { "u64" }.into(),
            },
        }))
    }

    /// The value of an operand in a value context (comparison side, mask side, truth test).
    fn value(&self, op: Operand) -> Result<Value> {
        match op {
            Operand::Root => Ok(Value {
                val: Val::Root,
                desc: format!("{} ({})", self.root_name, self.root_desc()),
                kind: ValueType::Pointer {
                    name: self.root_desc(),
                },
            }),
            Operand::Place(p) => self.place_value(&p),
            Operand::Const(c, text) => Ok(Value {
                val: Val::Const(c),
                desc: text,
                kind: ValueType::Const,
            }),
            Operand::Value(v) => Ok(v),
            Operand::Cond(_) => Err(err(
                ErrorKind::Unsupported(
                    "a condition is not a value here (conditions combine with &&, || and !)".into(),
                ),
                0, // the caller knows the operand's column: see `at`
            )),
            Operand::Str(_, col) => Err(err(
                ErrorKind::Unsupported(
                    "a string only compares with a char array or char pointer (== or !=)".into(),
                ),
                col,
            )),
        }
    }

    fn place_value(&self, p: &Place) -> Result<Value> {
        let resolved = self.btf.resolve(p.ty);
        let tyname = self.name(p.ty);
        let not_value = |hint: Option<String>| {
            err(
                ErrorKind::NotAValue {
                    path: p.path.clone(),
                    ty: tyname.clone(),
                    hint,
                },
                p.col,
            )
        };
        let (size, bits, signed, kind) = match self.btf.type_of(resolved) {
            Some(Type::Int(i)) => {
                if i.size > 8 || i.size == 0 {
                    return Err(err(
                        ErrorKind::Unsupported(format!(
                            "{} is a {}-bit integer ({tyname}); values are at most 64 bits",
                            p.path,
                            i.size * 8
                        )),
                        p.col,
                    ));
                }
                let bits = if i.bits == 0 || i.bits > i.size * 8 {
                    i.size * 8
                } else {
                    i.bits
                };
                let kind = if i.bool {
                    ValueType::Bool
                } else {
                    ValueType::Int {
                        signed: i.signed,
                        bits: 0,
                        name: tyname.clone(),
                    }
                };
                (i.size, bits, i.signed && !i.bool, kind)
            }
            Some(Type::Enum(e)) if (1..=8).contains(&e.size) => (
                e.size,
                e.size * 8,
                e.signed,
                ValueType::Enum {
                    id: resolved,
                    name: tyname.clone(),
                },
            ),
            Some(Type::Ptr { .. }) => (
                symbols::POINTER_SIZE,
                64,
                false,
                ValueType::Pointer {
                    name: tyname.clone(),
                },
            ),
            Some(Type::Composite(_)) => {
                let names = member_names(self.btf, resolved);
                let some: Vec<String> = names
                    .iter()
                    .take(3)
                    .map(|m| format!("{}.{m}", p.path))
                    .collect();
                return Err(not_value(Some(format!(
                    "name one of its members ({}, ...)",
                    some.join(", ")
                ))));
            }
            Some(Type::Array { elem, .. }) => {
                let charlike = self.is_charlike(elem);
                return Err(not_value(Some(if charlike {
                    format!(
                        "compare it with a string ({} == \"...\") or index it ([0])",
                        p.path
                    )
                } else {
                    "an array needs an index ([0])".into()
                })));
            }
            Some(Type::Fwd { .. }) => {
                return Err(not_value(Some(
                    "this BTF only declares it (no members)".into(),
                )));
            }
            Some(Type::Float { .. }) => {
                return Err(err(
                    ErrorKind::Unsupported(format!(
                        "{} is {tyname}: floating-point values are not supported",
                        p.path
                    )),
                    p.col,
                ));
            }
            _ => return Err(not_value(None)),
        };
        let bits = if p.bitfield > 0 { p.bitfield } else { bits };
        let (off, shift, size) = if p.bitfield > 0 {
            let start = p.bit_off.div_euclid(8);
            let shift = p.bit_off.rem_euclid(8) as u32;
            let size = (shift + bits).div_ceil(8);
            if size > 8 {
                return Err(err(
                    ErrorKind::Unsupported(format!(
                        "{} is a bitfield spanning {size} bytes; at most 8 are read",
                        p.path
                    )),
                    p.col,
                ));
            }
            (off32(start, &p.path, p.col)?, shift, size)
        } else {
            if p.bit_off % 8 != 0 {
                return Err(err(
                    ErrorKind::Unsupported(format!("{} is not byte-aligned", p.path)),
                    p.col,
                ));
            }
            (off32(p.bit_off / 8, &p.path, p.col)?, 0, size)
        };
        let kind = match kind {
            ValueType::Int { signed, name, .. } => ValueType::Int {
                signed,
                bits: bits as u8,
                name: if p.bitfield > 0 {
                    format!("{name}:{bits}")
                } else {
                    name
                },
            },
            k => k,
        };
        let swap = p.bitfield == 0 && size > 1 && is_big_endian(self.btf, p.ty);
        let desc_ty = if p.bitfield > 0 {
            format!("{bits}-bit bitfield of {tyname}")
        } else {
            tyname.clone()
        };
        Ok(Value {
            val: Val::Load(
                Access {
                    hops: p.hops.clone(),
                    off,
                },
                Scalar {
                    size: size as u8,
                    shift: shift as u8,
                    bits: bits as u8,
                    signed,
                    swap,
                },
            ),
            desc: format!("{} ({desc_ty})", p.path),
            kind,
        })
    }

    fn compare(&self, op: CmpOp, le: &Expr, re: &Expr, col: usize) -> Result<Cond> {
        let l = self.operand(le)?;
        let r = self.operand(re)?;
        // Strings first: `name == "eth0"` or `"eth0" == name`.
        match (&l, &r) {
            (Operand::Str(s, scol), other) | (other, Operand::Str(s, scol)) => {
                return self.compare_str(op, s, *scol, other, col);
            }
            _ => {}
        }
        if let (Operand::Cond(_), _) | (_, Operand::Cond(_)) = (&l, &r) {
            let side = |o: &Operand| match o {
                Operand::Cond(_) => "a condition".to_string(),
                _ => "a value".to_string(),
            };
            return Err(err(
                ErrorKind::TypeMismatch {
                    action: "compare",
                    left: side(&l),
                    right: side(&r),
                    hint: Some(
                        "combine conditions with &&, || and !; `!x == 0` reads as `(!x) == 0`"
                            .into(),
                    ),
                },
                col,
            ));
        }
        // Enumerators named on one side prefer the enum of the other side.
        let enum_of = |o: &Operand| match o {
            Operand::Place(p) => match self.btf.type_of(self.btf.resolve(p.ty)) {
                Some(Type::Enum(_)) => Some(self.btf.resolve(p.ty)),
                _ => None,
            },
            _ => None,
        };
        let (pl, pr) = (enum_of(&r), enum_of(&l));
        let l = self.reconst(l, le, pl)?;
        let r = self.reconst(r, re, pr)?;
        let lv = self.value(l).map_err(|e| at(e, le.col()))?;
        let rv = self.value(r).map_err(|e| at(e, re.col()))?;
        self.check_cmp(op, &lv, &rv, col)?;
        Ok(Cond::Cmp(op, lv.val, rv.val))
    }

    /// Re-evaluates a constant operand with a preferred enum for its enumerators.
    fn reconst(&self, o: Operand, e: &Expr, prefer: Option<TypeId>) -> Result<Operand> {
        match (o, prefer) {
            (Operand::Const(..), Some(p)) => {
                let (v, t) = self.constant(e, Some(p))?;
                Ok(Operand::Const(v, t))
            }
            (o, _) => Ok(o),
        }
    }

    fn check_cmp(&self, op: CmpOp, l: &Value, r: &Value, col: usize) -> Result<()> {
        let mismatch = |hint: Option<String>| {
            err(
                ErrorKind::TypeMismatch {
                    action: "compare",
                    left: l.desc.clone(),
                    right: r.desc.clone(),
                    hint,
                },
                col,
            )
        };
        let is_ptr = |v: &Value| matches!(v.kind, ValueType::Pointer { .. });
        let is_zero = |v: &Value| v.kind == ValueType::Const && v.val == Val::Const(0);
        match (is_ptr(l), is_ptr(r)) {
            (true, true) => {}
            (true, false) | (false, true) => {
                let other = if is_ptr(l) { r } else { l };
                if !is_zero(other) {
                    return Err(mismatch(Some(
                        "a pointer compares with another pointer or with 0/NULL; test it alone (skb->sk) or with !".into(),
                    )));
                }
            }
            (false, false) => {}
        }
        if (is_ptr(l) || is_ptr(r)) && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
            return Err(mismatch(Some(
                "pointers compare with == and != only".into(),
            )));
        }
        // A literal outside the other side's values in == / != is a mistake, not a filter.
        for (a, b) in [(l, r), (r, l)] {
            if let (Val::Load(_, s), ValueType::Const) = (&a.val, &b.kind)
                && matches!(op, CmpOp::Eq | CmpOp::Ne)
            {
                let (lo, hi) = scalar_range(s.bits as u32, s.signed);
                let Val::Const(c) = b.val else { continue };
                if c < lo || c > hi {
                    let (path, ty) = split_desc(&a.desc);
                    return Err(err(
                        ErrorKind::OutOfRange {
                            constant: b.desc.clone(),
                            path,
                            ty,
                            range: format!("{lo}..={hi}"),
                            always: if op == CmpOp::Eq { "false" } else { "true" },
                        },
                        col,
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `skb->len (unsigned int)` -> (`skb->len`, `unsigned int`).
fn split_desc(desc: &str) -> (String, String) {
    match desc.find(" (") {
        Some(i) if desc.ends_with(')') => (
            desc[..i].to_string(),
            desc[i + 2..desc.len() - 1].to_string(),
        ),
        _ => (desc.to_string(), String::new()),
    }
}

/// The path part of a description.
fn short(desc: &str) -> String {
    split_desc(desc).0
}
