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
        need_root("mounting a filesystem");
        let dir = TempDir::new(prefix);
        let (src, dst) = (
            CString::new(fstype).unwrap(),
            CString::new(dir.path().as_os_str().as_encoded_bytes()).unwrap(),
        );
        // SAFETY: mount(2) with valid C strings and no data.
        let r = unsafe {
            libc::mount(
                src.as_ptr(),
                dst.as_ptr(),
                src.as_ptr(),
                0,
                std::ptr::null(),
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
