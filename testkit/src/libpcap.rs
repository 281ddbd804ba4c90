//! libpcap as the oracle of pcap-filter's differential test and benchmark: the system's `libpcap.so.0.8`, opened
//! at run time so that only the tests that use it need it installed (`apt-get install libpcap0.8`).

use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::sync::{Mutex, OnceLock};

/// Ethernet link type (`DLT_EN10MB`).
pub const DLT_EN10MB: i32 = 1;
/// Raw IP link type as libpcap numbers it on Linux (`DLT_RAW`).
pub const DLT_RAW: i32 = 12;

/// One classic BPF instruction, `struct bpf_insn`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CInsn {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Constant operand.
    pub k: u32,
}

#[repr(C)]
struct BpfProgram {
    bf_len: c_uint,
    bf_insns: *mut CInsn,
}

type OpenDead = unsafe extern "C" fn(c_int, c_int) -> *mut c_void;
type Compile =
    unsafe extern "C" fn(*mut c_void, *mut BpfProgram, *const c_char, c_int, u32) -> c_int;
type FreeCode = unsafe extern "C" fn(*mut BpfProgram);
type GetErr = unsafe extern "C" fn(*mut c_void) -> *mut c_char;
type Close = unsafe extern "C" fn(*mut c_void);
type Filter = unsafe extern "C" fn(*const CInsn, *const u8, c_uint, c_uint) -> c_uint;

struct Lib {
    open_dead: OpenDead,
    compile: Compile,
    freecode: FreeCode,
    geterr: GetErr,
    close: Close,
    filter: Filter,
}

/// The library, opened once; panics with what to install when it is missing.
fn lib() -> &'static Lib {
    static LIB: OnceLock<Result<Lib, String>> = OnceLock::new();
    LIB.get_or_init(open)
        .as_ref()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn open() -> Result<Lib, String> {
    let handle = ["libpcap.so.0.8", "libpcap.so.1", "libpcap.so"]
        .iter()
        .find_map(|name| {
            let c = CString::new(*name).unwrap();
            // SAFETY: a valid C string; libpcap's initialisers have no preconditions.
            let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW) };
            (!h.is_null()).then_some(h)
        })
        .ok_or("libpcap is not installed (apt-get install libpcap0.8; tests/setup.sh does)")?;
    let sym = |name: &str| -> Result<*mut c_void, String> {
        let c = CString::new(name).unwrap();
        // SAFETY: `handle` is an open library and `c` a valid C string.
        let p = unsafe { libc::dlsym(handle, c.as_ptr()) };
        if p.is_null() {
            Err(format!("libpcap has no {name}"))
        } else {
            Ok(p)
        }
    };
    // SAFETY: each symbol is the libpcap function of that name, whose C prototype the type spells.
    unsafe {
        Ok(Lib {
            open_dead: std::mem::transmute::<*mut c_void, OpenDead>(sym("pcap_open_dead")?),
            compile: std::mem::transmute::<*mut c_void, Compile>(sym("pcap_compile")?),
            freecode: std::mem::transmute::<*mut c_void, FreeCode>(sym("pcap_freecode")?),
            geterr: std::mem::transmute::<*mut c_void, GetErr>(sym("pcap_geterr")?),
            close: std::mem::transmute::<*mut c_void, Close>(sym("pcap_close")?),
            filter: std::mem::transmute::<*mut c_void, Filter>(sym("bpf_filter")?),
        })
    }
}

/// A filter libpcap compiled for one link type.
#[derive(Clone, Debug)]
pub struct Program {
    insns: Vec<CInsn>,
}

impl Program {
    /// `pcap_compile(expr)` for link type `dlt` (snaplen 262144, netmask unknown), with or without libpcap's
    /// optimiser. The error is libpcap's message.
    pub fn compile(dlt: i32, expr: &str, optimize: bool) -> Result<Program, String> {
        // The parser of older libpcap releases keeps global state.
        static LOCK: Mutex<()> = Mutex::new(());
        let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let l = lib();
        let c = CString::new(expr).map_err(|e| e.to_string())?;
        // SAFETY: libpcap's documented use: a dead handle, compile into `prog`, copy the instructions out, free
        // the code and the handle; nothing outlives this block.
        unsafe {
            let h = (l.open_dead)(dlt, 262144);
            if h.is_null() {
                return Err(format!("pcap_open_dead({dlt}) failed"));
            }
            let mut prog = BpfProgram {
                bf_len: 0,
                bf_insns: std::ptr::null_mut(),
            };
            let r = if (l.compile)(h, &mut prog, c.as_ptr(), optimize as c_int, 0xffff_ffff) == 0 {
                let insns =
                    std::slice::from_raw_parts(prog.bf_insns, prog.bf_len as usize).to_vec();
                (l.freecode)(&mut prog);
                Ok(Program { insns })
            } else {
                Err(CStr::from_ptr((l.geterr)(h)).to_string_lossy().into_owned())
            };
            (l.close)(h);
            r
        }
    }

    /// As tcpdump compiles: with the optimiser, and without it when the optimiser proves that the filter rejects
    /// everything (libpcap then refuses the optimised form). The error is the unoptimised attempt's.
    pub fn compile_like_tcpdump(dlt: i32, expr: &str) -> Result<Program, String> {
        Self::compile(dlt, expr, true).or_else(|_| Self::compile(dlt, expr, false))
    }

    /// The classic BPF instructions.
    pub fn insns(&self) -> &[CInsn] {
        &self.insns
    }

    /// libpcap's verdict (`bpf_filter`) on a packet whose captured bytes are `data` and whose length on the wire
    /// was `wirelen`.
    pub fn matches(&self, data: &[u8], wirelen: u32) -> bool {
        // SAFETY: a program libpcap compiled (it checked it), run over `data.len()` readable bytes.
        unsafe {
            (lib().filter)(
                self.insns.as_ptr(),
                data.as_ptr(),
                wirelen,
                data.len() as c_uint,
            ) != 0
        }
    }
}
