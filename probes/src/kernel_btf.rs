//! The running kernel's BTF as the loader needs it, read on a thread of its own: started early, the read overlaps
//! the caller's own start-up work (pwru finds its targets meanwhile) instead of adding to [`crate::Tracer::load`]'s
//! time. Only the part CO-RE needs is parsed (`btf_subset`), and the ids of the few types the loader names.
use crate::btf_subset::{self, FUNC, STRUCT, TYPEDEF};
use crate::error::{BadBtf, ObjectError};
use aya_obj::btf::{Btf, BtfError};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::thread::JoinHandle;

const VMLINUX: &str = "/sys/kernel/btf/vmlinux";
/// A vmlinux BTF is 5-10 MB; anything past this is not one.
const MAX_BTF_BYTES: u64 = 512 << 20;

/// `/sys/kernel/btf/vmlinux`, being read; [`crate::Tracer::load_with`] takes it.
pub struct KernelBtf {
    parse: JoinHandle<Result<KernelTypes, ObjectError>>,
}

/// The kernel's types the loader uses.
pub(crate) struct KernelTypes {
    /// The part that CO-RE relocates against (its own type ids).
    pub(crate) core: Btf,
    /// Kernel type ids by (BTF kind, name), for [`KernelTypes::id`]'s names.
    ids: HashMap<(u32, String), u32>,
}

/// The types whose kernel ids the loader asks for: each tracepoint's `btf_trace_` typedef (tp_btf programs attach
/// to it), the bpf_prog iterator (`--filter-trace-tc/-xdp`), the structs `--output-skb` and
/// `--output-skb-shared-info` print.
fn looked_up(kind: u32, name: &[u8]) -> bool {
    match kind {
        TYPEDEF => name.starts_with(b"btf_trace_"),
        FUNC => name == b"bpf_iter_bpf_prog",
        STRUCT => name == b"sk_buff" || name == b"skb_shared_info",
        _ => false,
    }
}

impl KernelTypes {
    /// Reads `path` (a vmlinux BTF) for `object` (an ELF whose `.BTF` names the types CO-RE looks up).
    pub(crate) fn read(path: &Path, object: &[u8]) -> Result<KernelTypes, ObjectError> {
        let file_error = |error| {
            ObjectError::KernelBtf(BtfError::FileError {
                path: path.into(),
                error,
            })
        };
        let mut data = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_BTF_BYTES).read_to_end(&mut data))
            .map_err(file_error)?;
        let part = local_btf(object)
            .and_then(btf_subset::local_names)
            .and_then(|roots| btf_subset::subset(&data, &roots, looked_up))
            .map_err(ObjectError::KernelBtfPart)?;
        drop(data);
        let core = Btf::parse(&part.btf, Default::default()).map_err(ObjectError::KernelBtf)?;
        Ok(KernelTypes {
            core,
            ids: part.ids,
        })
    }

    /// The kernel's id of the type of BTF `kind` named `name`, if [`looked_up`] keeps it.
    pub(crate) fn id(&self, kind: u32, name: &str) -> Option<u32> {
        self.ids.get(&(kind, name.to_string())).copied()
    }
}

/// The `.BTF` section of an ELF object.
fn local_btf(object: &[u8]) -> Result<&[u8], BadBtf> {
    use object::{Object, ObjectSection};
    let bad = |_| BadBtf("in the BPF object: not an ELF file");
    let elf = object::File::parse(object).map_err(bad)?;
    elf.section_by_name(".BTF")
        .and_then(|s| s.data().ok())
        .ok_or(BadBtf("in the BPF object: no .BTF section"))
}

impl KernelBtf {
    /// Starts reading the kernel's BTF on a new thread.
    pub fn read_in_background() -> KernelBtf {
        KernelBtf {
            parse: std::thread::spawn(|| {
                KernelTypes::read(Path::new(VMLINUX), crate::objects::object())
            }),
        }
    }

    /// Waits for the read.
    pub(crate) fn wait(self) -> Result<KernelTypes, ObjectError> {
        match self.parse.join() {
            Ok(btf) => btf,
            // A panic in the parser is a bug in it: let it go on unwinding here, where the caller is.
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aya_obj::btf::BtfKind;

    /// Every CO-RE relocation of every program in the object comes out against the part as against the whole
    /// kernel BTF, and the ids looked up are the kernel's.
    #[test]
    fn core_relocations_match_the_whole_btf() {
        let object = crate::objects::object();
        let whole = Btf::from_sys_fs().expect("the kernel's BTF");
        let part = KernelTypes::read(Path::new(VMLINUX), object).unwrap();
        let whole_len = std::fs::metadata(VMLINUX).unwrap().len();
        let roots = btf_subset::local_names(local_btf(object).unwrap()).unwrap();
        let raw = std::fs::read(VMLINUX).unwrap();
        let part_len = btf_subset::subset(&raw, &roots, looked_up)
            .unwrap()
            .btf
            .len() as u64;
        eprintln!("the part: {part_len} of {whole_len} bytes");
        assert!(part_len * 10 < whole_len, "a tenth of the whole at most");

        let parse = || aya_obj::Object::parse(object).unwrap();
        let (mut against_whole, mut against_part) = (parse(), parse());
        against_whole.relocate_btf(&whole).unwrap();
        against_part.relocate_btf(&part.core).unwrap();
        assert!(against_whole.functions.len() > 40);
        for (key, f) in &against_whole.functions {
            assert_eq!(
                format!("{:?}", against_part.functions[key].instructions),
                format!("{:?}", f.instructions),
                "{}",
                f.name
            );
        }
        for (kind, btf_kind, name) in [
            (STRUCT, BtfKind::Struct, "sk_buff"),
            (STRUCT, BtfKind::Struct, "skb_shared_info"),
            (FUNC, BtfKind::Func, "bpf_iter_bpf_prog"),
            (TYPEDEF, BtfKind::Typedef, "btf_trace_kfree_skb"),
        ] {
            let id = whole.id_by_type_name_kind(name, btf_kind).ok();
            assert!(id.is_some(), "{name} in the kernel");
            assert_eq!(part.id(kind, name), id, "{name}");
        }
        assert_eq!(part.id(STRUCT, "task_struct"), None, "not looked up");
    }
}
