//! Kernel BTF: vmlinux plus the split BTF of selected modules.

pub(crate) mod raw;
mod types;

pub use types::{Composite, EnumType, IntType, Member, POINTER_SIZE, Qualifier, Type, TypeId};

use std::path::{Path, PathBuf};

use crate::error::{Result, SymbolsError, io_err};
use crate::read::{MAX_BTF_BYTES, read_capped};
use raw::{TypeRec, Unit, kind};

/// The running kernel's own BTF.
pub const DEFAULT_VMLINUX: &str = "/sys/kernel/btf/vmlinux";
/// Where the running kernel exposes each loaded module's split BTF, one file per module.
pub const DEFAULT_MODULE_DIR: &str = "/sys/kernel/btf";

/// Which modules' split BTF to add (`--kmods a,b` / `--all-kmods`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ModuleSel {
    /// vmlinux only.
    #[default]
    None,
    /// These modules (each must exist).
    Some(Vec<String>),
    /// Every module in the module directory.
    All,
}

/// Where to read BTF from. `Default` is the running kernel.
#[derive(Clone, Debug)]
pub struct BtfOptions {
    /// `--kernel-btf FILE`: a raw BTF blob or an ELF with a `.BTF` section; `None` is /sys/kernel/btf/vmlinux.
    pub kernel_btf: Option<PathBuf>,
    /// Directory holding one split-BTF file per module (raw or ELF, e.g. a `.ko`).
    pub module_dir: PathBuf,
    /// Which modules of `module_dir` to add.
    pub kmods: ModuleSel,
}

impl Default for BtfOptions {
    fn default() -> Self {
        BtfOptions {
            kernel_btf: None,
            module_dir: PathBuf::from(DEFAULT_MODULE_DIR),
            kmods: ModuleSel::None,
        }
    }
}

/// vmlinux BTF and any number of modules' split BTF on top of it.
#[derive(Debug)]
pub struct Btf {
    /// `units[0]` is vmlinux; the rest are modules, each split on `units[0]`.
    units: Vec<Unit>,
}

impl Btf {
    /// The running kernel's BTF (or `vmlinux`, if given) plus the selected modules from /sys/kernel/btf.
    pub fn load(vmlinux: Option<&Path>, kmods: &ModuleSel) -> Result<Btf> {
        Btf::load_with(&BtfOptions {
            kernel_btf: vmlinux.map(Path::to_path_buf),
            kmods: kmods.clone(),
            ..BtfOptions::default()
        })
    }

