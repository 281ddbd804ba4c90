//! The kernel functions that run BPF map operations for BPF programs: what `--output-bpfmap` probes.
//!
//! The verifier turns a program's `bpf_map_lookup_elem()`, `bpf_map_update_elem()` and `bpf_map_delete_elem()`
//! into direct calls of the map type's operation (`htab_map_update_elem`, `trie_lookup_elem`, ...), and for hash
//! maps inlines the lookup around a call of `__htab_map_lookup_elem`. Each of these takes the `struct bpf_map *`
//! first and the key second (the value third, for updates), so they are found by that prototype in BTF.

use crate::btf::{Btf, Type, raw::kind};
use crate::traceable::Traceable;

/// What a map function does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MapOp {
    /// `(map, key)`, returns a pointer to the value or NULL.
    Lookup,
    /// `(map, key, value, flags)`.
    Update,
    /// `(map, key)`.
    Delete,
}

impl MapOp {
    /// `lookup`, `update`, `delete`.
    pub fn name(self) -> &'static str {
        match self {
            MapOp::Lookup => "lookup",
            MapOp::Update => "update",
            MapOp::Delete => "delete",
        }
    }
}

/// A map operation function of vmlinux.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MapFunc {
    /// The function's name.
    pub name: String,
    /// What it does.
    pub op: MapOp,
    /// It returns the hash table's element, not the value: `__htab_map_lookup_elem`, which the inlined lookup of
    /// hash maps calls and then steps over the element's header and key itself.
    pub returns_elem: bool,
}

/// The lookup that BPF programs' inlined hash-map lookups call (see [`MapFunc::returns_elem`]).
pub const HTAB_ELEM_LOOKUP: &str = "__htab_map_lookup_elem";

/// What a name says the function does; `None` for names that are no map operation, and for the syscall-only
/// variants (`*_sys_lookup_elem`), which no program reaches.
fn op_of(name: &str) -> Option<MapOp> {
    if name.contains("_sys_") {
        return None;
    }
    if name.ends_with("_delete_elem") {
        // Also `*_lookup_and_delete_elem(map, key, value, flags)`: the key is where a delete has it.
        Some(MapOp::Delete)
    } else if name.ends_with("_update_elem") {
        Some(MapOp::Update)
    } else if name.ends_with("_lookup_elem") {
        Some(MapOp::Lookup)
    } else {
        None
    }
}

/// Every vmlinux FUNC named like a map operation whose first parameter is a `struct bpf_map *` (and that
/// `traceable` can probe, when given), sorted by name.
pub fn map_functions(btf: &Btf, traceable: Option<&Traceable>) -> Vec<MapFunc> {
    let mut out = Vec::new();
    let Some(view) = btf.views().next() else {
        return out;
    };
    for (_, ty) in view.own_types() {
        if ty.kind() != kind::FUNC {
            continue;
        }
        let name = view.name(&ty);
        let Some(op) = op_of(name) else {
            continue;
        };
        let Some(mut params) = view.params(&ty) else {
            continue;
        };
        if !params
            .next()
            .is_some_and(|id| view.is_struct_ptr(id, "bpf_map"))
        {
            continue;
        }
        if traceable.is_some_and(|t| !t.contains(name, None))
            || out.iter().any(|f: &MapFunc| f.name == name)
        {
            continue;
        }
        out.push(MapFunc {
            name: name.to_string(),
            op,
            returns_elem: name == HTAB_ELEM_LOOKUP,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Byte offset of the key in the kernel's `struct htab_elem` (the value follows the key, rounded up to 8 bytes):
/// how to find the value behind what [`HTAB_ELEM_LOOKUP`] returns. `None` when the BTF has no such struct.
pub fn htab_elem_key_offset(btf: &Btf) -> Option<u32> {
    let id = btf.composite_named("htab_elem", false)?;
    let Some(Type::Composite(c)) = btf.type_of(id) else {
        return None;
    };
    let key = c.members.iter().find(|m| m.name == "key")?;
    (key.bit_offset % 8 == 0).then_some(key.bit_offset / 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_by_name() {
        assert_eq!(op_of("htab_map_lookup_elem"), Some(MapOp::Lookup));
        assert_eq!(op_of("__htab_map_lookup_elem"), Some(MapOp::Lookup));
        assert_eq!(op_of("trie_update_elem"), Some(MapOp::Update));
        assert_eq!(op_of("htab_lru_map_delete_elem"), Some(MapOp::Delete));
        assert_eq!(
            op_of("htab_map_lookup_and_delete_elem"),
            Some(MapOp::Delete)
        );
        assert_eq!(op_of("bpf_map_fd_sys_lookup_elem"), None);
        assert_eq!(op_of("htab_map_get_next_key"), None);
        assert_eq!(op_of("map_lookup_elem_x"), None);
    }
}
