//! The generator: random member paths and expressions, with offsets derived by walking the BTF member by member.

use std::collections::HashMap;

use symbols::{Btf, Type, TypeId};

use super::image::BAD_BASE;
use super::{Image, Rng};

/// What a path ends at, as the generator derived it from the BTF.
#[derive(Clone, Debug)]
pub enum Leaf {
    Scalar {
        /// Bit offset from the last base.
        bit_off: u64,
        bits: u32,
        /// Bytes of storage (non-bitfields).
        size: u32,
        bitfield: bool,
        signed: bool,
        swap: bool,
        enum_values: Vec<(String, i128)>,
        is_bool: bool,
    },
    Pointer {
        off: u64,
    },
    StrArray {
        off: u64,
        len: u32,
    },
    /// A `char *` at `off`.
    StrPtr {
        off: u64,
    },
    Bytes {
        off: u64,
        len: u32,
    },
    /// The root pointer itself.
    Root,
}

#[derive(Clone, Debug)]
pub struct Path {
    pub text: String,
    pub hops: Vec<u64>,
    pub leaf: Leaf,
}

impl Leaf {
    pub fn range(&self) -> (i128, i128) {
        match self {
            Leaf::Scalar { bits, signed, .. } => {
                if *signed {
                    (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
                } else {
                    (0, (1i128 << bits) - 1)
                }
            }
            _ => (0, u64::MAX as i128),
        }
    }
}

pub struct Walker<'a> {
    pub btf: &'a Btf,
    pub root_name: &'a str,
    pub root_ty: TypeId,
    pub root_addr: u64,
}

/// The byte offset of member `name` (anonymous members flattened) in struct `strukt`.
pub fn member_offset(btf: &Btf, strukt: &str, name: &str) -> u64 {
    let id = btf.composite_named(strukt, false).expect("the struct");
    let mut v = Vec::new();
    flat_members(btf, id, 0, &mut v);
    let (_, _, bits, _) = v.iter().find(|m| m.0 == name).expect("the member");
    bits / 8
}

/// Members of a struct as C names them, anonymous ones flattened: (name, declared type, bit offset,
/// bitfield width).
fn flat_members(btf: &Btf, id: TypeId, base: u64, out: &mut Vec<(String, TypeId, u64, u32)>) {
    let Some(Type::Composite(c)) = btf.type_of(btf.resolve(id)) else {
        return;
    };
    for m in &c.members {
        if m.name.is_empty() {
            flat_members(btf, m.ty, base + m.bit_offset as u64, out);
        } else {
            out.push((
                m.name.to_string(),
                m.ty,
                base + m.bit_offset as u64,
                m.bitfield_size,
            ));
        }
    }
}

type Flat = std::rc::Rc<Vec<(String, TypeId, u64, u32)>>;

thread_local! {
    /// Flattened members per (BTF, struct): the generator walks the same structs millions of times.
    static MEMBERS: std::cell::RefCell<HashMap<(usize, TypeId), Flat>> = Default::default();
}

fn members_cached(btf: &Btf, id: TypeId) -> Flat {
    let key = (btf as *const Btf as usize, id);
    MEMBERS.with(|m| {
        m.borrow_mut()
            .entry(key)
            .or_insert_with(|| {
                let mut v = Vec::new();
                flat_members(btf, id, 0, &mut v);
                std::rc::Rc::new(v)
            })
            .clone()
    })
}

fn is_be(btf: &Btf, mut id: TypeId) -> bool {
    for _ in 0..16 {
        match btf.type_of(id) {
            Some(Type::Typedef { name, target }) => {
                if name.starts_with("__be") {
                    return true;
                }
                id = target;
            }
            Some(Type::Qualified { target, .. }) => id = target,
            _ => return false,
        }
    }
    false
}

/// Compares with strings.
fn charlike(btf: &Btf, id: TypeId) -> bool {
    matches!(btf.type_of(btf.resolve(id)), Some(Type::Int(i)) if i.size == 1 && !i.bool)
}

/// Prints as text (plain `char`).
fn textchar(btf: &Btf, id: TypeId) -> bool {
    matches!(btf.type_of(btf.resolve(id)), Some(Type::Int(i)) if i.size == 1 && (i.char || i.name == "char"))
}

