//! Value fetchers (`--output-skb-metadata EXPR`): the output area's layout, and decoding it into values.
//!
//! The area holds one slot per expression, each 8-byte aligned: a little-endian `u64` status word
//! ([`STATUS_OK`], [`STATUS_NULL`], [`STATUS_FAULT`]), then the value: 8 bytes for integers, enums, booleans
//! and pointers (already shifted, masked, sign-extended and in host byte order), or the bytes of a string or
//! array. A value is meaningful only when its status is OK.

pub use crate::codegen::{STATUS_FAULT, STATUS_NULL, STATUS_OK};

/// Largest output area a fetcher may need (the loader sizes its buffer for it).
pub const MAX_AREA: u32 = 1024;

/// What a slot's value is, for printing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// An integer of `bits` bits (a bitfield's width, or the type's size).
    Int {
        /// Signed type.
        signed: bool,
        /// Value bits.
        bits: u8,
        /// The C type (`unsigned int`, `__u8:3`).
        ty: String,
    },
    /// An enum value, printed by name when it matches an enumerator.
    Enum {
        /// `enum pkt_hash_types`.
        ty: String,
        /// Signed enum.
        signed: bool,
        /// Its enumerators.
        values: Vec<(String, i128)>,
    },
    /// `_Bool`, or a condition (`skb->len > 100`).
    Bool,
    /// A pointer.
    Pointer {
        /// Its C type.
        ty: String,
    },
    /// A char array or char pointer, up to `cap` bytes (cut at the first NUL).
    Str {
        /// Bytes fetched.
        cap: u32,
        /// The source may hold more than `cap` bytes: a string that fills them may continue.
        cut: bool,
        /// Read through a `char *` (`bpf_probe_read_kernel_str`, which keeps a NUL in the last byte).
        pointer: bool,
    },
    /// Any other array, as raw bytes.
    Bytes {
        /// Length in bytes.
        len: u32,
        /// Element type.
        elem: String,
    },
}

/// One fetched expression: where its slot sits in the output area and how to read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    /// The expression as given (trimmed).
    pub expr: String,
    /// Offset of the slot's status word in the area.
    pub offset: u32,
    /// Bytes of value after the status word.
    pub size: u32,
    /// How to print it.
    pub kind: ValueKind,
}

impl Slot {
    /// Total bytes the slot takes, status word included.
    pub fn span(&self) -> u32 {
        8 + self.size.div_ceil(8) * 8
    }
}

/// A decoded value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// An unsigned integer.
    Unsigned(u64),
    /// A signed integer.
    Signed(i64),
    /// An enum value and its enumerator's name, if one matches.
    Enum(i128, Option<String>),
    /// A boolean.
    Bool(bool),
    /// A pointer value.
    Pointer(u64),
    /// String bytes up to the first NUL; `cut` when they fill the fetched bytes of a longer array.
    Str {
        /// The characters.
        bytes: Vec<u8>,
        /// May continue past what was fetched.
        cut: bool,
    },
    /// Raw array bytes.
    Bytes(Vec<u8>),
    /// A pointer on the path was NULL.
    Null,
    /// The kernel refused a read on the path.
    Unreadable,
}

impl std::fmt::Display for Value {
    /// Unsigned integers and pointers in hex (`0x1a2b3c4d`), signed ones in decimal, enums by name, strings
    /// quoted, a failed path as `<null>` or `<unreadable>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Unsigned(v) => write!(f, "{v:#x}"),
            Value::Signed(v) => write!(f, "{v}"),
            Value::Enum(_, Some(name)) => write!(f, "{name}"),
            Value::Enum(v, None) => write!(f, "{v}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Pointer(p) => write!(f, "{p:#x}"),
            Value::Str { bytes, cut } => {
                write!(f, "\"")?;
                for &b in bytes {
                    match b {
                        b'"' => write!(f, "\\\"")?,
                        b'\\' => write!(f, "\\\\")?,
                        0x20..=0x7e => write!(f, "{}", b as char)?,
                        _ => write!(f, "\\x{b:02x}")?,
                    }
                }
                write!(f, "\"{}", if *cut { "..." } else { "" })
            }
            Value::Bytes(b) => {
                write!(f, "[")?;
                for (i, x) in b.iter().enumerate() {
                    write!(f, "{}{x:02x}", if i > 0 { " " } else { "" })?;
                }
                write!(f, "]")
            }
            Value::Null => write!(f, "<null>"),
            Value::Unreadable => write!(f, "<unreadable>"),
        }
    }
}

/// Decodes one slot from an area the fetcher filled; `None` when the area is too short for it.
pub fn decode_slot(slot: &Slot, area: &[u8]) -> Option<Value> {
    let at = slot.offset as usize;
    let status = u64::from_le_bytes(area.get(at..at + 8)?.try_into().ok()?);
    let value = area.get(at + 8..at + 8 + slot.size as usize)?;
    match status {
        s if s == STATUS_OK as u64 => {}
        s if s == STATUS_NULL as u64 => return Some(Value::Null),
        _ => return Some(Value::Unreadable),
    }
    let word = || u64::from_le_bytes(value[..8].try_into().expect("8-byte value"));
    Some(match &slot.kind {
        ValueKind::Int { signed: true, .. } => Value::Signed(word() as i64),
        ValueKind::Int { signed: false, .. } => Value::Unsigned(word()),
        ValueKind::Enum { values, signed, .. } => {
            let v = if *signed {
                word() as i64 as i128
            } else {
                word() as i128
            };
            let name = values.iter().find(|(_, x)| *x == v).map(|(n, _)| n.clone());
            Value::Enum(v, name)
        }
        ValueKind::Bool => Value::Bool(word() != 0),
        ValueKind::Pointer { .. } => Value::Pointer(word()),
        ValueKind::Str { cut, pointer, cap } => {
            let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
            let full = end + usize::from(*pointer) >= *cap as usize;
            Value::Str {
                bytes: value[..end].to_vec(),
                cut: *cut && full,
            }
        }
        ValueKind::Bytes { .. } => Value::Bytes(value.to_vec()),
    })
}
