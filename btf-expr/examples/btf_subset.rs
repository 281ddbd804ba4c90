//! Cuts a small BTF blob of real kernel types out of a vmlinux BTF, for btf-expr's committed test data.
//!
//!     cargo run -p btf-expr --example btf_subset -- /sys/kernel/btf/vmlinux btf-expr/tests/data/kernel-6.18.btf
//!
//! Kept in full: the structs named in `KEEP` and everything they embed (members, arrays, typedefs, enums),
//! so their layout is the kernel's. A pointer to any other struct or union becomes a pointer to a forward
//! declaration of it, and function pointers become `void *`: the offsets stay, the graph stays small.
//! The enums in `ENUMS` are copied too (for enumerator constants that no kept member uses).

use std::collections::{HashMap, HashSet};

use symbols::{Btf, Qualifier, Type, TypeId};
use testkit::btf::{BtfBuilder, CONST, RESTRICT, STRUCT, TYPE_TAG, TYPEDEF, UNION, VOLATILE};

/// A type to write, its references already renumbered. Ids are planned first (types refer to later ones), then
/// the records are written in id order.
enum Rec {
    Int {
        name: String,
        size: u32,
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
        members: Vec<(String, u32, u32, u32)>,
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

/// The planned records: type `i + 1` is `recs[i]`, `None` while its members are being planned.
#[derive(Default)]
struct Plan {
    recs: Vec<Option<Rec>>,
}

impl Plan {
    fn reserve(&mut self) -> u32 {
        self.recs.push(None);
        self.recs.len() as u32
    }
    fn set(&mut self, id: u32, rec: Rec) {
        self.recs[id as usize - 1] = Some(rec);
    }
    fn add(&mut self, rec: Rec) -> u32 {
        let id = self.reserve();
        self.set(id, rec);
        id
    }

    fn write(&self) -> Vec<u8> {
        let mut b = BtfBuilder::new();
        for (i, rec) in self.recs.iter().enumerate() {
            let id = match rec.as_ref().expect("every planned type is filled") {
                Rec::Int {
                    name,
                    size,
                    encoding,
                    bit_offset,
                    bits,
                } => b.int_encoded(name, *size, *encoding, *bit_offset, *bits),
                Rec::Ptr(to) => b.ptr(*to),
                Rec::Array { elem, index, len } => b.array(*elem, *index, *len),
                Rec::Composite {
                    name,
                    size,
                    union,
                    members,
                } => {
                    let ms: Vec<(&str, u32, u32, u32)> = members
                        .iter()
                        .map(|(n, t, o, w)| (n.as_str(), *t, *o, *w))
                        .collect();
                    b.composite(if *union { UNION } else { STRUCT }, name, *size, &ms)
                }
                Rec::Enum {
                    name,
                    size,
                    signed,
                    values,
                } => {
                    let vs: Vec<(&str, i64)> = values
                        .iter()
                        .map(|(n, v)| (n.as_str(), *v as i64))
                        .collect();
                    b.enum_sized(name, *size, *signed, &vs)
                }
                Rec::Fwd { name, union } => b.fwd(name, *union),
                Rec::Ref { kind, name, ty } if *kind == TYPEDEF => b.typedef(name, *ty),
                Rec::Ref { kind, name, ty } if *kind == TYPE_TAG => b.type_tag(name, *ty),
                Rec::Ref { kind, ty, .. } => b.modifier(*kind, *ty),
                Rec::Float { name, size } => b.float(name, *size),
            };
            assert_eq!(id as usize, i + 1, "ids follow the plan");
        }
        b.build()
    }
}

const KEEP: &[&str] = &[
    "sk_buff",
    "xdp_buff",
    "xdp_rxq_info",
    "net_device",
    "sock",
    "sock_common",
    "proto",
    "rtnl_link_ops",
    "net",
];
const ENUMS: &[&str] = &["skb_drop_reason", "pkt_hash_types", "sock_type"];

struct Subset<'a> {
    btf: &'a Btf,
    keep: HashSet<&'static str>,
    out: Plan,
    done: HashMap<TypeId, u32>,
    fwds: HashMap<(String, bool), u32>,
    index_int: Option<u32>,
}

impl Subset<'_> {
    fn index_int(&mut self) -> u32 {
        if let Some(i) = self.index_int {
            return i;
        }
        let i = self.out.add(Rec::Int {
            name: "__ARRAY_SIZE_TYPE__".into(),
            size: 4,
            encoding: 0,
            bit_offset: 0,
            bits: 32,
        });
        self.index_int = Some(i);
        i
    }

