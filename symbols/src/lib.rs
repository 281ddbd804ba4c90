//! Finding what to trace and naming what was traced: kernel BTF (vmlinux and split module BTF), functions and
//! tracepoints that take a `struct sk_buff *`, the BPF map operation functions (`--output-bpfmap`), drop-reason
//! names, and `/proc/kallsyms`.
//!
//! ```no_run
//! use symbols::{Btf, ModuleSel, FuncFilter, skb_functions, skb_tracepoints, DropReasons, Kallsyms};
//! let btf = Btf::load(None, &ModuleSel::None)?;
//! let found = skb_functions(&btf, Some(&FuncFilter::new("ip_.*")?))?;
//! let tps = skb_tracepoints(&btf);
//! let reasons = DropReasons::from_btf(&btf);
//! let ksyms = Kallsyms::load()?;
//! # Ok::<(), symbols::SymbolsError>(())
//! ```

#![deny(missing_docs)]

mod btf;
mod error;
mod funcs;
mod kallsyms;
mod mapfuncs;
mod read;
mod reasons;
mod traceable;
mod tracepoints;

pub use btf::{
    Btf, BtfOptions, Composite, DEFAULT_MODULE_DIR, DEFAULT_VMLINUX, EnumType, IntType, Member,
    ModuleSel, POINTER_SIZE, Qualifier, Type, TypeId,
};
pub use error::{Result, SymbolsError};
pub use funcs::{
    Discovery, FuncFilter, MAX_ARG, SkbFunc, skb_functions, skb_functions_in_btf,
    skb_functions_kallsyms, skb_functions_with,
};
pub use kallsyms::{KALLSYMS_PATH, Kallsyms, MAX_SYMBOL_SPAN, SymRef};
pub use mapfuncs::{HTAB_ELEM_LOOKUP, MapFunc, MapOp, htab_elem_key_offset, map_functions};
pub use read::{MAX_BTF_BYTES, MAX_SYMBOL_LIST_BYTES};
pub use reasons::{DEFAULT_SUBSYS_MASK, DropReasons};
pub use traceable::{AVAILABLE_FILTER_FUNCTIONS, TraceSource, Traceable};
pub use tracepoints::{SkbTracepoint, TRACEFS_DIRS, skb_tracepoints, skb_tracepoints_with};
