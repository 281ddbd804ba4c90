//! A BTF writer for tests: hand-built blobs with every kind the compiler meets (bitfields of both encodings,
//! enum64, typedef and qualifier chains, anonymous members, forward declarations), and the encoder behind
//! `examples/btf_subset.rs`, which cuts a small blob of real kernel types out of a vmlinux BTF.
#![allow(dead_code)]

use std::collections::HashMap;

pub const INT: u32 = 1;
pub const PTR: u32 = 2;
pub const ARRAY: u32 = 3;
pub const STRUCT: u32 = 4;
pub const UNION: u32 = 5;
pub const ENUM: u32 = 6;
pub const FWD: u32 = 7;
pub const TYPEDEF: u32 = 8;
pub const VOLATILE: u32 = 9;
pub const CONST: u32 = 10;
pub const RESTRICT: u32 = 11;
pub const FLOAT: u32 = 16;
pub const TYPE_TAG: u32 = 18;
pub const ENUM64: u32 = 19;

/// One member: name, type, bit offset, bitfield width (0 = none).
pub type MemberSpec = (String, u32, u32, u32);

#[derive(Clone, Debug)]
pub enum Rec {
    Int {
        name: String,
        size: u32,
        /// BTF_INT_SIGNED | CHAR | BOOL bits (1, 2, 4).
        encoding: u32,
        bit_offset: u32,
        bits: u32,
    },
    Ptr(u32),
    Array {
        elem: u32,
        index: u32,
        len: u32,
    },
    Composite {
        name: String,
        size: u32,
        union: bool,
        members: Vec<MemberSpec>,
        /// Encode bitfields in the INT types (kind_flag 0), as BTF before 5.4 did: the member types must
        /// then be INTs with the right bit_offset/bits already.
        old_style: bool,
    },
    Enum {
        name: String,
        size: u32,
        signed: bool,
        values: Vec<(String, u64)>,
    },
    Fwd {
        name: String,
        union: bool,
    },
    /// TYPEDEF, VOLATILE, CONST, RESTRICT or TYPE_TAG with a name (typedef, tag) or none.
    Ref {
        kind: u32,
        name: String,
        ty: u32,
    },
    Float {
        name: String,
        size: u32,
    },
}

#[derive(Default)]
pub struct BtfWriter {
    /// Type `i + 1`; `None` while reserved.
    recs: Vec<Option<Rec>>,
}

