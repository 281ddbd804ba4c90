//! Strings: char arrays and `char *` members compared with string literals.

use super::*;

impl Checker<'_> {
    /// A byte-sized integer: arrays of it and pointers to it compare with strings.
    pub(super) fn is_charlike(&self, elem: TypeId) -> bool {
        matches!(self.btf.type_of(self.btf.resolve(elem)), Some(Type::Int(i)) if i.size == 1 && !i.bool)
    }

    /// Plain `char` (not `unsigned char`/`u8`, which hold bytes): what prints as text.
    pub(super) fn is_text(&self, elem: TypeId) -> bool {
        matches!(self.btf.type_of(self.btf.resolve(elem)), Some(Type::Int(i)) if i.size == 1 && (i.char || i.name == "char"))
    }

    /// A char array or char pointer, readable as a string; with `text`, only plain `char` ones (printing
    /// `skb->head`, an `unsigned char *`, shows the pointer, not bytes).
    pub(super) fn str_place(&self, p: &Place, text: bool) -> Result<Option<StrPlace>> {
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

    pub(super) fn compare_str(
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
}
