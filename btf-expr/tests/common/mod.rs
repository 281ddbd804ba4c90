//! Shared by the tests: the BTF blobs (committed kernel subsets and a hand-built one with every edge case),
//! a random generator of member paths, memory images and expressions, and a plain evaluator (the oracle) of
//! those expressions on those images. The generator derives offsets by walking the BTF itself, member by
//! member, so the compiler's name lookup, offsets, bitfields and byte order are checked against an
//! independent computation.
#![allow(dead_code)]

use std::collections::HashMap;

use btf_expr::{CmpOp, Memory, Value};
use symbols::{Btf, Type, TypeId};
use testkit::btf::{BtfBuilder, CONST, STRUCT, UNION, VOLATILE};

pub fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("tests/data/{name}: {e}"))
}

/// A BTF the tests run on: (label, btf, [(root name, struct)]).
pub type Corpus = (&'static str, Btf, Vec<(&'static str, &'static str)>);

/// The BTFs the tests run on, with the roots they use.
pub fn corpora() -> Vec<Corpus> {
    let kernel = |f: &str| Btf::from_bytes(data(f)).unwrap();
    vec![
        (
            "6.18",
            kernel("kernel-6.18.btf"),
            vec![("skb", "sk_buff"), ("xdp", "xdp_buff")],
        ),
        (
            "6.1",
            kernel("debian-6.1.btf"),
            vec![("skb", "sk_buff"), ("xdp", "xdp_buff")],
        ),
        (
            "edge",
            Btf::from_bytes(edge_btf()).unwrap(),
            vec![("e", "edge")],
        ),
    ]
}

/// A hand-built BTF with what real kernels have little or none of: signed bitfields, bitfields spanning 3-8
/// bytes, old-style (INT-encoded) bitfields, enum64, signed and 1-byte enums, `__be` typedefs, qualifier
/// chains, nested anonymous members, pointers to scalars, flexible arrays, forward declarations, a float.
pub fn edge_btf() -> Vec<u8> {
    let mut b = BtfBuilder::new();
    let u8_ = b.int_encoded("unsigned char", 1, 0, 0, 8);
    let s8 = b.int_encoded("signed char", 1, 1, 0, 8);
    let char_ = b.int_encoded("char", 1, 2, 0, 8);
    let u16_ = b.int_encoded("short unsigned int", 2, 0, 0, 16);
    let s16 = b.int_encoded("short int", 2, 1, 0, 16);
    let u32_ = b.int_encoded("unsigned int", 4, 0, 0, 32);
    let s32 = b.int_encoded("int", 4, 1, 0, 32);
    let u64_ = b.int_encoded("long long unsigned int", 8, 0, 0, 64);
    let s64 = b.int_encoded("long long int", 8, 1, 0, 64);
    let bool_ = b.int_encoded("_Bool", 1, 4, 0, 8);
    let float = b.float("float", 4);
    let td_u16 = b.typedef("__u16", u16_);
    let be16 = b.typedef("__be16", td_u16);
    let td_u32 = b.typedef("__u32", u32_);
    let be32 = b.typedef("__be32", td_u32);
    let be64 = b.typedef("__be64", u64_);
    let c = b.modifier(CONST, u32_);
    let cv = b.modifier(VOLATILE, c);
    let cvu32 = b.typedef("cvu32", cv);
    let e64 = b.enum_sized(
        "big",
        8,
        false,
        &[("BIG_A", 1), ("BIG_B", 0x1_0000_0000), ("BIG_C", -1)],
    );
    let es = b.enum_sized("neg", 4, true, &[("NEG_A", -5), ("NEG_B", 0), ("NEG_C", 7)]);
    let e1 = b.enum_sized("tiny", 1, false, &[("TINY_A", 0), ("TINY_B", 200)]);
    // Old-style bitfields: no kind flag, the width sits in the INT.
    let o4 = b.int_encoded("unsigned int", 4, 0, 0, 4);
    let o7 = b.int_encoded("int", 4, 1, 0, 7);
    let old = b.composite(STRUCT, "old", 4, &[("o1", o4, 0, 0), ("o2", o7, 4, 0)]);
    let pair = b.composite(STRUCT, "", 4, &[("ax", u16_, 0, 0), ("ay", u16_, 16, 0)]);
    let anon = b.composite(UNION, "", 4, &[("au", u32_, 0, 0), ("", pair, 0, 0)]);
    let inner = b.composite(STRUCT, "inner", 8, &[("x", u32_, 0, 0), ("y", s8, 32, 0)]);
    let arr_u16 = b.array(u16_, u32_, 3);
    let arr_inner = b.array(inner, u32_, 2);
    let name8 = b.array(char_, u32_, 8);
    let flex = b.array(u8_, u32_, 0);
    let charp = b.ptr(char_);
    let u32p = b.ptr(u32_);
    let opaque = b.fwd("opaque", false);
    let opaquep = b.ptr(opaque);
    let voidp = b.ptr(0);
    let innerp = b.ptr(inner);
    let edge_id = b.next_id() + 1;
    let edgep = b.ptr(edge_id);
    let edge = b.composite(
        STRUCT,
        "edge",
        180,
        &[
            ("a", u8_, 0, 0),
            ("b", s8, 8, 0),
            ("c", u16_, 16, 0),
            ("d", s16, 32, 0),
            ("f", s32, 64, 0),
            ("g", u64_, 128, 0),
            ("h", s64, 192, 0),
            ("bf1", u32_, 256, 3),
            ("bf2", s32, 259, 5),
            ("bf3", u64_, 264, 33),
            ("bf4", s64, 300, 60),
            ("ee", es, 360, 4),
            ("bb", bool_, 368, 0),
            ("ol", old, 384, 0),
            ("be16", be16, 448, 0),
            ("be32", be32, 480, 0),
            ("be64", be64, 512, 0),
            ("e64", e64, 576, 0),
            ("en", es, 640, 0),
            ("e1", e1, 672, 0),
            ("", anon, 704, 0),
            ("cv", cvu32, 736, 0),
            ("name", name8, 768, 0),
            ("str", charp, 832, 0),
            ("next", edgep, 896, 0),
            ("op", opaquep, 960, 0),
            ("arr", arr_u16, 1024, 0),
            ("inn", arr_inner, 1088, 0),
            ("vp", voidp, 1216, 0),
            ("pi", u32p, 1280, 0),
            ("ip", innerp, 1344, 0),
            ("fl", float, 1408, 0),
            ("flex", flex, 1440, 0),
        ],
    );
    assert_eq!(edge, edge_id);
    b.build()
}

/// splitmix64: small, seedable, good enough to drive a generator.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

/// A memory image under construction. Regions are spaced apart, so a read that leaves one faults.
pub struct Image {
    pub regions: Vec<(u64, Vec<u8>)>,
    /// Pointer slots whose target was decided: (address) -> target.
    decided: HashMap<u64, u64>,
    /// Regions holding an object of a type, for pointers that alias (`e->next` back to the root).
    by_type: HashMap<TypeId, Vec<u64>>,
    next: u64,
}

const REGION_BASE: u64 = 0xffff_8880_0000_0000;
const BAD_BASE: u64 = 0xffff_dead_0000_0000;

impl Image {
    pub fn new() -> Self {
        Image {
            regions: Vec::new(),
            decided: HashMap::new(),
            by_type: HashMap::new(),
            next: REGION_BASE,
        }
    }

    pub fn alloc(&mut self, rng: &mut Rng, size: usize) -> u64 {
        let addr = self.next + rng.below(8) * 8;
        self.next += (size as u64).div_ceil(0x1000).max(1) * 0x1000 + 0x1000;
        let bytes = (0..size).map(|_| random_byte(rng)).collect();
        self.regions.push((addr, bytes));
        addr
    }

    fn region_mut(&mut self, addr: u64, len: usize) -> Option<&mut [u8]> {
        self.regions.iter_mut().find_map(|(start, b)| {
            let from = addr.checked_sub(*start)? as usize;
            b.get_mut(from..from.checked_add(len)?)
        })
    }

    pub fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        self.regions.iter().find_map(|(start, b)| {
            let from = addr.checked_sub(*start)? as usize;
            b.get(from..from.checked_add(len)?)
        })
    }

    pub fn write(&mut self, addr: u64, bytes: &[u8]) {
        if let Some(r) = self.region_mut(addr, bytes.len()) {
            r.copy_from_slice(bytes);
        }
    }

    pub fn memory(&self) -> Memory {
        let mut m = Memory::new();
        for (a, b) in &self.regions {
            m.insert(*a, b.clone());
        }
        m
    }

    fn u64_at(&self, addr: u64) -> Option<u64> {
        self.read(addr, 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    }
}

/// Mostly small numbers and zeros, so NULs and small values turn up often.
fn random_byte(rng: &mut Rng) -> u8 {
    match rng.below(4) {
        0 => 0,
        1 => rng.below(8) as u8,
        _ => rng.next() as u8,
    }
}

/// Why a path has no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fail {
    Null,
    Fault,
}

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

