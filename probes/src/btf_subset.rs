//! The part of the kernel's BTF that CO-RE needs: the kernel's types named as the object's types are, and the
//! types they are built of, renumbered into a BTF blob of their own for aya to parse instead of the whole
//! vmlinux BTF (about 130k types: 14 MB of aya's memory and a third of a second's parse under TCG, for the few
//! dozen structs our programs read).
//!
//! A pointer to a type outside the part points to void: CO-RE takes a pointer field for a pointer whatever it
//! points to, and each dereference in the programs is a relocation of its own, rooted at a type named in the
//! object. `core_relocations_match_the_whole_btf` checks that every relocation comes out as it does against the
//! whole BTF.
use crate::error::BadBtf;
use std::collections::{HashMap, HashSet};

const MAGIC: u16 = 0xeb9f;
const HEADER_LEN: usize = 24;
const RECORD_LEN: usize = 12;

const INT: u32 = 1;
const PTR: u32 = 2;
const ARRAY: u32 = 3;
/// BTF kind numbers ([`Subset::ids`] is keyed by them).
pub(crate) const STRUCT: u32 = 4;
const UNION: u32 = 5;
const ENUM: u32 = 6;
const FWD: u32 = 7;
pub(crate) const TYPEDEF: u32 = 8;
const VOLATILE: u32 = 9;
const CONST: u32 = 10;
const RESTRICT: u32 = 11;
pub(crate) const FUNC: u32 = 12;
const FUNC_PROTO: u32 = 13;
const VAR: u32 = 14;
const DATASEC: u32 = 15;
const FLOAT: u32 = 16;
const DECL_TAG: u32 = 17;
const TYPE_TAG: u32 = 18;
const ENUM64: u32 = 19;

/// A BTF blob's type and string sections, checked.
struct Raw<'a> {
    types: &'a [u8],
    strings: &'a [u8],
    /// Where each type's record starts in `types`: id `i` at `starts[i - 1]`.
    starts: Vec<u32>,
}

fn u32_at(b: &[u8], off: usize) -> Result<u32, BadBtf> {
    b.get(off..off + 4)
        .map(|s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or(BadBtf("record past the type section"))
}

fn kind_vlen(info: u32) -> (u32, usize) {
    ((info >> 24) & 0x1f, (info & 0xffff) as usize)
}

/// Bytes after the 12-byte record of a type of `kind` with `vlen` entries.
fn tail_len(kind: u32, vlen: usize) -> Result<usize, BadBtf> {
    Ok(match kind {
        INT | VAR | DECL_TAG => 4,
        PTR | FWD | TYPEDEF | VOLATILE | CONST | RESTRICT | FUNC | FLOAT | TYPE_TAG => 0,
        ARRAY => 12,
        STRUCT | UNION | DATASEC | ENUM64 => vlen * 12,
        ENUM | FUNC_PROTO => vlen * 8,
        _ => return Err(BadBtf("type of an unknown kind")),
    })
}

impl<'a> Raw<'a> {
    fn new(data: &'a [u8]) -> Result<Raw<'a>, BadBtf> {
        let field = |off| u32_at(data, off).map(|v| v as usize);
        if data.len() < HEADER_LEN || u16::from_ne_bytes([data[0], data[1]]) != MAGIC {
            return Err(BadBtf("no header (or one of the other byte order)"));
        }
        let hdr_len = field(4)?;
        let section = |off: usize, len: usize| {
            let start = hdr_len.checked_add(off).ok_or(BadBtf("section offset"))?;
            data.get(start..start.checked_add(len).ok_or(BadBtf("section length"))?)
                .ok_or(BadBtf("section past the end"))
        };
        let types = section(field(8)?, field(12)?)?;
        let strings = section(field(16)?, field(20)?)?;
        let mut starts = Vec::with_capacity(types.len() / 24);
        let mut off = 0;
        while off < types.len() {
            starts.push(off as u32);
            let (kind, vlen) = kind_vlen(u32_at(types, off + 4)?);
            off += RECORD_LEN + tail_len(kind, vlen)?;
        }
        if off != types.len() {
            return Err(BadBtf("last record cut short"));
        }
        Ok(Raw {
            types,
            strings,
            starts,
        })
    }

    /// Record of type `id` (1-based) and its kind.
    fn record(&self, id: usize) -> (&'a [u8], u32, usize) {
        let start = self.starts[id - 1] as usize;
        let end = self
            .starts
            .get(id)
            .map_or(self.types.len(), |&e| e as usize);
        let rec = &self.types[start..end];
        let (kind, vlen) = kind_vlen(u32::from_ne_bytes([rec[4], rec[5], rec[6], rec[7]]));
        (rec, kind, vlen)
    }

    fn string(&self, off: u32) -> &'a [u8] {
        let s = self.strings.get(off as usize..).unwrap_or_default();
        &s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())]
    }

    fn name(&self, id: usize) -> &'a [u8] {
        let (rec, _, _) = self.record(id);
        self.string(u32::from_ne_bytes([rec[0], rec[1], rec[2], rec[3]]))
    }
}

