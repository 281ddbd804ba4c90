//! `/proc/kallsyms` text symbols as an address-sorted table: name callers and stack frames, find addresses.

use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

use crate::error::{Result, SymbolsError};
use crate::traceable::key;

/// The kernel's symbol table.
pub const KALLSYMS_PATH: &str = "/proc/kallsyms";

/// An address more than this far past the nearest text symbol is not attributed to it (it is in data, or in a
/// gap between vmlinux, modules and BPF programs).
pub const MAX_SYMBOL_SPAN: u64 = 1 << 20;

#[derive(Clone, Copy, Debug)]
struct Entry {
    addr: u64,
    name_off: u32,
    name_len: u32,
    /// 0 for vmlinux, else index + 1 into `modules`.
    module: u32,
    /// Among symbols at one address, the highest rank names it.
    rank: u8,
}

/// Text symbols of the kernel, its modules and BPF programs, as of [`Kallsyms::load`].
#[derive(Debug, Default)]
pub struct Kallsyms {
    names: String,
    modules: Vec<String>,
    /// Sorted by (address, rank).
    syms: Vec<Entry>,
    /// (hash of name, index into `syms`) sorted; built on the first name lookup.
    by_name: OnceLock<Vec<(u64, u32)>>,
    hidden: bool,
}

/// A resolved address: `name+0xoffset`, with `{:#}` adding ` [module]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SymRef<'a> {
    /// The nearest text symbol at or below the address.
    pub name: &'a str,
    /// How far past it the address is.
    pub offset: u64,
    /// The module holding it (`None` for vmlinux).
    pub module: Option<&'a str>,
}

impl fmt::Display for SymRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{:#x}", self.name, self.offset)?;
        if f.alternate()
            && let Some(m) = self.module
        {
            write!(f, " [{m}]")?;
        }
        Ok(())
    }
}

impl Kallsyms {
    /// The running kernel's /proc/kallsyms.
    pub fn load() -> Result<Kallsyms> {
        Kallsyms::load_from(Path::new(KALLSYMS_PATH))
    }

    /// A kallsyms file read from `path`.
    pub fn load_from(path: &Path) -> Result<Kallsyms> {
        let text = crate::read::read_text_capped(path, crate::read::MAX_SYMBOL_LIST_BYTES)?;
        Kallsyms::parse(&text)
    }

    /// Parses kallsyms text: `addr type name [\t[module]]` per line; only text symbols (t, T, w, W) are kept.
    pub fn parse(text: &str) -> Result<Kallsyms> {
        let mut k = Kallsyms {
            names: String::with_capacity(text.len() / 2),
            ..Kallsyms::default()
        };
        let mut syms = Vec::with_capacity(text.len() / 40);
        let mut all_zero = true;
        for (i, line) in text.lines().enumerate() {
            if line.is_empty() {
                continue;
            }
            let bad = |msg: &str| SymbolsError::BadKallsyms {
                line: i + 1,
                msg: msg.to_string(),
            };
            let mut it = line.split_ascii_whitespace();
            let (Some(addr), Some(ty), Some(name)) = (it.next(), it.next(), it.next()) else {
                return Err(bad("want `address type name`"));
            };
            if !matches!(ty, "t" | "T" | "w" | "W") {
                continue;
            }
            let addr = u64::from_str_radix(addr, 16).map_err(|_| bad("address is not hex"))?;
            all_zero &= addr == 0;
            let module = match it.next() {
                Some(tok) => {
                    let m = tok
                        .strip_prefix('[')
                        .and_then(|t| t.strip_suffix(']'))
                        .ok_or_else(|| bad("bad module"))?;
                    k.module_index(m)
                }
                None => 0,
            };
            let rank = if name.starts_with("__pfx_") {
                0
            } else if ty == "T" {
                2
            } else {
                1
            };
            syms.push(Entry {
                addr,
                name_off: k.names.len() as u32,
                name_len: name.len() as u32,
                module,
                rank,
            });
            k.names.push_str(name);
        }
        // Stable: equal (address, rank) keep file order, so the last of them names the address.
        syms.sort_by_key(|e| (e.addr, e.rank));
        k.hidden = !syms.is_empty() && all_zero;
        k.syms = syms;
        Ok(k)
    }