/// The byte offset of member `name` (anonymous members flattened) in struct `strukt`.
pub fn member_offset(btf: &Btf, strukt: &str, name: &str) -> u64 {
    let id = btf.composite_named(strukt, false).expect("the struct");
    let mut v = Vec::new();
    flat_members(btf, id, 0, &mut v);
    let (_, _, bits, _) = v.iter().find(|m| m.0 == name).expect("the member");
    bits / 8
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

/// The oracle: evaluates paths on an image the way C would, NULL and unmapped pointers aside.
pub struct Oracle<'a> {
    pub img: &'a Image,
    pub root: u64,
}

impl Oracle<'_> {
    fn base(&self, hops: &[u64]) -> Result<u64, Fail> {
        let mut base = self.root;
        if base == 0 {
            return Err(Fail::Null);
        }
        for h in hops {
            base = self.img.u64_at(base.wrapping_add(*h)).ok_or(Fail::Fault)?;
            if base == 0 {
                return Err(Fail::Null);
            }
        }
        Ok(base)
    }

    /// The integer value of a scalar, pointer or root path.
    pub fn value(&self, p: &Path) -> Result<i128, Fail> {
        match &p.leaf {
            Leaf::Root => Ok(self.root as i128),
            Leaf::Pointer { off } => {
                let base = self.base(&p.hops)?;
                Ok(self.img.u64_at(base + off).ok_or(Fail::Fault)? as i128)
            }
            Leaf::Scalar {
                bit_off,
                bits,
                size,
                bitfield,
                signed,
                swap,
                ..
            } => {
                let base = self.base(&p.hops)?;
                let (start, shift, n) = if *bitfield {
                    let shift = (bit_off % 8) as u32;
                    (bit_off / 8, shift, (shift + bits).div_ceil(8))
                } else {
                    (bit_off / 8, 0, *size)
                };
                let bytes = self.img.read(base + start, n as usize).ok_or(Fail::Fault)?;
                let mut b = bytes.to_vec();
                if *swap {
                    b.reverse();
                }
                let mut raw: u128 = 0;
                for (i, x) in b.iter().enumerate() {
                    raw |= (*x as u128) << (8 * i);
                }
                let v = (raw >> shift) & ((1u128 << bits) - 1);
                Ok(if *signed && v >> (bits - 1) & 1 == 1 {
                    v as i128 - (1i128 << bits)
                } else {
                    v as i128
                })
            }
            _ => unreachable!("not a value path: {}", p.text),
        }
    }

    /// The bytes of a string path (up to the NUL, at most `cap`), as the fetcher reads them.
    pub fn string(&self, p: &Path, cap: usize) -> Result<Vec<u8>, Fail> {
        let base = self.base(&p.hops)?;
        match p.leaf {
            Leaf::StrArray { off, .. } => {
                let b = self.img.read(base + off, cap).ok_or(Fail::Fault)?;
                Ok(b.iter().take_while(|&&c| c != 0).copied().collect())
            }
            Leaf::StrPtr { off } => {
                let s = self.img.u64_at(base + off).ok_or(Fail::Fault)?;
                if s == 0 {
                    return Err(Fail::Null);
                }
                let mut out = Vec::new();
                for i in 0..cap as u64 - 1 {
                    match self.img.read(s + i, 1) {
                        Some([0]) => return Ok(out),
                        Some(&[c]) => out.push(c),
                        _ => return Err(Fail::Fault),
                    }
                }
                Ok(out)
            }
            _ => unreachable!("not a string path"),
        }
    }

    /// Whether the string path equals `lit` as C's strcmp would (for an array: up to its length).
    pub fn str_eq(&self, p: &Path, lit: &[u8]) -> Result<bool, Fail> {
        match p.leaf {
            Leaf::StrArray { off, len } => {
                let base = self.base(&p.hops)?;
                let n = if len == 0 {
                    lit.len() + 1
                } else {
                    (lit.len() + 1).min(len as usize)
                };
                let b = self.img.read(base + off, n).ok_or(Fail::Fault)?;
                let mut want = lit.to_vec();
                want.push(0);
                Ok(b == &want[..n])
            }
            Leaf::StrPtr { .. } => {
                let s = self.string(p, lit.len() + 2)?;
                Ok(s == lit)
            }
            _ => unreachable!("not a string path"),
        }
    }

    pub fn bytes(&self, p: &Path) -> Result<Vec<u8>, Fail> {
        let Leaf::Bytes { off, len } = p.leaf else {
            unreachable!("not a bytes path")
        };
        let base = self.base(&p.hops)?;
        Ok(self
            .img
            .read(base + off, len as usize)
            .ok_or(Fail::Fault)?
            .to_vec())
    }
}

