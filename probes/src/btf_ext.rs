//! Editing the object's `.BTF.ext`: its three parts (func_info, line_info, CO-RE relocations) are each a record
//! size followed by blocks, one per code section (the section's name as an offset into `.BTF`, a record count,
//! the records). aya reads them by section name, and a CO-RE block whose section is gone is an error, so a
//! section removed from the object must lose its blocks here too.
use crate::splice::SpliceError;

/// What [`edit`] changes.
pub(crate) struct Edit<'a> {
    /// Sections removed from the object: their blocks go from every part.
    pub dropped: &'a [Vec<u8>],
    /// Spliced stub sections: their line_info keeps only the record at instruction 0 (the others point into the
    /// old body; the kernel refuses line info past a subprogram's end, and requires the first one).
    pub stubs: &'a [&'a str],
}

fn u32_at(d: &[u8], off: usize) -> Result<u32, SpliceError> {
    d.get(off..off + 4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
        .ok_or(SpliceError::Object("has truncated BTF"))
}

/// The name at `off` in the .BTF string table.
fn btf_string(btf: &[u8], off: u32) -> Result<&[u8], SpliceError> {
    let hdr_len = u32_at(btf, 4)? as usize;
    let str_off = u32_at(btf, 16)? as usize;
    let start = hdr_len + str_off + off as usize;
    let tail = btf
        .get(start..)
        .ok_or(SpliceError::Object("has a bad BTF string offset"))?;
    let end = tail.iter().position(|&c| c == 0).unwrap_or(tail.len());
    Ok(&tail[..end])
}

/// Returns `ext` (the `.BTF.ext` bytes, whose section names are in `btf`) with `edit` applied; the parts are laid
/// out again after the header, in the same order, with the header's offsets and lengths to match.
pub(crate) fn edit(btf: &[u8], ext: &[u8], edit: &Edit<'_>) -> Result<Vec<u8>, SpliceError> {
    if ext.len() < 24 || u16::from_le_bytes([ext[0], ext[1]]) != 0xeb9f {
        return Err(SpliceError::Object("has a malformed .BTF.ext header"));
    }
    let hdr_len = u32_at(ext, 4)? as usize;
    // (offset of the part's header field, is line_info); CO-RE relocations exist from a 32-byte header on.
    let mut parts = vec![(8, false), (16, true)];
    if hdr_len >= 32 {
        parts.push((24, false));
    }
    // The parts in the order they are stored, so that anything between or after them keeps its place.
    let mut order: Vec<(usize, usize, usize, bool)> = Vec::new();
    for (field, lines) in parts {
        let off = u32_at(ext, field)? as usize;
        let len = u32_at(ext, field + 4)? as usize;
        if hdr_len + off + len > ext.len() {
            return Err(SpliceError::Object("has a truncated .BTF.ext"));
        }
        order.push((field, off, len, lines));
    }
    order.sort_by_key(|p| p.1);
    let mut out = ext[..hdr_len].to_vec();
    let mut at = 0;
    for (field, off, len, lines) in order {
        let body = &ext[hdr_len..];
        if off < at {
            return Err(SpliceError::Object("has overlapping .BTF.ext parts"));
        }
        out.extend_from_slice(&body[at..off]);
        let new_off = out.len() - hdr_len;
        let part = edit_part(btf, &body[off..off + len], lines, edit)?;
        out.extend_from_slice(&part);
        out[field..field + 4].copy_from_slice(&(new_off as u32).to_le_bytes());
        out[field + 4..field + 8].copy_from_slice(&(part.len() as u32).to_le_bytes());
        at = off + len;
    }
    out.extend_from_slice(&ext[hdr_len + at..]);
    Ok(out)
}

/// One part: the record size, then the blocks of the sections that stay.
fn edit_part(
    btf: &[u8],
    part: &[u8],
    lines: bool,
    edit: &Edit<'_>,
) -> Result<Vec<u8>, SpliceError> {
    if part.len() < 4 {
        return Ok(part.to_vec());
    }
    let rec_size = u32_at(part, 0)? as usize;
    if rec_size < 4 {
        return Err(SpliceError::Object("has a bad .BTF.ext record size"));
    }
    let mut out = part[..4].to_vec();
    let mut p = 4;
    while p < part.len() {
        let sec_name = u32_at(part, p)?;
        let num = u32_at(part, p + 4)? as usize;
        let recs = p + 8;
        let recs_end = recs + num * rec_size;
        if recs_end > part.len() {
            return Err(SpliceError::Object("has a truncated .BTF.ext block"));
        }
        let name = btf_string(btf, sec_name)?;
        if edit.dropped.iter().any(|d| d.as_slice() == name) {
            // gone with its section
        } else if lines && edit.stubs.iter().any(|s| s.as_bytes() == name) {
            let kept: Vec<&[u8]> = part[recs..recs_end]
                .chunks(rec_size)
                .filter(|r| u32::from_le_bytes(r[..4].try_into().expect("4 bytes")) == 0)
                .take(1)
                .collect();
            out.extend_from_slice(&sec_name.to_le_bytes());
            out.extend_from_slice(&(kept.len() as u32).to_le_bytes());
            for r in kept {
                out.extend_from_slice(r);
            }
        } else {
            out.extend_from_slice(&part[p..recs_end]);
        }
        p = recs_end;
    }
    Ok(out)
}
