//! The BTF wire format: header, type section, string section. One `Unit` is one blob (vmlinux, or a module's
//! split BTF whose type ids and string offsets continue after the base's).

pub(crate) mod kind {
    pub const INT: u8 = 1;
    pub const PTR: u8 = 2;
    pub const ARRAY: u8 = 3;
    pub const STRUCT: u8 = 4;
    pub const UNION: u8 = 5;
    pub const ENUM: u8 = 6;
    pub const FWD: u8 = 7;
    pub const TYPEDEF: u8 = 8;
    pub const VOLATILE: u8 = 9;
    pub const CONST: u8 = 10;
    pub const RESTRICT: u8 = 11;
    pub const FUNC: u8 = 12;
    pub const FUNC_PROTO: u8 = 13;
    pub const VAR: u8 = 14;
    pub const DATASEC: u8 = 15;
    pub const FLOAT: u8 = 16;
    pub const DECL_TAG: u8 = 17;
    pub const TYPE_TAG: u8 = 18;
    pub const ENUM64: u8 = 19;
}

const MAGIC: u16 = 0xeb9f;
const HEADER_MIN: usize = 24;

/// One type record: the common 12-byte `struct btf_type` plus where its kind-specific tail starts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TypeRec {
    pub name_off: u32,
    pub info: u32,
    /// `size` or `type`, depending on the kind.
    pub size_type: u32,
    /// Byte offset of the kind-specific tail inside the unit's data.
    pub tail: u32,
}

impl TypeRec {
    pub fn kind(&self) -> u8 {
        ((self.info >> 24) & 0x1f) as u8
    }
    pub fn vlen(&self) -> usize {
        (self.info & 0xffff) as usize
    }
    pub fn kind_flag(&self) -> bool {
        self.info >> 31 != 0
    }
}

#[derive(Debug)]
pub(crate) struct Unit {
    /// `None` for vmlinux, the module name for split BTF.
    pub module: Option<String>,
    pub data: Vec<u8>,
    big_endian: bool,
    str_start: usize,
    str_len: usize,
    /// Type id of `types[0]`: 1 for a base, base's count + 1 for split BTF.
    pub first_id: u32,
    /// String offsets below this belong to the base.
    pub str_base: u32,
    pub types: Vec<TypeRec>,
}

impl Unit {
    /// Parses a raw BTF blob. `base` is `(type count incl. void, string section length)` of the base for split
    /// BTF.
    pub fn parse(
        data: Vec<u8>,
        module: Option<String>,
        base: Option<(u32, u32)>,
    ) -> Result<Unit, String> {
        if data.len() < HEADER_MIN {
            return Err(format!(
                "{} bytes is too short for a BTF header",
                data.len()
            ));
        }
        let big_endian = match u16::from_le_bytes([data[0], data[1]]) {
            MAGIC => false,
            m if m.swap_bytes() == MAGIC => true,
            m => return Err(format!("bad magic {m:#06x} (want 0xeb9f)")),
        };
        let rd = |off: usize| read_u32(&data, off, big_endian);
        let hdr_len = rd(4) as usize;
        if hdr_len < HEADER_MIN || hdr_len > data.len() {
            return Err(format!("bad header length {hdr_len}"));
        }
        let (type_off, type_len, str_off, str_len) = (rd(8), rd(12), rd(16), rd(20));
        let section = |off: u32, len: u32, what: &str| -> Result<usize, String> {
            let start = hdr_len as u64 + off as u64;
            if start + len as u64 > data.len() as u64 {
                return Err(format!(
                    "{what} section ({off}+{len}) runs past the end ({} bytes)",
                    data.len()
                ));
            }
            Ok(start as usize)
        };
        let type_start = section(type_off, type_len, "type")?;
        let str_start = section(str_off, str_len, "string")?;
        let (first_id, str_base) = match base {
            Some((count, strs)) => (count, strs),
            None => (1, 0),
        };

        // A kernel has ~150k types at ~33 bytes each; reserving from the section size avoids regrowth.
        let mut types = Vec::with_capacity(type_len as usize / 24);
        let end = type_start + type_len as usize;
        let mut pos = type_start;
        while pos < end {
            if pos + 12 > end {
                return Err(format!("truncated type record at byte {pos}"));
            }
            let rec = TypeRec {
                name_off: rd(pos),
                info: rd(pos + 4),
                size_type: rd(pos + 8),
                tail: (pos + 12) as u32,
            };
            let vlen = rec.vlen();
            let tail_len = match rec.kind() {
                kind::INT | kind::VAR | kind::DECL_TAG => 4,
                kind::ARRAY => 12,
                kind::STRUCT | kind::UNION | kind::DATASEC | kind::ENUM64 => 12 * vlen,
                kind::ENUM | kind::FUNC_PROTO => 8 * vlen,
                kind::PTR
                | kind::FWD
                | kind::TYPEDEF
                | kind::VOLATILE
                | kind::CONST
                | kind::RESTRICT
                | kind::FUNC
                | kind::FLOAT
                | kind::TYPE_TAG => 0,
                k => {
                    let id = first_id as usize + types.len();
                    return Err(format!("unsupported BTF kind {k} at type id {id}"));
                }
            };
            pos += 12 + tail_len;
            if pos > end {
                return Err(format!(
                    "type id {} runs past the type section",
                    first_id as usize + types.len()
                ));
            }
            types.push(rec);
        }
        Ok(Unit {
            module,
            data,
            big_endian,
            str_start,
            str_len: str_len as usize,
            first_id,
            str_base,
            types,
        })
    }