    /// vmlinux and the modules `opts` names. Module BTF from the module directory only fits the running kernel,
    /// so asking for modules on another kernel's `kernel_btf` with the default directory is an error.
    pub fn load_with(opts: &BtfOptions) -> Result<Btf> {
        let base_path = opts
            .kernel_btf
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_VMLINUX));
        let bytes = read_btf_file(&base_path).map_err(|e| match e {
            SymbolsError::Io { source, .. }
                if source.kind() == std::io::ErrorKind::NotFound && opts.kernel_btf.is_none() =>
            {
                SymbolsError::NoKernelBtf(base_path.clone())
            }
            e => e,
        })?;
        let mut btf = Btf::from_bytes_at(bytes, &base_path)?;
        let modules = module_names(&opts.module_dir, &opts.kmods)?;
        // Split BTF only makes sense on the base it was built on: sysfs modules are built on sysfs vmlinux.
        if let Some(file) = &opts.kernel_btf
            && !modules.is_empty()
            && opts.module_dir == Path::new(DEFAULT_MODULE_DIR)
            && read_capped(Path::new(DEFAULT_VMLINUX), MAX_BTF_BYTES)
                .is_ok_and(|sys| sys != btf.base_bytes())
        {
            return Err(SymbolsError::ModuleBaseMismatch(file.clone()));
        }
        for name in modules {
            let path = opts.module_dir.join(&name);
            let bytes = read_btf_file(&path)?;
            btf.add_module_at(&name, bytes, &path)?;
        }
        Ok(btf)
    }

    /// Base BTF from bytes: a raw blob or an ELF object with a `.BTF` section.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Btf> {
        Btf::from_bytes_at(bytes, Path::new("<memory>"))
    }

    fn from_bytes_at(bytes: Vec<u8>, path: &Path) -> Result<Btf> {
        let blob = btf_blob(bytes, path)?;
        let unit = Unit::parse(blob, None, None).map_err(|msg| bad(path, msg))?;
        Ok(Btf { units: vec![unit] })
    }

    /// Adds a module's split BTF (raw, or an ELF such as a `.ko` with a `.BTF` section).
    pub fn add_module(&mut self, name: &str, bytes: Vec<u8>) -> Result<()> {
        self.add_module_at(name, bytes, Path::new(name))
    }

    fn add_module_at(&mut self, name: &str, bytes: Vec<u8>, path: &Path) -> Result<()> {
        if self.units.iter().any(|u| u.module.as_deref() == Some(name)) {
            return Ok(());
        }
        let blob = btf_blob(bytes, path)?;
        let base = &self.units[0];
        let unit = Unit::parse(
            blob,
            Some(name.to_string()),
            Some((base.next_id(), base.str_end())),
        )
        .map_err(|msg| bad(path, msg))?;
        self.units.push(unit);
        Ok(())
    }

    /// Names of the modules whose BTF is loaded, in load order.
    pub fn modules(&self) -> Vec<&str> {
        self.units
            .iter()
            .filter_map(|u| u.module.as_deref())
            .collect()
    }

    /// The raw vmlinux BTF blob (without any ELF wrapper), e.g. for a BPF loader's CO-RE relocations.
    pub fn base_bytes(&self) -> &[u8] {
        &self.units[0].data
    }

    /// Number of types, vmlinux and modules together (module ids overlap each other, so this is a sum).
    pub fn type_count(&self) -> usize {
        self.units.iter().map(|u| u.types.len()).sum()
    }

    /// The name of FUNC type `id` of the base BTF (a BPF program's own BTF names its functions so), `None` when
    /// `id` is no FUNC.
    pub fn func_name(&self, id: u32) -> Option<&str> {
        let view = self.views().next()?;
        let ty = view.ty(id)?;
        (ty.kind() == kind::FUNC).then(|| view.name(&ty))
    }

    /// One view per unit (vmlinux first): its types and how to resolve ids and names in them.
    pub(crate) fn views(&self) -> impl Iterator<Item = View<'_>> {
        self.units.iter().map(|unit| View {
            base: &self.units[0],
            unit,
        })
    }
}

/// The BTF in a file, read with a size cap: of an ELF file only its `.BTF` section (a vmlinux with debug info is
/// hundreds of MB), of anything else the whole file up to [`MAX_BTF_BYTES`].
fn read_btf_file(path: &Path) -> Result<Vec<u8>> {
    use object::{Object, ObjectSection};
    let mut f = std::fs::File::open(path).map_err(io_err(path))?;
    let mut magic = [0u8; 4];
    let regular = f.metadata().is_ok_and(|m| m.is_file());
    let elf =
        regular && std::io::Read::read_exact(&mut f, &mut magic).is_ok() && &magic == b"\x7fELF";
    if !elf {
        return read_capped(path, MAX_BTF_BYTES);
    }
    let cache = object::ReadCache::new(f);
    let file = object::File::parse(&cache).map_err(|e| bad(path, format!("bad ELF: {e}")))?;
    let section = file
        .section_by_name(".BTF")
        .ok_or_else(|| SymbolsError::NoBtfSection(path.to_path_buf()))?;
    if section.size() > MAX_BTF_BYTES {
        return Err(SymbolsError::TooLarge {
            path: path.to_path_buf(),
            cap_mib: MAX_BTF_BYTES >> 20,
        });
    }
    let data = section
        .uncompressed_data()
        .map_err(|e| bad(path, format!("cannot read .BTF: {e}")))?;
    Ok(data.into_owned())
}