impl BtfWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reserves the next id, to be filled with [`BtfWriter::set`] (for forward references).
    pub fn reserve(&mut self) -> u32 {
        self.recs.push(None);
        self.recs.len() as u32
    }

    pub fn set(&mut self, id: u32, rec: Rec) {
        self.recs[id as usize - 1] = Some(rec);
    }

    pub fn add(&mut self, rec: Rec) -> u32 {
        let id = self.reserve();
        self.set(id, rec);
        id
    }

    pub fn int(&mut self, name: &str, size: u32, signed: bool) -> u32 {
        self.add(Rec::Int {
            name: name.into(),
            size,
            encoding: signed as u32,
            bit_offset: 0,
            bits: size * 8,
        })
    }

    pub fn ptr(&mut self, to: u32) -> u32 {
        self.add(Rec::Ptr(to))
    }

    pub fn array(&mut self, elem: u32, index: u32, len: u32) -> u32 {
        self.add(Rec::Array { elem, index, len })
    }

    pub fn typedef(&mut self, name: &str, to: u32) -> u32 {
        self.add(Rec::Ref {
            kind: TYPEDEF,
            name: name.into(),
            ty: to,
        })
    }

    pub fn qual(&mut self, kind: u32, to: u32) -> u32 {
        self.add(Rec::Ref {
            kind,
            name: String::new(),
            ty: to,
        })
    }

    /// A struct or union; members are (name, type, bit offset, bitfield width).
    pub fn composite(
        &mut self,
        name: &str,
        size: u32,
        union: bool,
        members: &[(&str, u32, u32, u32)],
    ) -> u32 {
        self.add(Rec::Composite {
            name: name.into(),
            size,
            union,
            members: members
                .iter()
                .map(|(n, t, o, b)| (n.to_string(), *t, *o, *b))
                .collect(),
            old_style: false,
        })
    }

    pub fn enumeration(
        &mut self,
        name: &str,
        size: u32,
        signed: bool,
        values: &[(&str, i64)],
    ) -> u32 {
        self.add(Rec::Enum {
            name: name.into(),
            size,
            signed,
            values: values
                .iter()
                .map(|(n, v)| (n.to_string(), *v as u64))
                .collect(),
        })
    }

    pub fn fwd(&mut self, name: &str, union: bool) -> u32 {
        self.add(Rec::Fwd {
            name: name.into(),
            union,
        })
    }

    /// The raw blob: header, types, strings.
    pub fn build(&self) -> Vec<u8> {
        let mut strs: Vec<u8> = vec![0];
        let mut index: HashMap<String, u32> = HashMap::new();
        let mut name = |s: &str| -> u32 {
            if s.is_empty() {
                return 0;
            }
            *index.entry(s.to_string()).or_insert_with(|| {
                let off = strs.len() as u32;
                strs.extend_from_slice(s.as_bytes());
                strs.push(0);
                off
            })
        };
        let mut t: Vec<u8> = Vec::new();
        let w = |t: &mut Vec<u8>, v: u32| t.extend_from_slice(&v.to_le_bytes());
        for rec in &self.recs {
            let rec = rec.as_ref().expect("every reserved type is set");
            let head = |t: &mut Vec<u8>, n: u32, kind: u32, vlen: u32, kflag: bool, st: u32| {
                w(t, n);
                w(t, (kflag as u32) << 31 | kind << 24 | vlen);
                w(t, st);
            };
            match rec {
                Rec::Int {
                    name: n,
                    size,
                    encoding,
                    bit_offset,
                    bits,
                } => {
                    head(&mut t, name(n), INT, 0, false, *size);
                    w(&mut t, encoding << 24 | bit_offset << 16 | bits);
                }
                Rec::Ptr(to) => head(&mut t, 0, PTR, 0, false, *to),
                Rec::Array { elem, index, len } => {
                    head(&mut t, 0, ARRAY, 0, false, 0);
                    w(&mut t, *elem);
                    w(&mut t, *index);
                    w(&mut t, *len);
                }
                Rec::Composite {
                    name: n,
                    size,
                    union,
                    members,
                    old_style,
                } => {
                    let kflag = !old_style && members.iter().any(|m| m.3 > 0);
                    let kind = if *union { UNION } else { STRUCT };
                    let offs: Vec<u32> = members.iter().map(|m| name(&m.0)).collect();
                    head(&mut t, name(n), kind, members.len() as u32, kflag, *size);
                    for (m, off) in members.iter().zip(offs) {
                        w(&mut t, off);
                        w(&mut t, m.1);
                        w(&mut t, if kflag { m.3 << 24 | m.2 } else { m.2 });
                    }
                }
                Rec::Enum {
                    name: n,
                    size,
                    signed,
                    values,
                } => {
                    let offs: Vec<u32> = values.iter().map(|v| name(&v.0)).collect();
                    let kind = if *size == 8 { ENUM64 } else { ENUM };
                    head(&mut t, name(n), kind, values.len() as u32, *signed, *size);
                    for (v, off) in values.iter().zip(offs) {
                        w(&mut t, off);
                        w(&mut t, v.1 as u32);
                        if kind == ENUM64 {
                            w(&mut t, (v.1 >> 32) as u32);
                        }
                    }
                }
                Rec::Fwd { name: n, union } => head(&mut t, name(n), FWD, 0, *union, 0),
                Rec::Ref { kind, name: n, ty } => head(&mut t, name(n), *kind, 0, false, *ty),
                Rec::Float { name: n, size } => head(&mut t, name(n), FLOAT, 0, false, *size),
            }
        }
        let mut out = Vec::new();
        out.extend_from_slice(&0xeb9fu16.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        for v in [24, 0, t.len() as u32, t.len() as u32, strs.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&t);
        out.extend_from_slice(&strs);
        out
    }
}
