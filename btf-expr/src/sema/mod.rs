//! Syntax tree + BTF to the checked form ([`crate::ir`]): member paths become pointer hops and offsets,
//! enumerators become numbers, and every operator is checked against the types it meets.

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

    /// A byte-sized integer: arrays of it and pointers to it compare with strings.
    fn is_charlike(&self, elem: TypeId) -> bool {
        matches!(self.btf.type_of(self.btf.resolve(elem)), Some(Type::Int(i)) if i.size == 1 && !i.bool)
    }

    /// Plain `char` (not `unsigned char`/`u8`, which hold bytes): what prints as text.
    fn is_text(&self, elem: TypeId) -> bool {
        matches!(self.btf.type_of(self.btf.resolve(elem)), Some(Type::Int(i)) if i.size == 1 && (i.char || i.name == "char"))
    }

    /// A char array or char pointer, readable as a string; with `text`, only plain `char` ones (printing
    /// `skb->head`, an `unsigned char *`, shows the pointer, not bytes).
    fn str_place(&self, p: &Place, text: bool) -> Result<Option<StrPlace>> {
        let desc = format!("{} ({})", p.path, self.name(p.ty));
        let fits = |elem: TypeId| {
            if text {
                self.is_text(elem)
            } else {
                self.is_charlike(elem)
            }
        };
        match self.btf.type_of(self.btf.resolve(p.ty)) {
            Some(Type::Array { elem, len }) if fits(elem) => Ok(Some(StrPlace {
                acc: Access {
                    hops: p.hops.clone(),
                    off: p.byte_off()?,
                },
                src: StrSrc::Array { len },
                desc,
            })),
            Some(Type::Ptr { target }) if fits(target) => {
                let mut hops = p.hops.clone();
                hops.push(p.byte_off()?);
                Ok(Some(StrPlace {
                    acc: Access { hops, off: 0 },
                    src: StrSrc::Pointer,
                    desc,
                }))
            }
            _ => Ok(None),
        }
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

    fn compare_str(
        &self,
        op: CmpOp,
        lit: &[u8],
        lit_col: usize,
        other: &Operand,
        col: usize,
    ) -> Result<Cond> {
        let lit_desc = format!("string \"{}\"", String::from_utf8_lossy(lit).escape_debug());
        let mismatch = |left: String, hint: Option<String>| {
            err(
                ErrorKind::TypeMismatch {
                    action: "compare",
                    left,
                    right: lit_desc.clone(),
                    hint,
                },
                col,
            )
        };
        let place = match other {
            Operand::Place(p) => p,
            Operand::Str(..) => {
                return Err(mismatch(
                    lit_desc.clone(),
                    Some("compare a member with a string".into()),
                ));
            }
            Operand::Const(_, text) => {
                return Err(mismatch(
                    format!("int {text}"),
                    Some("strings compare with char arrays and char pointers".into()),
                ));
            }
            Operand::Root => {
                return Err(mismatch(
                    format!("{} ({})", self.root_name, self.root_desc()),
                    None,
                ));
            }
            Operand::Value(v) => return Err(mismatch(v.desc.clone(), None)),
            Operand::Cond(_) => return Err(mismatch("a condition".into(), None)),
        };
        let Some(s) = self.str_place(place, false)? else {
            return Err(mismatch(
                format!("{} ({})", place.path, self.name(place.ty)),
                Some("strings compare with char arrays and char pointers".into()),
            ));
        };
        let negate = match op {
            CmpOp::Eq => false,
            CmpOp::Ne => true,
            _ => {
                return Err(err(
                    ErrorKind::Unsupported(format!(
                        "strings compare with == and != only, not {}",
                        op.as_str()
                    )),
                    col,
                ));
            }
        };
        if let StrSrc::Array { len } = s.src
            && len > 0
            && lit.len() > len as usize
        {
            let (path, ty) = split_desc(&s.desc);
            return Err(err(
                ErrorKind::OutOfRange {
                    constant: lit_desc,
                    path,
                    ty,
                    range: format!("at most {len} characters"),
                    always: if negate { "true" } else { "false" },
                },
                lit_col,
            ));
        }
        Ok(Cond::StrEq {
            acc: s.acc,
            src: s.src,
            lit: lit.to_vec(),
            negate,
        })
    }

    /// A constant expression: numbers, enumerators, and `-`, `~`, `&` of constants.
    fn constant(&self, e: &Expr, prefer: Option<TypeId>) -> Result<(i128, String)> {
        let (v, text) = match e {
            Expr::Int(v, _) => (*v as i128, v.to_string()),
            Expr::Ident(name, col) => (self.enumerator(name, *col, prefer)?, name.clone()),
            Expr::Unary(Unary::Neg, a, _) => {
                let (v, t) = self.constant(a, prefer)?;
                (-v, format!("-{t}"))
            }
            Expr::Unary(Unary::BitNot, a, _) => {
                let (v, t) = self.constant(a, prefer)?;
                (!v, format!("~{t}"))
            }
            Expr::Mask(a, b, _) => {
                let (x, tx) = self.constant(a, prefer)?;
                let (y, ty) = self.constant(b, prefer)?;
                (x & y, format!("{tx} & {ty}"))
            }
            other => {
                let what = match other {
                    Expr::Unary(Unary::Not, ..) => "'!'",
                    _ => "this",
                };
                return Err(err(
                    ErrorKind::Unsupported(format!(
                        "{what} needs a constant here (a number or an enumerator)"
                    )),
                    other.col(),
                ));
            }
        };
        if !(i64::MIN as i128..=U64_MAX).contains(&v) {
            return Err(err(
                ErrorKind::Unsupported(format!("{text} does not fit in 64 bits")),
                e.col(),
            ));
        }
        Ok((v, text))
    }

    fn enumerator(&self, name: &str, col: usize, prefer: Option<TypeId>) -> Result<i128> {
        let found = self.btf.enumerators_named(name);
        if found.is_empty() && name == "NULL" {
            return Ok(0);
        }
        if found.is_empty() {
            return Err(err(
                ErrorKind::UnknownName {
                    name: name.to_string(),
                    hint: Some(self.unknown_hint(name)),
                },
                col,
            ));
        }
        let value_of = |(id, raw): (TypeId, u64)| -> i128 {
            match self.btf.type_of(id) {
                Some(Type::Enum(e)) if e.signed => raw as i64 as i128,
                _ => raw as i128,
            }
        };
        if let Some(p) = prefer
            && let Some(hit) = found.iter().find(|(id, _)| *id == p)
        {
            return Ok(value_of(*hit));
        }
        let first = value_of(found[0]);
        if found.iter().all(|f| value_of(*f) == first) {
            return Ok(first);
        }
        let choices: Vec<String> = found
            .iter()
            .take(4)
            .map(|f| format!("{} = {}", self.name(f.0), value_of(*f)))
            .collect();
        Err(err(
            ErrorKind::AmbiguousName {
                name: name.to_string(),
                choices: choices.join(", "),
            },
            col,
        ))
    }

    fn unknown_hint(&self, name: &str) -> String {
        if let Some((_, v)) = WELL_KNOWN_DEFINES.iter().find(|(n, _)| *n == name) {
            return format!(
                "it is a #define, and #define constants are not in BTF (write its value, {v})"
            );
        }
        let roots = [self.root_name.to_string()];
        if !nearest(name, &roots).is_empty() {
            return format!("the expression's root is '{}'", self.root_name);
        }
        format!(
            "no enumerator in the BTF has this name, and the root is '{}' (#define constants are not in BTF: write the number)",
            self.root_name
        )
    }

    /// A member path: the root followed by `->`, `.` and `[]`.
    fn place(&self, e: &Expr) -> Result<Place> {
        match e {
            Expr::Member {
                base,
                name,
                arrow,
                col,
            } => self.member(base, name, *arrow, *col),
            Expr::Index { base, index, col } => self.index(base, index, *col),
            Expr::Ident(n, col) if n == self.root_name => Err(bad_access(
                n,
                "the root is a pointer value, not a member".into(),
                *col,
            )),
            other => Err(err(
                ErrorKind::Unsupported(format!(
                    "members and indexes apply to paths that start at '{}'",
                    self.root_name
                )),
                other.col(),
            )),
        }
    }

    fn base_path(&self, base: &Expr) -> Result<Option<Place>> {
        match base {
            Expr::Ident(n, _) if n == self.root_name => Ok(None),
            Expr::Ident(n, col) => Err(err(
                ErrorKind::UnknownName {
                    name: n.clone(),
                    hint: Some(format!("paths start at '{}'", self.root_name)),
                },
                *col,
            )),
            other => self.place(other).map(Some),
        }
    }

    fn member(&self, base: &Expr, name: &str, arrow: bool, col: usize) -> Result<Place> {
        let base = self.base_path(base)?;
        let sep = if arrow { "->" } else { "." };
        let (hops, bit_off, container, path) = match base {
            None => {
                if !arrow {
                    return Err(bad_access(
                        self.root_name,
                        format!("is a pointer ({}): use '->'", self.root_desc()),
                        col,
                    ));
                }
                (Vec::new(), 0, self.root_struct, self.root_name.to_string())
            }
            Some(p) => {
                let resolved = self.btf.resolve(p.ty);
                match self.btf.type_of(resolved) {
                    Some(Type::Ptr { target }) => {
                        if !arrow {
                            return Err(bad_access(
                                &p.path,
                                format!("is a pointer ({}): use '->'", self.name(p.ty)),
                                col,
                            ));
                        }
                        let container = self.pointee_composite(&p, target, col)?;
                        let mut hops = p.hops.clone();
                        hops.push(p.byte_off()?);
                        (hops, 0, container, p.path)
                    }
                    Some(Type::Composite(_)) => {
                        if arrow {
                            return Err(bad_access(
                                &p.path,
                                format!("is {}, not a pointer: use '.'", self.name(p.ty)),
                                col,
                            ));
                        }
                        (p.hops.clone(), p.bit_off, resolved, p.path)
                    }
                    _ => {
                        return Err(bad_access(
                            &p.path,
                            format!(
                                "is {}, not a struct or union, so it has no member '{name}'",
                                self.name(p.ty)
                            ),
                            col,
                        ));
                    }
                }
            }
        };
        let path = format!("{path}{sep}{name}");
        let Some(found) = find_member(self.btf, container, name) else {
            return Err(err(
                ErrorKind::NoMember {
                    path,
                    container: self.name(container),
                    member: name.to_string(),
                    suggestions: suggest_member(self.btf, container, name),
                },
                col,
            ));
        };
        Ok(Place {
            hops,
            bit_off: bit_off + found.bit_offset as i64,
            ty: found.member.ty,
            bitfield: found.member.bitfield_size,
            path,
            col,
        })
    }

    /// The struct or union a pointer points to, or why `->` cannot go through it.
    fn pointee_composite(&self, p: &Place, target: TypeId, col: usize) -> Result<TypeId> {
        let t = self.btf.resolve(target);
        match self.btf.type_of(t) {
            Some(Type::Composite(_)) => Ok(t),
            Some(Type::Fwd { .. }) => Err(bad_access(
                &p.path,
                format!(
                    "points to {}, which this BTF only declares (no members)",
                    self.name(t)
                ),
                col,
            )),
            _ => Err(bad_access(
                &p.path,
                format!("is {}, not a pointer to a struct or union", self.name(p.ty)),
                col,
            )),
        }
    }

    fn index(&self, base: &Expr, index: &Expr, col: usize) -> Result<Place> {
        let (i, _) = self.constant(index, None).map_err(|e| match e.kind {
            ErrorKind::Unsupported(_) => err(
                ErrorKind::Unsupported("an array index must be a constant".into()),
                index.col(),
            ),
            _ => e,
        })?;
        let base = self.base_path(base)?;
        let path_of = |p: &str| format!("{p}[{i}]");
        let too_big = |path: &str| bad_access(path, format!("index {i} is too large"), col);
        let (hops, bit_off, elem, path, base_path) = match base {
            None => {
                let size = self.btf.size_of(self.root_struct).unwrap_or(0) as i128;
                let off = i.checked_mul(size).ok_or_else(|| too_big(self.root_name))?;
                (
                    Vec::new(),
                    off,
                    self.root_struct,
                    path_of(self.root_name),
                    self.root_name.to_string(),
                )
            }
            Some(p) => {
                let resolved = self.btf.resolve(p.ty);
                match self.btf.type_of(resolved) {
                    Some(Type::Array { elem, len }) => {
                        if len > 0 && (i < 0 || i >= len as i128) {
                            return Err(bad_access(
                                &path_of(&p.path),
                                format!("index {i} is out of bounds for {}", self.name(p.ty)),
                                col,
                            ));
                        }
                        let size = self.elem_size(&p, elem, col)?;
                        let off = (p.bit_off as i128 / 8) + i * size;
                        (p.hops.clone(), off, elem, path_of(&p.path), p.path)
                    }
                    Some(Type::Ptr { target }) => {
                        let size = self.elem_size(&p, target, col)?;
                        let mut hops = p.hops.clone();
                        hops.push(p.byte_off()?);
                        (hops, i * size, target, path_of(&p.path), p.path)
                    }
                    _ => {
                        return Err(bad_access(
                            &p.path,
                            format!("is {}, not an array or pointer", self.name(p.ty)),
                            col,
                        ));
                    }
                }
            }
        };
        let off = i64::try_from(bit_off)
            .ok()
            .filter(|o| i32::try_from(*o).is_ok())
            .ok_or_else(|| too_big(&base_path))?;
        Ok(Place {
            hops,
            bit_off: off * 8,
            ty: elem,
            bitfield: 0,
            path,
            col,
        })
    }

    fn elem_size(&self, p: &Place, elem: TypeId, col: usize) -> Result<i128> {
        match self.btf.size_of(elem) {
            Some(s) if s > 0 => Ok(s as i128),
            _ => Err(bad_access(
                &p.path,
                format!(
                    "cannot index {}: the size of {} is unknown",
                    self.name(p.ty),
                    self.name(elem)
                ),
                col,
            )),
        }
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

/// Networking `#define`s users write in pwru expressions; named in the error (BTF has no macros), never used.
const WELL_KNOWN_DEFINES: &[(&str, u32)] = &[
    ("PACKET_HOST", 0),
    ("PACKET_BROADCAST", 1),
    ("PACKET_MULTICAST", 2),
    ("PACKET_OTHERHOST", 3),
    ("PACKET_OUTGOING", 4),
    ("PACKET_LOOPBACK", 5),
    ("ETH_P_IP", 0x0800),
    ("ETH_P_ARP", 0x0806),
    ("ETH_P_8021Q", 0x8100),
    ("ETH_P_IPV6", 0x86dd),
    ("AF_INET", 2),
    ("AF_INET6", 10),
    ("AF_UNIX", 1),
    ("AF_PACKET", 17),
    ("AF_NETLINK", 16),
    ("IFF_UP", 1),
    ("IFF_LOOPBACK", 8),
];