fn bad(path: &Path, msg: String) -> SymbolsError {
    SymbolsError::BadBtf {
        path: path.to_path_buf(),
        msg,
    }
}

/// Unwraps the `.BTF` section of an ELF object, or finds the BTF blob embedded in a kernel image (arm64's
/// `Image` carries vmlinux BTF without section headers); anything else is taken as a raw blob.
fn btf_blob(bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    use object::{Object, ObjectSection};
    if raw::looks_like_btf(&bytes) {
        return Ok(bytes);
    }
    if !bytes.starts_with(b"\x7fELF") {
        return Ok(raw::find_embedded(&bytes)
            .map(<[u8]>::to_vec)
            .unwrap_or(bytes));
    }
    let file = object::File::parse(&*bytes).map_err(|e| bad(path, format!("bad ELF: {e}")))?;
    let section = file
        .section_by_name(".BTF")
        .ok_or_else(|| SymbolsError::NoBtfSection(path.to_path_buf()))?;
    let data = section
        .uncompressed_data()
        .map_err(|e| bad(path, format!("cannot read .BTF: {e}")))?;
    Ok(data.into_owned())
}

fn module_names(dir: &Path, sel: &ModuleSel) -> Result<Vec<String>> {
    match sel {
        ModuleSel::None => Ok(Vec::new()),
        ModuleSel::Some(names) => {
            let mut out: Vec<String> = Vec::new();
            for name in names
                .iter()
                .map(|n| n.trim())
                .filter(|n| !n.is_empty() && *n != "vmlinux")
            {
                let path = dir.join(name);
                if name.contains('/') || !path.is_file() {
                    return Err(SymbolsError::UnknownModule {
                        name: name.to_string(),
                        path,
                    });
                }
                if !out.iter().any(|n| n == name) {
                    out.push(name.to_string());
                }
            }
            Ok(out)
        }
        ModuleSel::All => {
            let mut out = Vec::new();
            for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
                let entry = entry.map_err(io_err(dir))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name != "vmlinux" && entry.path().is_file() {
                    out.push(name);
                }
            }
            out.sort();
            Ok(out)
        }
    }
}

/// Types of one unit, with ids and string offsets resolved the way that unit sees them (a module sees the base).
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    base: &'a Unit,
    unit: &'a Unit,
}

/// A type record together with the unit that holds its tail bytes.
#[derive(Clone, Copy)]
pub(crate) struct Ty<'a> {
    pub rec: TypeRec,
    unit: &'a Unit,
}

impl<'a> Ty<'a> {
    pub fn kind(&self) -> u8 {
        self.rec.kind()
    }
    pub fn vlen(&self) -> usize {
        self.rec.vlen()
    }
    /// The `i`-th u32 of the kind-specific tail.
    pub fn tail_u32(&self, i: usize) -> u32 {
        self.unit.u32_at(self.rec.tail as usize + 4 * i)
    }
}

/// Longest typedef/const/volatile chain we follow; a loop in malformed BTF ends here.
const MAX_CHAIN: usize = 32;

