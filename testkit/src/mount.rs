//! Private mounts of the kernel's pseudo filesystems (bpffs, tracefs), so that tests never touch the system's.

use crate::cmd::need_root;
use crate::paths::TempDir;
use std::ffi::CString;
use std::path::{Path, PathBuf};

/// A filesystem of type `fstype` mounted on a fresh temp directory; unmounted and removed on drop, also when a test
/// panics.
#[derive(Debug)]
pub struct Mount {
    dir: TempDir,
}

impl Mount {
    /// Mounts `fstype` ("bpf", "tracefs") on `<tmp>/<prefix>-<pid>-<n>`. Needs root.
    pub fn new(fstype: &str, prefix: &str) -> Mount {
        Mount::with_options(fstype, prefix, "")
    }

    /// [`Mount::new`] with mount options (`-o`), e.g. a small tmpfs: `("tmpfs", "full", "size=256k")`.
    pub fn with_options(fstype: &str, prefix: &str, options: &str) -> Mount {
        need_root("mounting a filesystem");
        let dir = TempDir::new(prefix);
        let (src, dst, data) = (
            CString::new(fstype).unwrap(),
            CString::new(dir.path().as_os_str().as_encoded_bytes()).unwrap(),
            CString::new(options).unwrap(),
        );
        // SAFETY: mount(2) with valid C strings; data is a C string of options, as filesystems like tmpfs parse it.
        let r = unsafe {
            libc::mount(
                src.as_ptr(),
                dst.as_ptr(),
                src.as_ptr(),
                0,
                data.as_ptr().cast(),
            )
        };
        assert_eq!(
            r,
            0,
            "mount -t {fstype} {}: {}",
            dir.path().display(),
            std::io::Error::last_os_error()
        );
        Mount { dir }
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the mount.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let dst = CString::new(self.path().as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: umount2(2) with a valid C string; the temp dir is removed after it (field drop).
        unsafe { libc::umount2(dst.as_ptr(), libc::MNT_DETACH) };
    }
}
