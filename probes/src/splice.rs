//! Splicing generated code into the BPF object: the pcap filter (docs/filter-abi.md) and the BTF-expression
//! filter and fetcher (docs/btf-expr-abi.md).
//!
//! Each stub function sits alone in its own section (`.text.pcap_filter`, ...). For every [`Stub`] we replace that
//! section's bytes with the generated instructions, fix the section and symbol sizes, and drop the stub's stale
//! `.BTF.ext` line records (they point into the old body; the kernel refuses line info past a subprogram's end),
//! keeping the one at the function's first instruction, which the kernel requires. The result is an ordinary ELF
//! for aya.
use crate::btf_ext;
use object::build::elf::{Builder, SectionData};

/// Why generated instructions cannot be spliced into the object.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpliceError {
    /// The code is empty or not whole instructions.
    #[error("{0} bytes, not a non-empty multiple of 8")]
    Length(usize),
    /// More instructions than the kernel loads.
    #[error("{0} instructions, more than the kernel allows")]
    TooLong(usize),
    /// A call of a BPF function or kfunc (only helper calls need no relocation).
    #[error(
        "instruction {at} calls a BPF function or kfunc (src_reg {src}); only helper calls can be spliced"
    )]
    Call {
        /// Instruction index.
        at: usize,
        /// Its source register field.
        src: u8,
    },
    /// A 64-bit load of a map or BTF reference, which needs a relocation.
    #[error(
        "instruction {at} loads a map or BTF reference (src_reg {src}), which needs a relocation"
    )]
    Reference {
        /// Instruction index.
        at: usize,
        /// Its source register field.
        src: u8,
    },
    /// The last instruction could fall through past the end.
    #[error("the last instruction is not an exit or a jump")]
    NoExit,
    /// The generated code for one stub is not spliceable (see [`validate`]).
    #[error("code for {section}")]
    Code {
        /// The stub's section.
        section: String,
        /// What is wrong with the code.
        #[source]
        error: Box<SpliceError>,
    },
    /// The object has no such stub: no section of that name holding exactly one function.
    #[error("the object has no stub function alone in section {0}")]
    NoStub(String),
    /// The same section was given twice.
    #[error("section {0} is spliced twice")]
    Twice(String),
    /// The object does not look as `bpf/` makes it (a stale or foreign object).
    #[error("the object {0}")]
    Object(&'static str),
    /// Reading or writing the ELF failed.
    #[error("rewriting the ELF")]
    Elf(#[from] object::build::Error),
}

/// The section of the pcap filter stub `pcap_filter` (bpf/filter.h).
pub const PCAP_FILTER: &str = ".text.pcap_filter";

/// The section of the BTF-expression filter stub `btf_filter` (bpf/btf_expr.h), rooted at `struct sk_buff *`.
pub const BTF_FILTER: &str = ".text.btf_filter";

/// The section of the BTF-expression fetcher stub `btf_fetch` (bpf/btf_expr.h), rooted at `struct sk_buff *`.
pub const BTF_FETCH: &str = ".text.btf_fetch";

/// The section of the BTF-expression filter stub `xdp_filter` (bpf/btf_expr.h), rooted at `struct xdp_buff *`.
pub const XDP_FILTER: &str = ".text.xdp_filter";

/// The section of the BTF-expression fetcher stub `xdp_fetch` (bpf/btf_expr.h), rooted at `struct xdp_buff *`.
pub const XDP_FETCH: &str = ".text.xdp_fetch";

/// Generated instructions for the stub function alone in `section`.
#[derive(Clone, Copy, Debug)]
pub struct Stub<'a> {
    /// The stub's section, e.g. [`PCAP_FILTER`].
    pub section: &'a str,
    /// Raw little-endian eBPF instructions.
    pub insns: &'a [u8],
}