impl<'a> View<'a> {
    pub fn module(&self) -> Option<&'a str> {
        self.unit.module.as_deref()
    }

    /// The types this unit itself defines, with their ids.
    pub fn own_types(&self) -> impl Iterator<Item = (u32, Ty<'a>)> + 'a {
        let unit = self.unit;
        unit.types
            .iter()
            .enumerate()
            .map(move |(i, rec)| (unit.first_id + i as u32, Ty { rec: *rec, unit }))
    }

    pub fn ty(&self, id: u32) -> Option<Ty<'a>> {
        if id == 0 {
            return None;
        }
        let unit = if id < self.unit.first_id {
            self.base
        } else {
            self.unit
        };
        let rec = unit.types.get((id - unit.first_id) as usize)?;
        Some(Ty { rec: *rec, unit })
    }

    pub fn str(&self, off: u32) -> &'a str {
        if off < self.unit.str_base {
            self.base.local_str(off as usize)
        } else {
            self.unit.local_str((off - self.unit.str_base) as usize)
        }
    }

    /// `self.name(ty) == want`, without building the string.
    pub fn name_is(&self, ty: &Ty<'_>, want: &str) -> bool {
        let off = ty.rec.name_off;
        if off < self.unit.str_base {
            self.base.local_str_is(off as usize, want)
        } else {
            self.unit
                .local_str_is((off - self.unit.str_base) as usize, want)
        }
    }

    pub fn name(&self, ty: &Ty<'_>) -> &'a str {
        self.str(ty.rec.name_off)
    }

    /// Follows typedef/const/volatile/restrict/type-tag links to the underlying type.
    pub fn resolve(&self, mut id: u32) -> Option<Ty<'a>> {
        for _ in 0..MAX_CHAIN {
            let ty = self.ty(id)?;
            match ty.kind() {
                kind::TYPEDEF | kind::CONST | kind::VOLATILE | kind::RESTRICT | kind::TYPE_TAG => {
                    id = ty.rec.size_type
                }
                _ => return Some(ty),
            }
        }
        None
    }

    /// Whether `id` is a pointer to `struct <name>` (through any typedefs and qualifiers on either side).
    pub fn is_struct_ptr(&self, id: u32, name: &str) -> bool {
        let Some(ptr) = self.resolve(id) else {
            return false;
        };
        if ptr.kind() != kind::PTR {
            return false;
        }
        let Some(target) = self.resolve(ptr.rec.size_type) else {
            return false;
        };
        let is_struct = match target.kind() {
            kind::STRUCT => true,
            kind::FWD => !target.rec.kind_flag(), // kind_flag set means `union`
            _ => false,
        };
        is_struct && self.name_is(&target, name)
    }

    /// Whether `id` is `enum <name>` (through typedefs and qualifiers).
    pub fn is_enum(&self, id: u32, name: &str) -> bool {
        match self.resolve(id) {
            Some(ty) if matches!(ty.kind(), kind::ENUM | kind::ENUM64) => self.name_is(&ty, name),
            _ => false,
        }
    }

    /// Parameter type ids of a FUNC (through its FUNC_PROTO), or of a FUNC_PROTO itself.
    pub fn params(&self, ty: &Ty<'a>) -> Option<Params<'a>> {
        let proto = match ty.kind() {
            kind::FUNC => self.ty(ty.rec.size_type)?,
            kind::FUNC_PROTO => *ty,
            _ => return None,
        };
        if proto.kind() != kind::FUNC_PROTO {
            return None;
        }
        Some(Params { proto, next: 0 })
    }

    /// Enumerators of an ENUM or ENUM64 as (name, value); ENUM values are sign- or zero-extended per kind_flag.
    pub fn enumerators(&self, ty: &Ty<'a>) -> Vec<(&'a str, u64)> {
        let n = ty.vlen();
        let mut out = Vec::with_capacity(n);
        match ty.kind() {
            kind::ENUM => {
                for i in 0..n {
                    let raw = ty.tail_u32(2 * i + 1);
                    let val = if ty.rec.kind_flag() {
                        raw as i32 as i64 as u64
                    } else {
                        raw as u64
                    };
                    out.push((self.str(ty.tail_u32(2 * i)), val));
                }
            }
            kind::ENUM64 => {
                for i in 0..n {
                    let lo = ty.tail_u32(3 * i + 1) as u64;
                    let hi = ty.tail_u32(3 * i + 2) as u64;
                    out.push((self.str(ty.tail_u32(3 * i)), hi << 32 | lo));
                }
            }
            _ => {}
        }
        out
    }
}

/// Parameter type ids of a FUNC_PROTO, in order (a trailing `...` shows up as type id 0).
pub(crate) struct Params<'a> {
    proto: Ty<'a>,
    next: usize,
}

impl Iterator for Params<'_> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        if self.next >= self.proto.vlen() {
            return None;
        }
        let id = self.proto.tail_u32(2 * self.next + 1);
        self.next += 1;
        Some(id)
    }
}
