//! The BTF type graph as a public, read-only API: look a type up by name, follow typedefs and qualifiers, walk
//! the members of structs and unions (with bit offsets and bitfield widths), arrays, pointers and enums. Used by
//! compilers that turn C-like expressions into memory reads (`btf-expr`).

use super::raw::kind;
use super::{Btf, Ty, View};

/// One type of a [`Btf`]: which unit holds it (vmlinux or a module) and its id there.
///
/// Ids of split module BTF continue after vmlinux's and overlap between modules, so the unit is part of the
/// identity. A module type that refers to a vmlinux type yields the vmlinux `TypeId`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeId {
    unit: u32,
    id: u32,
}

impl TypeId {
    /// `void` (BTF id 0): the target of `void *`, and what a broken reference resolves to.
    pub const VOID: TypeId = TypeId { unit: 0, id: 0 };

    /// The id as its unit numbers it (for vmlinux types, the id the kernel's BTF helpers take).
    pub fn raw(self) -> u32 {
        self.id
    }

    /// Whether the type is defined in vmlinux (as opposed to a module's split BTF).
    pub fn in_vmlinux(self) -> bool {
        self.unit == 0
    }
}

/// An integer type (`BTF_KIND_INT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntType<'a> {
    /// Its C name: `unsigned int`, `char`, `_Bool`, `long long unsigned int`.
    pub name: &'a str,
    /// Storage size in bytes.
    pub size: u32,
    /// Signed encoding.
    pub signed: bool,
    /// `char` encoding (a character type, signed or not).
    pub char: bool,
    /// `_Bool` encoding.
    pub bool: bool,
    /// Bit offset of the value inside its storage (old-style bitfields; 0 in practice).
    pub bit_offset: u32,
    /// Number of value bits (`size * 8` except for old-style bitfields).
    pub bits: u32,
}

/// One member of a struct or union.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member<'a> {
    /// Its name; empty for an anonymous struct or union whose members belong to the enclosing type in C.
    pub name: &'a str,
    /// The member's type (unresolved: typedefs and qualifiers are kept).
    pub ty: TypeId,
    /// Offset from the start of the enclosing type, in bits.
    pub bit_offset: u32,
    /// Width of a bitfield in bits; 0 for an ordinary member. Old-style BTF, which encodes the width in an
    /// `INT` type instead, is normalised here: the int's own offset is added to `bit_offset`.
    pub bitfield_size: u32,
}

/// A struct or union (`BTF_KIND_STRUCT`/`BTF_KIND_UNION`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Composite<'a> {
    /// Its tag name; empty for an anonymous one.
    pub name: &'a str,
    /// Size in bytes.
    pub size: u32,
    /// `union` rather than `struct`.
    pub is_union: bool,
    /// Members in declaration order.
    pub members: Vec<Member<'a>>,
}

/// An enum (`BTF_KIND_ENUM`/`BTF_KIND_ENUM64`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnumType<'a> {
    /// Its tag name; empty for an anonymous one.
    pub name: &'a str,
    /// Storage size in bytes (1, 2, 4 or 8).
    pub size: u32,
    /// Signed values (the BTF kind flag; BTF from before Linux 6.0 never sets it).
    pub signed: bool,
    /// Enumerators as (name, value). The value is the 64-bit pattern: sign-extended for a signed 32-bit enum,
    /// to be read as `i64` when `signed`.
    pub values: Vec<(&'a str, u64)>,
}

/// A qualifier or tag that wraps another type without changing its layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Qualifier {
    /// `const`
    Const,
    /// `volatile`
    Volatile,
    /// `restrict`
    Restrict,
    /// `__attribute__((btf_type_tag(...)))`
    TypeTag,
}

