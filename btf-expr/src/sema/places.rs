//! Member paths (`skb->dev->name`, `a.b[2]`): the pointer hops, offsets and types they reach, with the BTF's
//! nearest names in the errors.

use super::*;

impl Checker<'_> {
    /// A member path: the root followed by `->`, `.` and `[]`.
    pub(super) fn place(&self, e: &Expr) -> Result<Place> {
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

    pub(super) fn base_path(&self, base: &Expr) -> Result<Option<Place>> {
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

    pub(super) fn member(&self, base: &Expr, name: &str, arrow: bool, col: usize) -> Result<Place> {
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
    pub(super) fn pointee_composite(
        &self,
        p: &Place,
        target: TypeId,
        col: usize,
    ) -> Result<TypeId> {
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

    pub(super) fn index(&self, base: &Expr, index: &Expr, col: usize) -> Result<Place> {
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

    pub(super) fn elem_size(&self, p: &Place, elem: TypeId, col: usize) -> Result<i128> {
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