    /// The new id of a pointer's target: kept structs in full, others as forward declarations.
    fn pointee(&mut self, id: TypeId) -> u32 {
        let r = self.btf.resolve(id);
        match self.btf.type_of(r) {
            Some(Type::Composite(c)) if !self.keep.contains(c.name) => self.fwd(c.name, c.is_union),
            Some(Type::Fwd { name, is_union }) => self.fwd(name, is_union),
            Some(Type::Other { .. }) | None => 0,
            _ => self.map(id),
        }
    }

    fn fwd(&mut self, name: &str, union: bool) -> u32 {
        let key = (name.to_string(), union);
        if let Some(&id) = self.fwds.get(&key) {
            return id;
        }
        let id = self.out.add(Rec::Fwd {
            name: name.into(),
            union,
        });
        self.fwds.insert(key, id);
        id
    }

    fn map(&mut self, id: TypeId) -> u32 {
        if id == TypeId::VOID {
            return 0;
        }
        if let Some(&n) = self.done.get(&id) {
            return n;
        }
        let Some(ty) = self.btf.type_of(id) else {
            return 0;
        };
        let new = self.out.reserve();
        self.done.insert(id, new);
        let rec = match ty {
            Type::Void => unreachable!("id 0 handled above"),
            Type::Int(i) => Rec::Int {
                name: i.name.into(),
                size: i.size,
                encoding: i.signed as u32 | (i.char as u32) << 1 | (i.bool as u32) << 2,
                bit_offset: i.bit_offset,
                bits: i.bits,
            },
            Type::Ptr { target } => Rec::Ptr(self.pointee(target)),
            Type::Array { elem, len } => {
                let index = self.index_int();
                Rec::Array {
                    elem: self.map(elem),
                    index,
                    len,
                }
            }
            Type::Composite(c) => Rec::Composite {
                name: c.name.into(),
                size: c.size,
                union: c.is_union,
                members: c
                    .members
                    .iter()
                    .map(|m| {
                        (
                            m.name.to_string(),
                            self.map(m.ty),
                            m.bit_offset,
                            m.bitfield_size,
                        )
                    })
                    .collect(),
            },
            Type::Enum(e) => Rec::Enum {
                name: e.name.into(),
                size: e.size,
                signed: e.signed,
                values: e.values.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
            },
            Type::Fwd { name, is_union } => Rec::Fwd {
                name: name.into(),
                union: is_union,
            },
            Type::Typedef { name, target } => Rec::Ref {
                kind: TYPEDEF,
                name: name.into(),
                ty: self.map(target),
            },
            Type::Qualified {
                qualifier,
                name,
                target,
            } => Rec::Ref {
                kind: match qualifier {
                    Qualifier::Const => CONST,
                    Qualifier::Volatile => VOLATILE,
                    Qualifier::Restrict => RESTRICT,
                    Qualifier::TypeTag => TYPE_TAG,
                },
                name: name.into(),
                ty: self.map(target),
            },
            Type::Float { name, size } => Rec::Float {
                name: name.into(),
                size,
            },
            // Functions and prototypes are only reached through pointers (void * here).
            Type::Other { .. } => Rec::Ref {
                kind: TYPEDEF,
                name: "__btf_subset_dropped".into(),
                ty: 0,
            },
        };
        self.out.set(new, rec);
        new
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output] = &args[..] else {
        eprintln!("usage: btf_subset VMLINUX_BTF OUT");
        std::process::exit(2);
    };
    let btf = Btf::from_bytes(std::fs::read(input).expect("read the input BTF")).expect("parse it");
    let mut s = Subset {
        btf: &btf,
        keep: KEEP.iter().copied().collect(),
        out: Plan::default(),
        done: HashMap::new(),
        fwds: HashMap::new(),
        index_int: None,
    };
    for name in KEEP {
        match btf.composite_named(name, false) {
            Some(id) => {
                s.map(id);
            }
            None => eprintln!("btf_subset: no struct {name} in {input}"),
        }
    }
    for name in ENUMS {
        for id in btf.types_named(name) {
            if matches!(btf.type_of(id), Some(Type::Enum(_))) {
                s.map(id);
            }
        }
    }
    let blob = s.out.write();
    std::fs::write(output, &blob).expect("write the output");
    eprintln!(
        "btf_subset: {} types, {} bytes -> {output}",
        s.done.len() + s.fwds.len(),
        blob.len()
    );
}
