//! BTF helpers the checker needs: C names of types, member lookup through anonymous structs and unions, and
//! "did you mean" suggestions.

use symbols::{Btf, Member, Qualifier, Type, TypeId};

/// Longest chain of pointers/arrays/typedefs spelled out in a type's name (malformed BTF could loop).
const MAX_NAME_DEPTH: usize = 16;

/// The type as C writes it: `struct sk_buff *`, `char[16]`, `__be16`, `const struct net_device *`.
pub(crate) fn c_name(btf: &Btf, id: TypeId) -> String {
    c_name_depth(btf, id, 0)
}

fn c_name_depth(btf: &Btf, id: TypeId, depth: usize) -> String {
    if depth > MAX_NAME_DEPTH {
        return "...".into();
    }
    let inner = |t: TypeId| c_name_depth(btf, t, depth + 1);
    match btf.type_of(id) {
        None => "<bad type>".into(),
        Some(Type::Void) => "void".into(),
        Some(Type::Int(i)) => i.name.to_string(),
        Some(Type::Float { name, .. }) => name.to_string(),
        Some(Type::Ptr { target }) => {
            let t = inner(target);
            if t.ends_with('*') {
                format!("{t}*")
            } else {
                format!("{t} *")
            }
        }
        Some(Type::Array { elem, len }) => format!("{}[{len}]", inner(elem)),
        Some(Type::Composite(c)) => {
            let kw = if c.is_union { "union" } else { "struct" };
            if c.name.is_empty() {
                format!("{kw} (anonymous)")
            } else {
                format!("{kw} {}", c.name)
            }
        }
        Some(Type::Enum(e)) if e.name.is_empty() => "enum (anonymous)".into(),
        Some(Type::Enum(e)) => format!("enum {}", e.name),
        Some(Type::Fwd { name, is_union }) => {
            format!("{} {name}", if is_union { "union" } else { "struct" })
        }
        Some(Type::Typedef { name, .. }) => name.to_string(),
        Some(Type::Qualified {
            qualifier, target, ..
        }) => match qualifier {
            Qualifier::Const => format!("const {}", inner(target)),
            Qualifier::Volatile => format!("volatile {}", inner(target)),
            Qualifier::Restrict | Qualifier::TypeTag => inner(target),
        },
        Some(Type::Other { name, .. }) if !name.is_empty() => name.to_string(),
        Some(Type::Other { .. }) => "<function>".into(),
    }
}

/// A member found by name, with its offset from the start of the searched type (anonymous members on the way
/// added up).
pub(crate) struct Found<'a> {
    pub member: Member<'a>,
    pub bit_offset: u64,
}

/// Deepest nesting of anonymous structs/unions searched (real kernels nest 4).
const MAX_ANON_DEPTH: usize = 8;

/// The member `name` of the struct or union `id`, looking inside anonymous members as C does.
pub(crate) fn find_member<'a>(btf: &'a Btf, id: TypeId, name: &str) -> Option<Found<'a>> {
    find_in(btf, id, name, 0)
}

fn find_in<'a>(btf: &'a Btf, id: TypeId, name: &str, depth: usize) -> Option<Found<'a>> {
    let Some(Type::Composite(c)) = btf.type_of(btf.resolve(id)) else {
        return None;
    };
    for m in &c.members {
        if m.name == name {
            return Some(Found {
                member: *m,
                bit_offset: m.bit_offset as u64,
            });
        }
    }
    if depth >= MAX_ANON_DEPTH {
        return None;
    }
    for m in c.members.iter().filter(|m| m.name.is_empty()) {
        if let Some(f) = find_in(btf, m.ty, name, depth + 1) {
            return Some(Found {
                member: f.member,
                bit_offset: m.bit_offset as u64 + f.bit_offset,
            });
        }
    }
    None
}

/// Every member name reachable from `id` as C sees them (anonymous members flattened).
pub(crate) fn member_names(btf: &Btf, id: TypeId) -> Vec<String> {
    let mut out = Vec::new();
    names_in(btf, id, 0, &mut out);
    out
}