/// An expression the generator built, in a form both the renderer and the oracle read.
#[derive(Clone, Debug)]
pub enum OVal {
    Const(i128, String),
    Path(Path),
    Mask(Box<OVal>, Box<OVal>),
}

#[derive(Clone, Debug)]
pub enum OCond {
    Cmp(CmpOp, OVal, OVal),
    Truth(OVal),
    Str {
        path: Path,
        lit: Vec<u8>,
        negate: bool,
    },
    Not(Box<OCond>),
    And(Box<OCond>, Box<OCond>),
    Or(Box<OCond>, Box<OCond>),
}

impl OVal {
    pub fn text(&self) -> String {
        match self {
            OVal::Const(_, t) => t.clone(),
            OVal::Path(p) => p.text.clone(),
            OVal::Mask(a, b) => format!("({} & {})", a.text(), b.text()),
        }
    }

    pub fn eval(&self, o: &Oracle) -> Result<i128, Fail> {
        match self {
            OVal::Const(c, _) => Ok(*c),
            OVal::Path(p) => o.value(p),
            // Two's-complement and on unbounded integers; the left side is read first.
            OVal::Mask(a, b) => {
                let x = a.eval(o)?;
                Ok(x & b.eval(o)?)
            }
        }
    }
}

impl OCond {
    pub fn text(&self, rng: &mut Rng) -> String {
        let t = match self {
            OCond::Cmp(op, a, b) => {
                let op = if *op == CmpOp::Eq && rng.chance(20) {
                    "="
                } else {
                    op.as_str()
                };
                let sp = if rng.chance(30) { "" } else { " " };
                format!("{}{sp}{op}{sp}{}", a.text(), b.text())
            }
            OCond::Truth(v) => v.text(),
            OCond::Str { path, lit, negate } => {
                let s = render_str(lit);
                let op = if *negate { "!=" } else { "==" };
                if rng.chance(20) {
                    format!("{s} {op} {}", path.text)
                } else {
                    format!("{} {op} {s}", path.text)
                }
            }
            OCond::Not(c) => format!("!({})", c.text(rng)),
            OCond::And(a, b) => format!("({}) && ({})", a.text(rng), b.text(rng)),
            OCond::Or(a, b) => format!("{} || {}", paren(a, rng), paren(b, rng)),
        };
        if rng.chance(10) { format!("({t})") } else { t }
    }