    fn module_index(&mut self, m: &str) -> u32 {
        // Consecutive lines share a module; check the last one first.
        if let Some(i) = self.modules.iter().rposition(|x| x == m) {
            return i as u32 + 1;
        }
        self.modules.push(m.to_string());
        self.modules.len() as u32
    }

    /// A table of only the symbols `keep(name, module)` wants: naming a known set of functions (the probed
    /// ones) then needs a few KB instead of the whole kernel's symbols.
    pub fn retain(&self, mut keep: impl FnMut(&str, Option<&str>) -> bool) -> Kallsyms {
        let mut k = Kallsyms {
            hidden: self.hidden,
            ..Kallsyms::default()
        };
        for e in &self.syms {
            let (name, module) = (self.name_of(e), self.module_of(e));
            if !keep(name, module) {
                continue;
            }
            let module = module.map_or(0, |m| k.module_index(m));
            k.syms.push(Entry {
                name_off: k.names.len() as u32,
                module,
                ..*e
            });
            k.names.push_str(name);
        }
        k.names.shrink_to_fit();
        k.syms.shrink_to_fit();
        k
    }

    /// True when every address reads as zero (not root, or `kernel.kptr_restrict`): names only.
    pub fn addresses_hidden(&self) -> bool {
        self.hidden
    }

    /// Number of text symbols.
    pub fn len(&self) -> usize {
        self.syms.len()
    }

    /// Whether there are no text symbols.
    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }

    fn name_of(&self, e: &Entry) -> &str {
        &self.names[e.name_off as usize..(e.name_off + e.name_len) as usize]
    }

    fn module_of(&self, e: &Entry) -> Option<&str> {
        (e.module > 0).then(|| self.modules[e.module as usize - 1].as_str())
    }

    /// Every text symbol as (address, name, module), by address.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &str, Option<&str>)> {
        self.syms
            .iter()
            .map(|e| (e.addr, self.name_of(e), self.module_of(e)))
    }

    /// The text symbol containing `addr`: the nearest one at or below it.
    pub fn resolve(&self, addr: u64) -> Option<SymRef<'_>> {
        if self.hidden {
            return None;
        }
        let i = self.syms.partition_point(|e| e.addr <= addr);
        let e = self.syms.get(i.checked_sub(1)?)?;
        let offset = addr - e.addr;
        if offset > MAX_SYMBOL_SPAN {
            return None;
        }
        Some(SymRef {
            name: self.name_of(e),
            offset,
            module: self.module_of(e),
        })
    }

    fn by_name(&self) -> &[(u64, u32)] {
        self.by_name.get_or_init(|| {
            let mut idx: Vec<(u64, u32)> = self
                .syms
                .iter()
                .enumerate()
                .map(|(i, e)| (key(self.name_of(e), None), i as u32))
                .collect();
            // Within one name, order by (module, address): vmlinux first, then the lowest address.
            idx.sort_unstable_by_key(|&(h, i)| {
                (h, self.syms[i as usize].module, self.syms[i as usize].addr)
            });
            idx
        })
    }

    /// Text symbols called `name`: vmlinux's first, then by module, each by address.
    fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        let idx = self.by_name();
        let h = key(name, None);
        let start = idx.partition_point(|&(k, _)| k < h);
        idx[start..]
            .iter()
            .take_while(move |&&(k, _)| k == h)
            .map(|&(_, i)| &self.syms[i as usize])
            .filter(move |e| self.name_of(e) == name)
    }

    /// Address of the text symbol `name` (`None` when addresses are hidden), vmlinux's before any module's (lowest address if it is ambiguous).
    pub fn address(&self, name: &str) -> Option<u64> {
        if self.hidden {
            return None;
        }
        self.named(name).next().map(|e| e.addr)
    }

    /// Address of `name` in `module` (`None` = vmlinux).
    pub fn address_in(&self, name: &str, module: Option<&str>) -> Option<u64> {
        if self.hidden {
            return None;
        }
        self.named(name)
            .find(|e| self.module_of(e) == module)
            .map(|e| e.addr)
    }

    /// Every (address, module) of text symbols called `name`: more than one means a name ambiguous to kprobes.
    pub fn addresses(&self, name: &str) -> Vec<(u64, Option<&str>)> {
        self.named(name)
            .map(|e| (e.addr, self.module_of(e)))
            .collect()
    }
}