const BPF_JMP: u8 = 0x05;
const BPF_CALL: u8 = 0x80;
const BPF_LD_IMM64: u8 = 0x18;
const BPF_EXIT: u8 = 0x95;
const BPF_JMP32: u8 = 0x06;

/// Checks what the splice cannot carry: relocations. The generated code may call helpers, but not other BPF
/// functions or kfuncs, and may not reference maps; its last instruction must be an exit or a jump.
pub fn validate(insns: &[u8]) -> Result<(), SpliceError> {
    if insns.is_empty() || !insns.len().is_multiple_of(8) {
        return Err(SpliceError::Length(insns.len()));
    }
    let n = insns.len() / 8;
    if n > 1_000_000 {
        return Err(SpliceError::TooLong(n));
    }
    let mut i = 0;
    while i < n {
        let b = &insns[i * 8..i * 8 + 8];
        let code = b[0];
        let src = b[1] >> 4;
        if code == BPF_JMP | BPF_CALL && src != 0 {
            return Err(SpliceError::Call { at: i, src });
        }
        if code == BPF_LD_IMM64 {
            if src != 0 {
                return Err(SpliceError::Reference { at: i, src });
            }
            i += 1; // second half of the 16-byte instruction
        }
        i += 1;
    }
    let last = insns[(n - 1) * 8];
    let class = last & 0x07;
    if last != BPF_EXIT && class != BPF_JMP && class != BPF_JMP32 {
        return Err(SpliceError::NoExit);
    }
    Ok(())
}

