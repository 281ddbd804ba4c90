//! What the probes read with BTF expressions and `bpf_snprintf_btf`, decoded for the event: `--output-skb-metadata`
//! values (btf-expr's output area) and `--output-skb`/`--output-skb-shared-info` dumps (kernel text).

use btf_expr::{Fetch, Value};
use event::{Dump, DumpKind, Metadata};

/// The values of `fetch`'s expressions in `area` (what its code wrote); an area too short for them (a damaged
/// record) gives `<unreadable>` for each.
pub fn metadata(fetch: &Fetch, area: &[u8]) -> Vec<Metadata> {
    let values = fetch
        .decode(area)
        .unwrap_or_else(|| vec![Value::Unreadable; fetch.slots.len()]);
    fetch
        .slots
        .iter()
        .zip(values)
        .map(|(slot, v)| Metadata {
            expr: slot.expr.clone(),
            text: v.to_string(),
            json: json(&v),
        })
        .collect()
}

/// A value in JSON: numbers, enumerator names, booleans and strings as themselves, pointers as `"0x…"` (JSON
/// numbers lose precision above 2^53), byte arrays as arrays, `<null>` as `null`, `<unreadable>` as that string.
fn json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Unsigned(n) => J::from(*n),
        Value::Signed(n) => J::from(*n),
        Value::Enum(_, Some(name)) => J::from(name.as_str()),
        Value::Enum(n, None) => match i64::try_from(*n) {
            Ok(n) => J::from(n),
            Err(_) => J::from(n.to_string()),
        },
        Value::Bool(b) => J::from(*b),
        Value::Pointer(p) => J::from(format!("{p:#x}")),
        Value::Str { bytes, .. } => J::from(String::from_utf8_lossy(bytes).into_owned()),
        Value::Bytes(b) => J::from(b.clone()),
        Value::Null => J::Null,
        Value::Unreadable => J::from("<unreadable>"),
    }
}

/// A dump from the kernel's bytes: up to the first NUL, invalid UTF-8 replaced, control characters other than
/// newlines and tabs escaped (the text names kernel memory, it must not drive the terminal). `ret` is
/// `bpf_snprintf_btf()`'s answer: a negative one, without text, says why there is none.
pub fn dump(kind: DumpKind, bytes: &[u8], cut: bool, ret: i32) -> Dump {
    if bytes.is_empty() && ret < 0 {
        let why = std::io::Error::from_raw_os_error(-ret);
        return Dump {
            kind,
            text: format!("<the kernel could not print it: {why}>"),
            cut: false,
        };
    }
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let raw = String::from_utf8_lossy(&bytes[..end]);
    let mut text = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '\n' | '\t' => text.push(c),
            c if c.is_control() => text.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => text.push(c),
        }
    }
    Dump { kind, text, cut }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn btf() -> symbols::Btf {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../btf-expr/tests/data/kernel-6.18.btf"
        );
        symbols::Btf::from_bytes(std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn values_in_text_and_json() {
        let btf = btf();
        let skb = btf_expr::Compiler::new(&btf, "skb", "sk_buff").unwrap();
        let exprs = ["skb->hash", "skb->dev->name", "skb->dev", "skb->len > 10"];
        let fetch = skb.fetch(&exprs).unwrap();
        // What the kernel writes: status word, then the value, per 8-byte aligned slot.
        let mut area = vec![0u8; fetch.area_size as usize];
        let put = |area: &mut Vec<u8>, i: usize, status: u64, value: &[u8]| {
            let at = fetch.slots[i].offset as usize;
            area[at..at + 8].copy_from_slice(&status.to_le_bytes());
            area[at + 8..at + 8 + value.len()].copy_from_slice(value);
        };
        put(&mut area, 0, 0, &0x1a2b3c4du64.to_le_bytes());
        put(&mut area, 1, 0, b"veth0\0");
        put(&mut area, 2, btf_expr::STATUS_NULL as u64, &[]);
        put(&mut area, 3, 0, &1u64.to_le_bytes());
        let m = metadata(&fetch, &area);
        let text: Vec<String> = m.iter().map(|m| format!("{}={}", m.expr, m.text)).collect();
        assert_eq!(
            text,
            [
                "skb->hash=0x1a2b3c4d",
                "skb->dev->name=\"veth0\"",
                "skb->dev=<null>",
                "skb->len > 10=true"
            ]
        );
        let json: Vec<&serde_json::Value> = m.iter().map(|m| &m.json).collect();
        assert_eq!(
            json,
            [
                &serde_json::json!(0x1a2b3c4d),
                &serde_json::json!("veth0"),
                &serde_json::Value::Null,
                &serde_json::json!(true)
            ]
        );
        // A short area: every value unreadable, none invented.
        let short = metadata(&fetch, &area[..8]);
        assert!(short.iter().all(|m| m.text == "<unreadable>"), "{short:?}");
    }

    #[test]
    fn dumps_stop_at_nul_and_escape_controls() {
        let d = dump(
            DumpKind::Skb,
            b"(struct sk_buff){\n\t.len = 84,\x1b[2J\n}\0garbage",
            true,
            5000,
        );
        assert_eq!(d.text, "(struct sk_buff){\n\t.len = 84,\\u{1b}[2J\n}");
        assert!(d.cut);
        let failed = dump(DumpKind::SkbSharedInfo, b"", false, -libc::EFAULT);
        assert!(
            failed
                .text
                .starts_with("<the kernel could not print it: Bad address"),
            "{}",
            failed.text
        );
    }
}
