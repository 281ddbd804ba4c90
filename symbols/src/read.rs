//! Bounded reads: every file this crate reads has a size cap, so a wrong path (`/dev/zero`, a growing pipe) ends
//! in an error instead of eating the node's memory.

use std::io::Read;
use std::path::Path;

use crate::error::{Result, SymbolsError, io_err};

/// Cap for a BTF source: vmlinux BTF is 5–10 MB, a kernel image that embeds it well under 100 MB. An ELF file is
/// not read whole (only its `.BTF` section), so a vmlinux with debug info is fine.
pub const MAX_BTF_BYTES: u64 = 256 << 20;
/// Cap for kernel symbol lists (`/proc/kallsyms` is about 10 MB with many modules loaded).
pub const MAX_SYMBOL_LIST_BYTES: u64 = 128 << 20;

/// The whole file, or [`SymbolsError::TooLarge`] when it holds more than `cap` bytes.
pub(crate) fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>> {
    let f = std::fs::File::open(path).map_err(io_err(path))?;
    let mut bytes = Vec::new();
    f.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err(path))?;
    if bytes.len() as u64 > cap {
        return Err(SymbolsError::TooLarge {
            path: path.to_path_buf(),
            cap_mib: cap >> 20,
        });
    }
    Ok(bytes)
}

/// Like [`read_capped`], as text (invalid UTF-8 is replaced: symbol names are ASCII).
pub(crate) fn read_text_capped(path: &Path, cap: u64) -> Result<String> {
    let bytes = read_capped(path, cap)?;
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_at_the_cap() {
        let e = read_capped(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(
            matches!(e, SymbolsError::TooLarge { cap_mib: 1, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("/dev/zero"), "{e}");
        let own = read_capped(Path::new("/proc/self/cmdline"), 1 << 20).unwrap();
        assert!(!own.is_empty());
    }
}