/// A decoded BTF type. Kinds that carry no data layout (functions, variables, sections, decl tags) are
/// [`Type::Other`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Type<'a> {
    /// Type id 0.
    Void,
    /// An integer.
    Int(IntType<'a>),
    /// A pointer to `target`.
    Ptr {
        /// The pointee.
        target: TypeId,
    },
    /// `elem[len]`.
    Array {
        /// The element type.
        elem: TypeId,
        /// Number of elements (0 for a flexible array member).
        len: u32,
    },
    /// A struct or union with its members.
    Composite(Composite<'a>),
    /// An enum with its enumerators.
    Enum(EnumType<'a>),
    /// A forward declaration (`struct foo;`): its members are not in this BTF.
    Fwd {
        /// The tag name.
        name: &'a str,
        /// `union foo;` rather than `struct foo;`.
        is_union: bool,
    },
    /// `typedef target name`.
    Typedef {
        /// The typedef's name.
        name: &'a str,
        /// The aliased type.
        target: TypeId,
    },
    /// A qualified type; `name` is the tag for [`Qualifier::TypeTag`], empty otherwise.
    Qualified {
        /// Which qualifier.
        qualifier: Qualifier,
        /// The tag's value, for type tags.
        name: &'a str,
        /// The qualified type.
        target: TypeId,
    },
    /// A floating-point type.
    Float {
        /// Its C name.
        name: &'a str,
        /// Size in bytes.
        size: u32,
    },
    /// Any other kind (function, prototype, variable, data section, decl tag), with its BTF kind number.
    Other {
        /// `BTF_KIND_*`.
        kind: u8,
        /// Its name, if it has one.
        name: &'a str,
    },
}

/// Longest typedef/qualifier chain [`Btf::resolve`] follows (a loop in malformed BTF ends there).
const MAX_CHAIN: usize = 32;

/// Pointer size of the kernels pwru supports (x86-64 and arm64); BTF does not record it.
pub const POINTER_SIZE: u32 = 8;

impl Btf {
    fn view_of(&self, unit: u32) -> Option<View<'_>> {
        self.views().nth(unit as usize)
    }

    /// The `TypeId` for `raw` as referenced from inside `unit`.
    fn id_in(&self, unit: u32, raw: u32) -> TypeId {
        if raw == 0 || raw < self.units[unit as usize].first_id {
            TypeId { unit: 0, id: raw }
        } else {
            TypeId { unit, id: raw }
        }
    }

    /// Every type named `name` (of any kind), vmlinux first, then modules in load order.
    pub fn types_named(&self, name: &str) -> Vec<TypeId> {
        let mut out = Vec::new();
        for (unit, view) in self.views().enumerate() {
            for (id, ty) in view.own_types() {
                if view.name_is(&ty, name) {
                    out.push(TypeId {
                        unit: unit as u32,
                        id,
                    });
                }
            }
        }
        out
    }

    /// The struct (or, with `union`, the union) named `name` that has a body: the first complete one, vmlinux
    /// first. `None` if there is none (also when only a forward declaration exists).
    pub fn composite_named(&self, name: &str, union: bool) -> Option<TypeId> {
        self.types_named(name)
            .into_iter()
            .find(|&id| matches!(self.type_of(id), Some(Type::Composite(c)) if c.is_union == union))
    }

    /// Every enumerator named `name`, as (its enum's type, its value), vmlinux first.
    pub fn enumerators_named(&self, name: &str) -> Vec<(TypeId, u64)> {
        let mut out = Vec::new();
        for (unit, view) in self.views().enumerate() {
            for (id, ty) in view.own_types() {
                if !matches!(ty.kind(), kind::ENUM | kind::ENUM64) {
                    continue;
                }
                let stride = if ty.kind() == kind::ENUM { 2 } else { 3 };
                // Compare names before decoding the enum: most enums do not hold the name.
                if (0..ty.vlen()).any(|i| view.str(ty.tail_u32(stride * i)) == name) {
                    for (n, v) in view.enumerators(&ty) {
                        if n == name {
                            out.push((
                                TypeId {
                                    unit: unit as u32,
                                    id,
                                },
                                v,
                            ));
                        }
                    }
                }
            }
        }
        out
    }

    /// Decodes one type; `None` for an id past the end of its unit.
    pub fn type_of(&self, id: TypeId) -> Option<Type<'_>> {
        if id.id == 0 {
            return Some(Type::Void);
        }
        let view = self.view_of(id.unit)?;
        let ty = view.ty(id.id)?;
        let at = |raw: u32| self.id_in(id.unit, raw);
        let name = view.name(&ty);
        Some(match ty.kind() {
            kind::INT => {
                let enc = ty.tail_u32(0);
                Type::Int(IntType {
                    name,
                    size: ty.rec.size_type,
                    signed: enc >> 24 & 1 != 0,
                    char: enc >> 24 & 2 != 0,
                    bool: enc >> 24 & 4 != 0,
                    bit_offset: enc >> 16 & 0xff,
                    bits: enc & 0xff,
                })
            }
            kind::PTR => Type::Ptr {
                target: at(ty.rec.size_type),
            },
            kind::ARRAY => Type::Array {
                elem: at(ty.tail_u32(0)),
                len: ty.tail_u32(2),
            },
            kind::STRUCT | kind::UNION => Type::Composite(Composite {
                name,
                size: ty.rec.size_type,
                is_union: ty.kind() == kind::UNION,
                members: self.members_of(id.unit, &view, &ty),
            }),
            kind::ENUM | kind::ENUM64 => Type::Enum(EnumType {
                name,
                size: ty.rec.size_type,
                signed: ty.rec.kind_flag(),
                values: view.enumerators(&ty),
            }),
            kind::FWD => Type::Fwd {
                name,
                is_union: ty.rec.kind_flag(),
            },
            kind::TYPEDEF => Type::Typedef {
                name,
                target: at(ty.rec.size_type),
            },
            kind::CONST | kind::VOLATILE | kind::RESTRICT | kind::TYPE_TAG => Type::Qualified {
                qualifier: match ty.kind() {
                    kind::CONST => Qualifier::Const,
                    kind::VOLATILE => Qualifier::Volatile,
                    kind::RESTRICT => Qualifier::Restrict,
                    _ => Qualifier::TypeTag,
                },
                name,
                target: at(ty.rec.size_type),
            },
            kind::FLOAT => Type::Float {
                name,
                size: ty.rec.size_type,
            },
            k => Type::Other { kind: k, name },
        })
    }

    fn members_of<'a>(&'a self, unit: u32, view: &View<'a>, ty: &Ty<'a>) -> Vec<Member<'a>> {
        let kflag = ty.rec.kind_flag();
        (0..ty.vlen())
            .map(|i| {
                let raw_ty = ty.tail_u32(3 * i + 1);
                let off = ty.tail_u32(3 * i + 2);
                let mty = self.id_in(unit, raw_ty);
                let (mut bit_offset, mut bitfield_size) = if kflag {
                    (off & 0x00ff_ffff, off >> 24)
                } else {
                    (off, 0)
                };
                // Old-style bitfields: the width and extra offset sit in the INT type.
                if !kflag && let Some((size, enc)) = self.int_encoding(self.resolve(mty)) {
                    let (int_off, bits) = (enc >> 16 & 0xff, enc & 0xff);
                    if bits < size.saturating_mul(8) || int_off > 0 {
                        bit_offset += int_off;
                        bitfield_size = bits;
                    }
                }
                Member {
                    name: view.str(ty.tail_u32(3 * i)),
                    ty: mty,
                    bit_offset,
                    bitfield_size,
                }
            })
            .collect()
    }

    /// Follows typedefs, qualifiers and type tags to the underlying type; [`TypeId::VOID`] for a chain that
    /// breaks or loops.
    pub fn resolve(&self, mut id: TypeId) -> TypeId {
        for _ in 0..MAX_CHAIN {
            if id.id == 0 {
                return id;
            }
            let Some(ty) = self.view_of(id.unit).and_then(|v| v.ty(id.id)) else {
                return TypeId::VOID;
            };
            match ty.kind() {
                kind::TYPEDEF | kind::CONST | kind::VOLATILE | kind::RESTRICT | kind::TYPE_TAG => {
                    id = self.id_in(id.unit, ty.rec.size_type)
                }
                _ => return id,
            }
        }
        TypeId::VOID
    }

    /// The raw kind and encoding word of an `INT` (cheap: no members are decoded).
    fn int_encoding(&self, id: TypeId) -> Option<(u32, u32)> {
        let ty = self.view_of(id.unit)?.ty(id.id)?;
        (ty.kind() == kind::INT).then(|| (ty.rec.size_type, ty.tail_u32(0)))
    }

    /// The size of a value of this type in bytes, as `sizeof` gives it; `None` for void, functions, forward
    /// declarations and anything malformed.
    pub fn size_of(&self, id: TypeId) -> Option<u64> {
        let mut id = id;
        let mut mult = 1u64;
        for _ in 0..MAX_CHAIN {
            id = self.resolve(id);
            match self.type_of(id)? {
                Type::Int(t) => return mult.checked_mul(t.size as u64),
                Type::Ptr { .. } => return mult.checked_mul(POINTER_SIZE as u64),
                Type::Composite(c) => return mult.checked_mul(c.size as u64),
                Type::Enum(e) => return mult.checked_mul(e.size as u64),
                Type::Float { size, .. } => return mult.checked_mul(size as u64),
                Type::Array { elem, len } => {
                    mult = mult.checked_mul(len as u64)?;
                    id = elem;
                }
                _ => return None,
            }
        }
        None
    }
}