/// What kinds of leaf a walk may end at.
#[derive(Clone, Copy)]
pub struct Want {
    pub scalar: bool,
    pub pointer: bool,
    pub string: bool,
    pub bytes: bool,
    /// For a fetch: plain `char` arrays and pointers are strings (always), other byte arrays are bytes.
    pub fetch: bool,
}

impl Walker<'_> {
    /// The current object's address (None when a NULL or bad pointer was crossed).
    fn follow(&self, img: &Image, hops: &[u64]) -> Option<u64> {
        let mut base = self.root_addr;
        if base == 0 {
            return None;
        }
        for h in hops {
            base = img.u64_at(base + h)?;
            if base == 0 {
                return None;
            }
        }
        Some(base)
    }

    /// Decides where the pointer at `slot` points, once: NULL, a bad address, a new object of `target`
    /// (with room for `count` elements), or an existing object of that type.
    fn decide(
        &self,
        img: &mut Image,
        rng: &mut Rng,
        slot: u64,
        target: TypeId,
        count: u64,
        string: bool,
    ) {
        if img.decided.contains_key(&slot) || img.read(slot, 8).is_none() {
            return;
        }
        let value = match rng.below(20) {
            0 | 1 => 0,
            2 => BAD_BASE + rng.below(1 << 20) * 8,
            3 if !string && img.by_type.contains_key(&target) => *rng.pick(&img.by_type[&target]),
            _ if string => {
                let len = rng.below(12) as usize;
                let addr = img.alloc(rng, len + 1);
                let s: Vec<u8> = (0..len).map(|_| b'a' + rng.below(4) as u8).collect();
                img.write(addr, &s);
                // Sometimes no NUL: the region ends first and the string read faults.
                let end = if rng.chance(20) { 1 } else { 0 };
                img.write(addr + len as u64, &[end]);
                addr
            }
            _ => {
                let size = self.btf.size_of(target).unwrap_or(8).max(1) * count.max(1);
                let a = img.alloc(rng, size as usize);
                img.by_type.entry(target).or_default().push(a);
                a
            }
        };
        img.write(slot, &value.to_le_bytes());
        img.decided.insert(slot, value);
    }

    /// A random path from the root, deciding the pointers it crosses; None if the walk found no leaf.
    pub fn walk(&self, img: &mut Image, rng: &mut Rng, want: Want) -> Option<Path> {
        let root_struct = self.btf.resolve(self.root_ty);
        img.by_type
            .entry(root_struct)
            .or_insert_with(|| vec![self.root_addr]);
        let mut text = self.root_name.to_string();
        let mut hops: Vec<u64> = Vec::new();
        if want.pointer && rng.chance(2) {
            return Some(Path {
                text,
                hops,
                leaf: Leaf::Root,
            });
        }
        // At an object of type `ty`, `off` bits after the last base; `sep` goes before a member name.
        let mut ty = root_struct;
        let mut off: u64 = 0;
        let mut sep = if rng.chance(3) {
            text.push_str("[0]");
            "."
        } else {
            text.push_str("->");
            ""
        };
        for _step in 0..12 {
            let resolved = self.btf.resolve(ty);
            match self.btf.type_of(resolved)? {
                Type::Composite(_) => {
                    let ms = members_cached(self.btf, resolved);
                    if ms.is_empty() {
                        return None;
                    }
                    let (name, mty, moff, bf) = rng.pick(&ms).clone();
                    let moff = moff + off;
                    text.push_str(sep);
                    text.push_str(&name);
                    sep = ".";
                    if bf > 0 {
                        return self.scalar(text, hops, mty, moff, bf, want);
                    }
                    ty = mty;
                    off = moff;
                }
                Type::Int(_) | Type::Enum(_) => return self.scalar(text, hops, ty, off, 0, want),
                Type::Ptr { target } => {
                    let t = self.btf.resolve(target);
                    let tt = self.btf.type_of(t)?;
                    let slot_off = off / 8;
                    let string = if want.fetch {
                        textchar(self.btf, target)
                    } else {
                        want.string && charlike(self.btf, target) && rng.chance(50)
                    };
                    if string {
                        if let Some(base) = self.follow(img, &hops) {
                            self.decide(img, rng, base + slot_off, t, 1, true);
                        }
                        return Some(Path {
                            text,
                            hops,
                            leaf: Leaf::StrPtr { off: slot_off },
                        });
                    }
                    let composite = matches!(tt, Type::Composite(_));
                    let sized = self.btf.size_of(t).is_some_and(|s| s > 0)
                        && matches!(
                            tt,
                            Type::Composite(_) | Type::Int(_) | Type::Enum(_) | Type::Ptr { .. }
                        );
                    let stop = want.pointer && rng.chance(if composite { 15 } else { 50 });
                    if stop || !sized || hops.len() >= 4 {
                        return want.pointer.then_some(Path {
                            text,
                            hops,
                            leaf: Leaf::Pointer { off: slot_off },
                        });
                    }
                    let index = if composite && rng.chance(85) {
                        None
                    } else {
                        Some(rng.below(3))
                    };
                    if let Some(base) = self.follow(img, &hops) {
                        self.decide(img, rng, base + slot_off, t, index.unwrap_or(0) + 1, false);
                    }
                    hops.push(slot_off);
                    ty = target;
                    match index {
                        None => {
                            text.push_str("->");
                            sep = "";
                            off = 0;
                        }
                        Some(i) => {
                            text.push_str(&format!("[{i}]"));
                            sep = ".";
                            off = i * self.btf.size_of(t)? * 8;
                        }
                    }
                }
                Type::Array { elem, len } => {
                    if !off.is_multiple_of(8) {
                        return None;
                    }
                    let string = if want.fetch {
                        textchar(self.btf, elem)
                    } else {
                        want.string && charlike(self.btf, elem) && rng.chance(50)
                    };
                    if string {
                        return Some(Path {
                            text,
                            hops,
                            leaf: Leaf::StrArray { off: off / 8, len },
                        });
                    }
                    let size = self.btf.size_of(resolved)?;
                    let scalar_elem = matches!(
                        self.btf.type_of(self.btf.resolve(elem)),
                        Some(Type::Int(_) | Type::Enum(_) | Type::Ptr { .. })
                    );
                    if want.bytes && scalar_elem && len > 0 && size <= 64 && rng.chance(30) {
                        return Some(Path {
                            text,
                            hops,
                            leaf: Leaf::Bytes {
                                off: off / 8,
                                len: size as u32,
                            },
                        });
                    }
                    let i = if len == 0 {
                        rng.below(4)
                    } else {
                        rng.below(len as u64)
                    };
                    text.push_str(&format!("[{i}]"));
                    sep = ".";
                    off += i * self.btf.size_of(elem)? * 8;
                    ty = elem;
                }
                _ => return None,
            }
        }
        None
    }

    fn scalar(
        &self,
        text: String,
        hops: Vec<u64>,
        ty: TypeId,
        bit_off: u64,
        bitfield: u32,
        want: Want,
    ) -> Option<Path> {
        if !want.scalar {
            return None;
        }
        let r = self.btf.resolve(ty);
        let (size, bits, signed, is_bool, enum_values) = match self.btf.type_of(r)? {
            Type::Int(i) => {
                let bits = if i.bits == 0 || i.bits > i.size * 8 {
                    i.size * 8
                } else {
                    i.bits
                };
                (i.size, bits, i.signed && !i.bool, i.bool, Vec::new())
            }
            Type::Enum(e) => {
                let vals = e
                    .values
                    .iter()
                    .map(|(n, v)| {
                        (
                            n.to_string(),
                            if e.signed {
                                *v as i64 as i128
                            } else {
                                *v as i128
                            },
                        )
                    })
                    .collect();
                (e.size, e.size * 8, e.signed, false, vals)
            }
            _ => return None,
        };
        if size == 0 || size > 8 {
            return None;
        }
        let bits = if bitfield > 0 { bitfield } else { bits };
        if bitfield > 0 && ((bit_off % 8) as u32 + bits).div_ceil(8) > 8 {
            return None;
        }
        if bitfield == 0 && !bit_off.is_multiple_of(8) {
            return None;
        }
        Some(Path {
            text,
            hops,
            leaf: Leaf::Scalar {
                bit_off,
                bits,
                size,
                bitfield: bitfield > 0,
                signed,
                swap: bitfield == 0 && size > 1 && is_be(self.btf, ty),
                enum_values,
                is_bool,
            },
        })
    }
}
