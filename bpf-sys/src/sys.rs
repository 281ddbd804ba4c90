//! The one `bpf(2)` call every wrapper goes through.
use crate::error::{Errno, Error};
use crate::uapi::{bpf_attr, bpf_cmd};
use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// An all-zero `union bpf_attr`: the kernel requires every byte it does not read for `cmd` to be zero.
pub(crate) fn attr() -> bpf_attr {
    // SAFETY: bpf_attr is a union of plain integers; all-zero is valid for each member.
    unsafe { std::mem::zeroed() }
}

/// `bpf(cmd, attr, sizeof(attr))`: the kernel's return value or its errno.
pub(crate) fn bpf(cmd: bpf_cmd, attr: &mut bpf_attr) -> Result<i64, Errno> {
    // SAFETY: attr is a live bpf_attr of the size passed; every pointer the caller put into it refers to a buffer
    // that outlives the call and has the length the caller put next to it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            attr as *mut bpf_attr,
            std::mem::size_of::<bpf_attr>() as libc::c_uint,
        )
    };
    if r < 0 { Err(Errno::last()) } else { Ok(r) }
}

/// [`bpf`] for a command that returns a new file descriptor.
pub(crate) fn bpf_fd(cmd: bpf_cmd, attr: &mut bpf_attr) -> Result<OwnedFd, Error> {
    let fd = bpf(cmd, attr).map_err(|errno| Error::Bpf { cmd, errno })?;
    Ok(owned(fd))
}

/// Takes ownership of an fd the kernel just returned.
pub(crate) fn owned(fd: i64) -> OwnedFd {
    // SAFETY: the kernel just created this descriptor and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

/// `path` as a C string, or [`Error::Nul`].
pub(crate) fn cpath(path: &Path) -> Result<CString, Error> {
    CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::Nul(path.display().to_string()))
}

/// Copies `name` into a kernel object-name field, truncated to 15 bytes plus the NUL.
pub(crate) fn set_name(field: &mut [libc::c_char; 16], name: &str) {
    for (dst, &src) in field.iter_mut().zip(name.as_bytes().iter().take(15)) {
        *dst = src as libc::c_char;
    }
}