fn names_in(btf: &Btf, id: TypeId, depth: usize, out: &mut Vec<String>) {
    let Some(Type::Composite(c)) = btf.type_of(btf.resolve(id)) else {
        return;
    };
    for m in &c.members {
        if m.name.is_empty() {
            if depth < MAX_ANON_DEPTH {
                names_in(btf, m.ty, depth + 1, out);
            }
        } else {
            out.push(m.name.to_string());
        }
    }
}

/// Up to three of `candidates` closest to `word` (edit distance, allowing about a third of the word to
/// differ), best first; ties keep the candidates' order.
pub(crate) fn nearest(word: &str, candidates: &[String]) -> Vec<String> {
    let pairs: Vec<(&str, String)> = candidates.iter().map(|c| (c.as_str(), c.clone())).collect();
    nearest_by(word, &pairs)
}

/// Like [`nearest`], scoring each candidate by its first element and answering with its second.
fn nearest_by(word: &str, candidates: &[(&str, String)]) -> Vec<String> {
    let limit = word.chars().count().div_ceil(3).clamp(1, 3);
    let lower = word.to_ascii_lowercase();
    let mut scored: Vec<(usize, usize, &String)> = candidates
        .iter()
        .enumerate()
        .filter_map(|(i, (key, shown))| {
            let d = distance(&lower, &key.to_ascii_lowercase());
            (d <= limit).then_some((d, i, shown))
        })
        .collect();
    scored.sort();
    let mut out: Vec<String> = Vec::new();
    for (_, _, c) in scored {
        if !out.contains(c) {
            out.push(c.clone());
        }
        if out.len() == 3 {
            break;
        }
    }
    out
}

/// Suggestions for a missing member `word` of `id`: its own members first, then members of its named
/// embedded structs as `outer.inner` (the kernel's `#define sk_prot __sk_common.skc_prot` style aliases).
pub(crate) fn suggest_member(btf: &Btf, id: TypeId, word: &str) -> Vec<String> {
    let mut out = nearest(word, &member_names(btf, id));
    if out.len() >= 3 {
        return out;
    }
    let Some(Type::Composite(c)) = btf.type_of(btf.resolve(id)) else {
        return out;
    };
    let mut nested: Vec<(String, String)> = Vec::new();
    for m in c.members.iter().filter(|m| !m.name.is_empty()) {
        if matches!(btf.type_of(btf.resolve(m.ty)), Some(Type::Composite(_))) {
            for sub in member_names(btf, m.ty) {
                nested.push((sub.clone(), format!("{}.{sub}", m.name)));
            }
        }
    }
    let pairs: Vec<(&str, String)> = nested
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    for s in nearest_by(word, &pairs) {
        if out.len() < 3 && !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// Levenshtein distance with adjacent transpositions counted as one edit.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev2 = vec![0usize; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(prev2[j - 2] + 1);
            }
        }
        prev2 = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

/// Whether the declared type is a big-endian typedef (`__be16`, `__be32`, `__be64`) somewhere along its
/// typedef chain.
pub(crate) fn is_big_endian(btf: &Btf, mut id: TypeId) -> bool {
    for _ in 0..MAX_NAME_DEPTH {
        match btf.type_of(id) {
            Some(Type::Typedef { name, target }) => {
                if matches!(name, "__be16" | "__be32" | "__be64") {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("devv", "dev"), 1);
        assert_eq!(distance("lne", "len"), 1);
        assert_eq!(distance("ifidx", "ifindex"), 2);
        assert_eq!(distance("", "abc"), 3);
        let names: Vec<String> = ["dev", "dev_scratch", "len", "data_len", "sk"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(nearest("devv", &names), vec!["dev"]);
        assert_eq!(nearest("LEN", &names), vec!["len"]);
        assert!(nearest("zzzzzz", &names).is_empty());
    }
}