    /// C semantics, except that a comparison whose operand cannot be read is false.
    pub fn eval(&self, o: &Oracle) -> bool {
        match self {
            OCond::Cmp(op, a, b) => match (a.eval(o), b.eval(o)) {
                (Ok(x), Ok(y)) => op.holds(x, y),
                _ => false,
            },
            OCond::Truth(v) => v.eval(o).is_ok_and(|x| x != 0),
            OCond::Str { path, lit, negate } => o.str_eq(path, lit).is_ok_and(|eq| eq != *negate),
            OCond::Not(c) => !c.eval(o),
            OCond::And(a, b) => a.eval(o) && b.eval(o),
            OCond::Or(a, b) => a.eval(o) || b.eval(o),
        }
    }
}

fn paren(c: &OCond, rng: &mut Rng) -> String {
    match c {
        OCond::Or(..) | OCond::And(..) => format!("({})", c.text(rng)),
        _ => c.text(rng),
    }
}

/// A C string literal for `lit`: printable ASCII as is, the rest as `\xNN` escapes.
pub fn render_str(lit: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in lit {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

/// The compiler's decoded value as a number (for comparing with the oracle's).
pub fn number(v: &Value) -> Option<i128> {
    Some(match v {
        Value::Unsigned(x) => *x as i128,
        Value::Signed(x) => *x as i128,
        Value::Enum(x, _) => *x,
        Value::Bool(b) => *b as i128,
        Value::Pointer(p) => *p as i128,
        _ => return None,
    })
}