/// Returns `elf` with the body of each stub replaced by its instructions (no stubs: `elf` unchanged).
pub fn splice(elf: &[u8], stubs: &[Stub<'_>]) -> Result<Vec<u8>, SpliceError> {
    rewrite(elf, stubs, None)
}

/// [`splice`], keeping only the programs named in `keep` (by function name; names the object lacks are left for
/// the loader to report): the other programs' sections, their relocations, symbols and `.BTF.ext` blocks go, and
/// so does `.rel.BTF.ext` (relocations for linkers, which nothing here reads). Parsing the object and CO-RE
/// relocating it then cost what is loaded, not the forty-odd programs of every backend.
pub fn splice_keeping(
    elf: &[u8],
    stubs: &[Stub<'_>],
    keep: &[&str],
) -> Result<Vec<u8>, SpliceError> {
    rewrite(elf, stubs, Some(keep))
}

fn rewrite(elf: &[u8], stubs: &[Stub<'_>], keep: Option<&[&str]>) -> Result<Vec<u8>, SpliceError> {
    for (i, st) in stubs.iter().enumerate() {
        validate(st.insns).map_err(|error| SpliceError::Code {
            section: st.section.to_string(),
            error: Box::new(error),
        })?;
        if stubs[..i].iter().any(|o| o.section == st.section) {
            return Err(SpliceError::Twice(st.section.to_string()));
        }
    }
    if stubs.is_empty() && keep.is_none() {
        return Ok(elf.to_vec());
    }
    let mut b = Builder::read(elf)?;
    for st in stubs {
        replace_stub(&mut b, st)?;
    }
    let dropped = match keep {
        Some(keep) => drop_programs(&mut b, keep),
        None => Vec::new(),
    };

    let btf = b
        .sections
        .iter()
        .find(|s| s.name.as_slice() == b".BTF")
        .and_then(|s| match &s.data {
            SectionData::Data(d) => Some(d.to_vec()),
            _ => None,
        })
        .ok_or(SpliceError::Object("has no .BTF section"))?;
    let stub_sections: Vec<&str> = stubs.iter().map(|s| s.section).collect();
    let edit = btf_ext::Edit {
        dropped: &dropped,
        stubs: &stub_sections,
    };
    for s in b.sections.iter_mut() {
        if s.name.as_slice() == b".BTF.ext"
            && let SectionData::Data(d) = &s.data
        {
            let fixed = btf_ext::edit(&btf, d, &edit)?;
            s.sh_size = fixed.len() as u64;
            s.data = SectionData::Data(fixed.into());
        }
    }

    if !b
        .sections
        .iter()
        .any(|s| matches!(s.data, SectionData::SectionString))
    {
        // LLVM shares one .strtab for section and symbol names; the builder writes section names separately.
        let s = b.sections.add();
        s.name = b".shstrtab"[..].into();
        s.sh_type = object::elf::SHT_STRTAB;
        s.data = SectionData::SectionString;
    }
    let mut out = Vec::new();
    b.write(&mut out)?;
    Ok(out)
}

/// Marks for deletion every program section (code outside `.text*`) none of whose functions is in `keep`, with
/// its relocations and symbols, and `.rel.BTF.ext`; returns the names of the sections dropped.
fn drop_programs(b: &mut Builder<'_>, keep: &[&str]) -> Vec<Vec<u8>> {
    let mut dropped = Vec::new();
    let mut ids = Vec::new();
    for s in b.sections.iter() {
        let name = s.name.as_slice();
        let code = s.sh_flags.0 & object::elf::SHF_EXECINSTR.0 != 0;
        if !code || name == b".text" || name.starts_with(b".text.") {
            continue;
        }
        let kept = b.symbols.iter().any(|sym| {
            sym.section == Some(s.id())
                && sym.st_type() == object::elf::STT_FUNC
                && keep.iter().any(|k| k.as_bytes() == sym.name.as_slice())
        });
        if !kept {
            ids.push(s.id());
            dropped.push(name.to_vec());
        }
    }
    for s in b.sections.iter_mut() {
        let rel_of_dropped = s.sh_info_section.is_some_and(|t| ids.contains(&t))
            && matches!(s.data, SectionData::Relocation(_));
        if ids.contains(&s.id()) || rel_of_dropped || s.name.as_slice() == b".rel.BTF.ext" {
            s.delete = true;
        }
    }
    b.delete_orphan_symbols();
    b.delete_orphan_relocations();
    dropped
}

/// Puts `st`'s instructions into its section and resizes the one function symbol there.
fn replace_stub(b: &mut Builder<'_>, st: &Stub<'_>) -> Result<(), SpliceError> {
    let missing = || SpliceError::NoStub(st.section.to_string());
    let mut stub = None;
    for s in b.sections.iter_mut() {
        if s.name.as_slice() == st.section.as_bytes() {
            s.data = SectionData::Data(st.insns.to_vec().into());
            s.sh_size = st.insns.len() as u64;
            stub = Some(s.id());
        }
    }
    let stub = stub.ok_or_else(missing)?;
    let mut sized = 0;
    for sym in b.symbols.iter_mut() {
        if sym.section == Some(stub) && sym.st_size > 0 {
            sym.st_size = st.insns.len() as u64;
            sized += 1;
        }
    }
    if sized != 1 {
        return Err(missing());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_relocated_instructions() {
        // r0 = 1; exit
        let ok = [0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
        validate(&ok).unwrap();
        assert!(validate(&ok[..12]).is_err());
        assert!(validate(&[]).is_err());
        // call with src_reg = 1 (BPF-to-BPF call)
        let call = [0x85, 0x10, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
        assert!(validate(&call).is_err());
        // helper call is fine
        let helper = [0x85, 0x00, 0, 0, 6, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
        validate(&helper).unwrap();
        // ld_imm64 of a map fd
        let map = [
            0x18, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert!(validate(&map).is_err());
        // does not end in exit
        let noexit = [0xb7, 0, 0, 0, 1, 0, 0, 0];
        assert!(validate(&noexit).is_err());
    }

    #[test]
    fn splice_resizes_stub_and_trims_its_lines() {
        let mut code = vec![0xb7, 0, 0, 0, 0, 0, 0, 0];
        for _ in 0..100 {
            code.extend_from_slice(&[0x07, 0, 0, 0, 1, 0, 0, 0]);
        }
        code.extend_from_slice(&[0x95, 0, 0, 0, 0, 0, 0, 0]);
        let out = splice(
            crate::objects::object(),
            &[Stub {
                section: PCAP_FILTER,
                insns: &code,
            }],
        )
        .unwrap();
        let obj = aya_obj::Object::parse(&out).unwrap();
        let f = obj
            .functions
            .values()
            .find(|f| f.name == "pcap_filter")
            .expect("stub function");
        assert_eq!(f.instructions.len(), 102);
        assert_eq!(
            f.line_info.line_info.len(),
            1,
            "only the first line record of the stub is kept"
        );
        assert_eq!(f.line_info.line_info[0].insn_off, 0);
        // every program is still there
        assert!(obj.programs.contains_key("kprobe_skb_1"));
        assert!(obj.programs.contains_key("filter_test"));
    }

    #[test]
    fn keeping_leaves_only_the_named_programs_relocated_as_before() {
        let code = [0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
        let stubs = [Stub {
            section: PCAP_FILTER,
            insns: &code,
        }];
        let keep = [
            "kprobe_multi_cookie",
            "raw_tp_skb_0_reason_2",
            "no_such_program",
        ];
        let all = splice(crate::objects::object(), &stubs).unwrap();
        let kept = splice_keeping(crate::objects::object(), &stubs, &keep).unwrap();
        assert!(
            kept.len() * 4 < all.len(),
            "{} of {} bytes",
            kept.len(),
            all.len()
        );
        let mut all = aya_obj::Object::parse(&all).unwrap();
        let mut kept = aya_obj::Object::parse(&kept).unwrap();
        let mut names: Vec<String> = kept.programs.keys().cloned().collect();
        names.sort();
        assert_eq!(names, ["kprobe_multi_cookie", "raw_tp_skb_0_reason_2"]);
        // The dropped sections' CO-RE blocks are gone with them (aya refuses a block whose section is missing),
        // and what stays is relocated against the running kernel exactly as in the whole object.
        let btf = aya_obj::btf::Btf::from_sys_fs().expect("the kernel's BTF");
        all.relocate_btf(&btf).unwrap();
        kept.relocate_btf(&btf).unwrap();
        for name in &names[..] {
            let insns = |o: &aya_obj::Object| {
                format!(
                    "{:?}",
                    o.functions[&o.programs[name.as_str()].function_key()].instructions
                )
            };
            assert_eq!(insns(&kept), insns(&all), "{name}");
        }
        // The subprograms the kept programs call are all still there.
        assert!(kept.functions.values().any(|f| f.name == "pcap_filter"));
        assert_eq!(kept.maps.len(), all.maps.len());
    }

    #[test]
    fn names_the_stub_it_cannot_splice() {
        let ok = [0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
        let obj = crate::objects::object();
        let stub = |section| Stub {
            section,
            insns: &ok,
        };
        let e = splice(obj, &[stub(".text.nope")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the object has no stub function alone in section .text.nope"
        );
        // a section that is not a stub's: .text holds no function of its own (or several)
        assert!(matches!(
            splice(obj, &[stub(".rodata")]),
            Err(SpliceError::NoStub(_))
        ));
        let e = splice(obj, &[stub(PCAP_FILTER), stub(PCAP_FILTER)]).unwrap_err();
        assert!(matches!(e, SpliceError::Twice(_)), "{e}");
        let bad = Stub {
            section: PCAP_FILTER,
            insns: &ok[..8],
        };
        let e = splice(obj, &[bad]).unwrap_err();
        assert_eq!(e.to_string(), "code for .text.pcap_filter");
        assert_eq!(
            std::error::Error::source(&e).unwrap().to_string(),
            "the last instruction is not an exit or a jump"
        );
        assert_eq!(splice(obj, &[]).unwrap(), obj);
    }
}
