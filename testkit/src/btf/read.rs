//! A small reader of raw little-endian BTF: every type with its name, the words after its header and the names of
//! its members; enough to find skb functions and tracepoints, enum values and struct layouts.

use super::kind::*;
use std::collections::BTreeMap;

fn u32_at(d: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(d[off..off + 4].try_into().unwrap())
}

/// One BTF type.
#[derive(Clone, Debug)]
pub struct Ty {
    /// `BTF_KIND_*` ([`INT`], [`STRUCT`], …); 0 for void.
    pub kind: u32,
    /// The `kind_flag` bit (bitfield offsets in structs, signedness of enums).
    pub kind_flag: bool,
    /// Its name ("" when anonymous).
    pub name: String,
    /// Number of members, parameters or enumerators.
    pub vlen: usize,
    /// Size, or the type it refers to.
    pub size_type: u32,
    /// The words after the 12-byte header (members, params, enum values, …).
    pub extra: Vec<u32>,
    /// Names of members, parameters or enumerators.
    pub member_names: Vec<String>,
}

/// A parsed BTF blob; [`Btf::types`] is indexed by type id.
#[derive(Clone, Debug)]
pub struct Btf {
    /// Every type, by id; id 0 is void.
    pub types: Vec<Ty>,
}

/// A function or tracepoint that takes a `struct sk_buff *` among its first five arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkbSite {
    /// Function or tracepoint name.
    pub name: String,
    /// 0-based position of the skb argument.
    pub skb: usize,
    /// 0-based positions of its `enum skb_drop_reason` arguments.
    pub drop_reasons: Vec<usize>,
    /// Number of arguments (a tracepoint's without its context pointer).
    pub nargs: usize,
}

impl Btf {
    /// Parses a raw BTF blob (as in /sys/kernel/btf/vmlinux or an object's `.BTF` section); panics on a malformed
    /// one, since a test's input is known good.
    pub fn parse(btf: &[u8]) -> Btf {
        assert_eq!(u16::from_le_bytes([btf[0], btf[1]]), 0xeb9f, "BTF magic");
        let hdr = u32_at(btf, 4) as usize;
        let (type_off, type_len) = (u32_at(btf, 8) as usize, u32_at(btf, 12) as usize);
        let str_off = u32_at(btf, 16) as usize;
        let strings = &btf[hdr + str_off..];
        let name = |off: u32| -> String {
            let s = &strings[off as usize..];
            String::from_utf8_lossy(&s[..s.iter().position(|&c| c == 0).unwrap()]).into_owned()
        };
        let data = &btf[hdr + type_off..hdr + type_off + type_len];
        let mut types = vec![Ty {
            kind: 0,
            kind_flag: false,
            name: String::new(),
            vlen: 0,
            size_type: 0,
            extra: vec![],
            member_names: vec![],
        }];
        let mut p = 0;
        while p < data.len() {
            let info = u32_at(data, p + 4);
            let kind = (info >> 24) & 0x1f;
            let vlen = (info & 0xffff) as usize;
            let extra_bytes = match kind {
                INT | VAR | DECL_TAG => 4,
                ARRAY => 12,
                STRUCT | UNION | DATASEC | ENUM64 => vlen * 12,
                ENUM | FUNC_PROTO => vlen * 8,
                _ => 0,
            };
            let extra: Vec<u32> = (0..extra_bytes / 4)
                .map(|i| u32_at(data, p + 12 + i * 4))
                .collect();
            let member_names = match kind {
                STRUCT | UNION | ENUM64 => extra.chunks(3).map(|c| name(c[0])).collect(),
                ENUM | FUNC_PROTO => extra.chunks(2).map(|c| name(c[0])).collect(),
                _ => Vec::new(),
            };
            types.push(Ty {
                kind,
                kind_flag: info >> 31 == 1,
                name: name(u32_at(data, p)),
                vlen,
                size_type: u32_at(data, p + 8),
                extra,
                member_names,
            });
            p += 12 + extra_bytes;
        }
        Btf { types }
    }

    /// The running kernel's BTF (/sys/kernel/btf/vmlinux, readable by every user).
    pub fn vmlinux() -> Btf {
        let path = "/sys/kernel/btf/vmlinux";
        Btf::parse(&std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}")))
    }

    /// Follows typedefs and qualifiers from type `id` to the type they name.
    pub fn strip(&self, mut id: u32) -> u32 {
        while matches!(
            self.types[id as usize].kind,
            TYPEDEF | VOLATILE | CONST | RESTRICT | TYPE_TAG
        ) {
            id = self.types[id as usize].size_type;
        }
        id
    }