/// Where in a record of `kind` the type ids are, and whether each is a pointer's target.
fn type_refs(kind: u32, vlen: usize) -> Vec<(usize, bool)> {
    match kind {
        PTR => vec![(8, true)],
        TYPEDEF | VOLATILE | CONST | RESTRICT | FUNC | VAR | TYPE_TAG => vec![(8, false)],
        ARRAY => vec![(12, false), (16, false)],
        STRUCT | UNION => (0..vlen)
            .map(|i| (RECORD_LEN + i * 12 + 4, false))
            .collect(),
        FUNC_PROTO => std::iter::once((8, false))
            .chain((0..vlen).map(|i| (RECORD_LEN + i * 8 + 4, false)))
            .collect(),
        _ => Vec::new(),
    }
}

/// Where in a record of `kind` the string offsets are.
fn name_refs(kind: u32, vlen: usize) -> Vec<usize> {
    let entries = |size: usize| (0..vlen).map(move |i| RECORD_LEN + i * size);
    std::iter::once(0)
        .chain(match kind {
            STRUCT | UNION | ENUM64 => entries(12).collect::<Vec<_>>(),
            ENUM | FUNC_PROTO => entries(8).collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// `name` without its CO-RE flavor (`sk_buff___tunnel` → `sk_buff`).
fn flavorless(name: &[u8]) -> &[u8] {
    name.windows(3)
        .position(|w| w == b"___")
        .map_or(name, |i| &name[..i])
}

/// The kinds a CO-RE relocation can be rooted at (and what an object names besides: its ints and typedefs).
fn nameable(kind: u32) -> bool {
    matches!(
        kind,
        INT | STRUCT | UNION | ENUM | ENUM64 | FWD | TYPEDEF | FLOAT
    )
}

/// The names of the types an object's BTF (`.BTF`) declares, without their flavors.
pub(crate) fn local_names(object_btf: &[u8]) -> Result<HashSet<Vec<u8>>, BadBtf> {
    let raw = Raw::new(object_btf)?;
    Ok((1..=raw.starts.len())
        .filter(|&id| nameable(raw.record(id).1))
        .map(|id| flavorless(raw.name(id)).to_vec())
        .filter(|n| !n.is_empty())
        .collect())
}

/// A BTF blob of the kernel's types named in `roots` and the types they are made of, and the kernel's ids of the
/// types `lookups` asks for by kind and name.
pub(crate) struct Subset {
    pub(crate) btf: Vec<u8>,
    pub(crate) ids: HashMap<(u32, String), u32>,
}

/// Cuts `kernel` (a whole vmlinux BTF) down to `roots` and what they are made of; `lookup` says which types' kernel
/// ids to keep by kind and name.
pub(crate) fn subset(
    kernel: &[u8],
    roots: &HashSet<Vec<u8>>,
    lookup: impl Fn(u32, &[u8]) -> bool,
) -> Result<Subset, BadBtf> {
    let raw = Raw::new(kernel)?;
    let n = raw.starts.len();
    // New ids by old (0: not kept), the kept ones numbered in order after the closure.
    let mut new_id = vec![0u32; n + 1];
    let mut ids = HashMap::new();
    let mut work = Vec::new();
    for (id, kept) in new_id.iter_mut().enumerate().skip(1) {
        let (_, kind, _) = raw.record(id);
        let name = raw.name(id);
        if lookup(kind, name) {
            ids.insert(
                (kind, String::from_utf8_lossy(name).into_owned()),
                id as u32,
            );
        }
        if nameable(kind) && !name.is_empty() && roots.contains(flavorless(name)) {
            *kept = 1;
            work.push(id);
        }
    }
    while let Some(id) = work.pop() {
        let (rec, kind, vlen) = raw.record(id);
        for (at, pointer) in type_refs(kind, vlen) {
            let to = u32_at(rec, at)? as usize;
            if to == 0 || pointer || new_id.get(to).is_none_or(|&k| k != 0) {
                continue;
            }
            new_id[to] = 1;
            work.push(to);
        }
    }
    let mut next = 0;
    for k in new_id.iter_mut().filter(|k| **k != 0) {
        next += 1;
        *k = next;
    }

    let mut strings = vec![0u8];
    let mut interned: HashMap<&[u8], u32> = HashMap::from([(&b""[..], 0)]);
    let mut types = Vec::new();
    for id in (1..=n).filter(|&id| new_id[id] != 0) {
        let (rec, kind, vlen) = raw.record(id);
        let mut rec = rec.to_vec();
        let put = |rec: &mut Vec<u8>, at: usize, v: u32| {
            rec[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        };
        for at in name_refs(kind, vlen) {
            let s = raw.string(u32_at(&rec, at)?);
            let off = *interned.entry(s).or_insert_with(|| {
                let off = strings.len() as u32;
                strings.extend_from_slice(s);
                strings.push(0);
                off
            });
            put(&mut rec, at, off);
        }
        for (at, _) in type_refs(kind, vlen) {
            let to = u32_at(&rec, at)? as usize;
            // A pointer whose target was left out points to void.
            put(&mut rec, at, new_id.get(to).copied().unwrap_or(0));
        }
        types.extend_from_slice(&rec);
    }

    let mut btf = Vec::with_capacity(HEADER_LEN + types.len() + strings.len());
    btf.extend_from_slice(&MAGIC.to_ne_bytes());
    btf.extend_from_slice(&[1, 0]); // version, flags
    for v in [
        HEADER_LEN as u32,
        0,
        types.len() as u32,
        types.len() as u32,
        strings.len() as u32,
    ] {
        btf.extend_from_slice(&v.to_ne_bytes());
    }
    btf.extend_from_slice(&types);
    btf.extend_from_slice(&strings);
    Ok(Subset { btf, ids })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: u32, kind: u32, vlen: u32, size_or_type: u32, tail: &[u32]) -> Vec<u8> {
        [name, (kind << 24) | vlen, size_or_type]
            .iter()
            .chain(tail)
            .flat_map(|v| v.to_ne_bytes())
            .collect()
    }

    fn blob(types: &[Vec<u8>], strings: &[u8]) -> Vec<u8> {
        let types: Vec<u8> = types.concat();
        let mut b = MAGIC.to_ne_bytes().to_vec();
        b.extend_from_slice(&[1, 0]);
        for v in [
            24,
            0,
            types.len() as u32,
            types.len() as u32,
            strings.len() as u32,
        ] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        b.extend_from_slice(&types);
        b.extend_from_slice(strings);
        b
    }

    /// `struct a { int x; struct b *p; }`, `struct b { int y; }`, `struct c { struct a a; }`, `int`: rooted at `a`,
    /// the part holds `a` and `int`, and `a.p` points to void.
    #[test]
    fn keeps_roots_and_what_they_are_made_of() {
        let strings = b"\0a\0x\0p\0b\0y\0c\0int\0";
        let types = [
            rec(1, STRUCT, 2, 16, &[3, 4, 0, 5, 2, 64]), // 1: struct a { int x; b *p }
            rec(0, PTR, 0, 3, &[]),                      // 2: struct b *
            rec(7, STRUCT, 1, 4, &[9, 4, 0]),            // 3: struct b { int y }
            rec(13, INT, 0, 4, &[32]),                   // 4: int
            rec(11, STRUCT, 1, 16, &[1, 1, 0]),          // 5: struct c { struct a a }
        ];
        let kernel = blob(&types, strings);
        let roots = HashSet::from([b"a".to_vec()]);
        let s = subset(&kernel, &roots, |k, n| k == STRUCT && n == b"c").unwrap();
        assert_eq!(s.ids.get(&(STRUCT, "c".into())), Some(&5));
        let btf = aya_obj::btf::Btf::parse(&s.btf, Default::default()).unwrap();
        use aya_obj::btf::BtfKind;
        assert_eq!(btf.id_by_type_name_kind("a", BtfKind::Struct).ok(), Some(1));
        assert_eq!(btf.id_by_type_name_kind("int", BtfKind::Int).ok(), Some(3));
        assert!(btf.id_by_type_name_kind("b", BtfKind::Struct).is_err());
        assert!(btf.id_by_type_name_kind("c", BtfKind::Struct).is_err());
        let raw = Raw::new(&s.btf).unwrap();
        let (ptr, kind, _) = raw.record(2);
        assert_eq!((kind, u32_at(ptr, 8).unwrap()), (PTR, 0));
        let (a, _, _) = raw.record(1);
        assert_eq!(u32_at(a, 16).unwrap(), 3, "a.x is int, renumbered");
        assert_eq!(raw.string(u32_at(a, 12).unwrap()), b"x");
        assert!(local_names(&kernel).unwrap().contains(b"int".as_slice()));
    }

    #[test]
    fn refuses_bad_blobs() {
        assert!(Raw::new(b"\x9f\xeb").is_err());
        let mut b = blob(&[rec(0, INT, 0, 4, &[32])], b"\0");
        b.truncate(b.len() - 3);
        assert!(Raw::new(&b).is_err());
        let b = blob(&[rec(0, 31, 0, 4, &[])], b"\0");
        assert!(Raw::new(&b).is_err());
    }
}