    pub fn u32_at(&self, off: usize) -> u32 {
        read_u32(&self.data, off, self.big_endian)
    }

    /// Ids past the last type of this unit: what a split BTF built on it starts at.
    pub fn next_id(&self) -> u32 {
        self.first_id + self.types.len() as u32
    }

    /// Total string-section length seen from a split BTF built on this unit.
    pub fn str_end(&self) -> u32 {
        self.str_base + self.str_len as u32
    }

    /// Whether the string at `off` (relative to this unit) is exactly `want`: no UTF-8 check, no scan.
    pub fn local_str_is(&self, off: usize, want: &str) -> bool {
        let start = self.str_start + off;
        let end = start + want.len();
        off < self.str_len
            && end < self.str_start + self.str_len
            && &self.data[start..end] == want.as_bytes()
            && self.data[end] == 0
    }

    /// The string at `off`, relative to this unit's own string section.
    pub fn local_str(&self, off: usize) -> &str {
        if off >= self.str_len {
            return "";
        }
        let bytes = &self.data[self.str_start + off..self.str_start + self.str_len];
        let n = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        std::str::from_utf8(&bytes[..n]).unwrap_or("")
    }
}

/// Starts with the BTF magic in either byte order.
pub(crate) fn looks_like_btf(data: &[u8]) -> bool {
    data.starts_with(&MAGIC.to_le_bytes()) || data.starts_with(&MAGIC.to_be_bytes())
}

/// The largest well-formed BTF blob inside `data` (a kernel image): magic, version 1, a header whose sections
/// fit, and types that parse.
pub(crate) fn find_embedded(data: &[u8]) -> Option<&[u8]> {
    let mut best: Option<&[u8]> = None;
    for big_endian in [false, true] {
        let (magic, hdr24) = if big_endian {
            (MAGIC.to_be_bytes(), 24u32.to_be_bytes())
        } else {
            (MAGIC.to_le_bytes(), 24u32.to_le_bytes())
        };
        let needle = [
            magic[0], magic[1], 1, 0, hdr24[0], hdr24[1], hdr24[2], hdr24[3],
        ];
        for at in memchr::memmem::find_iter(data, &needle) {
            let blob = &data[at..];
            if blob.len() < HEADER_MIN {
                continue;
            }
            let rd = |off: usize| read_u32(blob, off, big_endian) as u64;
            let end = HEADER_MIN as u64 + (rd(8) + rd(12)).max(rd(16) + rd(20));
            if rd(12) == 0 || end > blob.len() as u64 || best.is_some_and(|b| b.len() as u64 >= end)
            {
                continue;
            }
            let candidate = &blob[..end as usize];
            if Unit::parse(candidate.to_vec(), None, None).is_ok() {
                best = Some(candidate);
            }
        }
    }
    best
}

fn read_u32(data: &[u8], off: usize, big_endian: bool) -> u32 {
    let b = [data[off], data[off + 1], data[off + 2], data[off + 3]];
    if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}
