//! Cuts a small BTF blob of real kernel types out of a vmlinux BTF, for btf-expr's committed test data.
//!
//!     cargo run -p btf-expr --example btf_subset -- /sys/kernel/btf/vmlinux btf-expr/tests/data/kernel-6.18.btf
//!
//! Kept in full: the structs named in `KEEP` and everything they embed (members, arrays, typedefs, enums),
//! so their layout is the kernel's. A pointer to any other struct or union becomes a pointer to a forward
//! declaration of it, and function pointers become `void *`: the offsets stay, the graph stays small.
//! The enums in `ENUMS` are copied too (for enumerator constants that no kept member uses).

#[path = "../tests/common/btf_writer.rs"]
mod btf_writer;

use std::collections::{HashMap, HashSet};

use btf_writer::{BtfWriter, CONST, RESTRICT, Rec, TYPE_TAG, TYPEDEF, VOLATILE};
use symbols::{Btf, Qualifier, Type, TypeId};

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
    out: BtfWriter,
    done: HashMap<TypeId, u32>,
    fwds: HashMap<(String, bool), u32>,
    index_int: Option<u32>,
}

impl Subset<'_> {
    fn index_int(&mut self) -> u32 {
        if let Some(i) = self.index_int {
            return i;
        }
        let i = self.out.int("__ARRAY_SIZE_TYPE__", 4, false);
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
        let id = self.out.fwd(name, union);
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
                old_style: false,
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
        out: BtfWriter::new(),
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
    let blob = s.out.build();
    std::fs::write(output, &blob).expect("write the output");
    eprintln!(
        "btf_subset: {} types, {} bytes -> {output}",
        s.done.len() + s.fwds.len(),
        blob.len()
    );
}