    /// Whether type `id` is a pointer to `struct <want>` (through typedefs and qualifiers).
    pub fn is_ptr_to_struct(&self, id: u32, want: &str) -> bool {
        let t = &self.types[self.strip(id) as usize];
        if t.kind != PTR {
            return false;
        }
        let s = &self.types[self.strip(t.size_type) as usize];
        s.kind == STRUCT && s.name == want
    }

    /// Whether type `id` is `enum <want>` (32 or 64 bits, through typedefs and qualifiers).
    pub fn is_enum(&self, id: u32, want: &str) -> bool {
        let t = &self.types[self.strip(id) as usize];
        matches!(t.kind, ENUM | ENUM64) && t.name == want
    }

    fn skb_site(&self, name: &str, params: &[u32]) -> Option<SkbSite> {
        let skb = params
            .iter()
            .take(5)
            .position(|&ty| self.is_ptr_to_struct(ty, "sk_buff"))?;
        let drop_reasons = (0..params.len())
            .filter(|&i| self.is_enum(params[i], "skb_drop_reason"))
            .collect();
        Some(SkbSite {
            name: name.to_string(),
            skb,
            drop_reasons,
            nargs: params.len(),
        })
    }

    /// Every tracepoint with a `struct sk_buff *` among its first five arguments, from the `btf_trace_<name>`
    /// typedefs, sorted by name.
    pub fn skb_tracepoints(&self) -> Vec<SkbSite> {
        let mut out = Vec::new();
        for t in &self.types {
            let Some(name) = t.name.strip_prefix("btf_trace_") else {
                continue;
            };
            if t.kind != TYPEDEF {
                continue;
            }
            let ptr = &self.types[self.strip(t.size_type) as usize];
            if ptr.kind != PTR {
                continue;
            }
            let proto = &self.types[self.strip(ptr.size_type) as usize];
            if proto.kind != FUNC_PROTO {
                continue;
            }
            // (name, type) pairs; the first is the `void *` context
            let params: Vec<u32> = proto.extra.chunks(2).skip(1).map(|p| p[1]).collect();
            out.extend(self.skb_site(name, &params));
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Every kernel function with a `struct sk_buff *` among its first five parameters, sorted by name, each
    /// name once.
    pub fn skb_functions(&self) -> Vec<SkbSite> {
        let mut out = Vec::new();
        for t in self.types.iter().filter(|t| t.kind == FUNC) {
            let proto = &self.types[t.size_type as usize];
            if proto.kind != FUNC_PROTO {
                continue;
            }
            let params: Vec<u32> = proto.extra.chunks(2).map(|p| p[1]).collect();
            out.extend(self.skb_site(&t.name, &params));
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out.dedup_by(|a, b| a.name == b.name);
        out
    }

    /// The value of enumerator `variant` of the 32-bit enum `name`.
    pub fn enum_value(&self, name: &str, variant: &str) -> Option<u32> {
        let t = self
            .types
            .iter()
            .find(|t| t.kind == ENUM && t.name == name)?;
        let i = t.member_names.iter().position(|n| n == variant)?;
        Some(t.extra[i * 2 + 1])
    }

    /// Every enumerator of the 32-bit enum `name` with its value (as the unsigned bits BTF stores).
    pub fn enum_values(&self, name: &str) -> Option<BTreeMap<String, u64>> {
        let t = self
            .types
            .iter()
            .find(|t| t.kind == ENUM && t.name == name)?;
        Some(
            t.member_names
                .iter()
                .zip(t.extra.chunks(2))
                .map(|(n, v)| (n.clone(), v[1] as u64))
                .collect(),
        )
    }

    /// Size of `struct <name>` and the byte offset of each member by name; panics on a bitfield member.
    pub fn struct_layout(&self, name: &str) -> Option<(u32, BTreeMap<String, u32>)> {
        let t = self
            .types
            .iter()
            .find(|t| t.kind == STRUCT && t.name == name)?;
        let members = t
            .member_names
            .iter()
            .zip(t.extra.chunks(3))
            .map(|(n, m)| {
                let bits = if t.kind_flag {
                    m[2] & 0x00ff_ffff
                } else {
                    m[2]
                };
                assert_eq!(bits % 8, 0, "struct {name}: member {n} at a bit offset");
                (n.clone(), bits / 8)
            })
            .collect();
        Some((t.size_type, members))
    }
}
