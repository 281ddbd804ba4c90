//! The running kernel's BTF as the loader needs it (CO-RE, struct ids, tracepoint types), parsed on a thread of
//! its own: started early, the parse overlaps the caller's own start-up work (pwru finds its targets meanwhile)
//! instead of adding to [`crate::Tracer::load`]'s time.
use crate::error::ObjectError;
use aya_obj::btf::{Btf, BtfError};
use std::thread::JoinHandle;

/// `/sys/kernel/btf/vmlinux`, being parsed; [`crate::Tracer::load_with`] takes it.
pub struct KernelBtf {
    parse: JoinHandle<Result<Btf, BtfError>>,
}

impl KernelBtf {
    /// Starts parsing the kernel's BTF on a new thread.
    pub fn read_in_background() -> KernelBtf {
        KernelBtf {
            parse: std::thread::spawn(Btf::from_sys_fs),
        }
    }

    /// Waits for the parse.
    pub(crate) fn wait(self) -> Result<Btf, ObjectError> {
        match self.parse.join() {
            Ok(btf) => btf.map_err(ObjectError::KernelBtf),
            // A panic in the parser is a bug in it: let it go on unwinding here, where the caller is.
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}
