//! C-like expressions over kernel BTF, compiled to eBPF: filters (`skb->dev->ifindex == 9 && skb->len > 1000`)
//! and value fetchers (`skb->hash`, `skb->dev->name`), plus an interpreter that runs the very instructions that
//! get loaded. Pure: BTF and text in, instructions out, no I/O.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let btf = symbols::Btf::from_bytes(std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/kernel-6.18.btf"))?)?;
//! use btf_expr::{Compiler, Memory, Value};
//!
//! let skb = Compiler::new(&btf, "skb", "sk_buff")?;
//! let filter = skb.filter("skb->dev->ifindex == 9 && skb->len > 1000")?;
//! let _bytes = filter.to_bytes(); // splice into the filter stub (docs/btf-expr-abi.md)
//!
//! // Errors point at the column and name the nearest members.
//! let e = skb.filter("skb->devv->ifindex == 9").unwrap_err();
//! assert_eq!(e.to_string(), "skb->devv: struct sk_buff has no member 'devv' (did you mean 'dev'?) at column 6");
//!
//! // Run it without a kernel on a memory image: the skb's `dev` is NULL, so the comparison is false.
//! let mut mem = Memory::new();
//! mem.insert(0xffff_8880_0000_1000, vec![0; 256]);
//! assert!(!filter.interpret(0xffff_8880_0000_1000, &mem)?);
//!
//! let fetch = skb.fetch(&["skb->len", "skb->dev->name"])?;
//! let values = fetch.interpret(0xffff_8880_0000_1000, &mem)?;
//! assert_eq!(values, vec![Value::Unsigned(0), Value::Null]);
//! # Ok(())
//! # }
//! ```
//!
//! The ABI of the generated functions (registers, stack, helpers, output area) is in `docs/btf-expr-abi.md`;
//! the grammar and semantics in this crate's README.
#![deny(missing_docs)]

mod codegen;
mod error;
mod fetch;
mod interp;
mod ir;
mod lexer;
mod parser;
mod sema;
mod types;

use pcap_filter::insn::Insn;
use symbols::{Btf, Type, TypeId};

pub use codegen::{HELPER_PROBE_READ_KERNEL, HELPER_PROBE_READ_KERNEL_STR, MAX_STACK};
pub use error::{ErrorKind, ExprError};
pub use fetch::{
    MAX_AREA, STATUS_FAULT, STATUS_NULL, STATUS_OK, Slot, Value, ValueKind, decode_slot,
};
pub use interp::{InterpError, Memory};
pub use lexer::MAX_STRING;
pub use parser::CmpOp;

use sema::{Checker, FetchItem, ValueType};

/// Compiles expressions rooted at one variable, e.g. `skb` of type `struct sk_buff *`.
pub struct Compiler<'a> {
    btf: &'a Btf,
    root_name: String,
    root_struct: TypeId,
}

/// A compiled filter: `int f(void *root)` returning 1 on a match, 0 otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    /// The instructions.
    pub insns: Vec<Insn>,
    /// Bytes of stack the function uses (at most [`MAX_STACK`]).
    pub stack: u32,
}

/// Compiled value fetchers: `int f(void *root, void *out)` filling one [`Slot`] per expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetch {
    /// The instructions.
    pub insns: Vec<Insn>,
    /// Bytes of stack the function uses (at most [`MAX_STACK`]).
    pub stack: u32,
    /// One per expression, in order.
    pub slots: Vec<Slot>,
    /// Bytes of output area the function writes (at most [`MAX_AREA`]).
    pub area_size: u32,
}

/// A refused fetch expression: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{expr}: {error}")]
pub struct FetchError {
    /// Position in the list given to [`Compiler::fetch`].
    pub index: usize,
    /// The expression.
    pub expr: String,
    /// What is wrong with it (boxed: an error is rare, the `Result` should stay small).
    #[source]
    pub error: Box<ExprError>,
}

/// Checks only the syntax of `expr`, without BTF: a caller can refuse a typo before it loads the kernel's types.
/// Every expression [`Compiler::filter`] or [`Compiler::fetch`] accepts passes.
pub fn check_syntax(expr: &str) -> Result<(), ExprError> {
    parser::parse(&lexer::tokenize(expr)?).map(|_| ())
}

fn bytes_of(insns: &[Insn]) -> Vec<u8> {
    insns.iter().flat_map(|i| i.to_bytes()).collect()
}

impl Filter {
    /// Raw little-endian instructions for the splice.
    pub fn to_bytes(&self) -> Vec<u8> {
        bytes_of(&self.insns)
    }

    /// A listing in the verifier's notation.
    pub fn disassemble(&self) -> String {
        pcap_filter::disassemble_insns(&self.insns)
    }

    /// Runs the filter on a memory image with `root` as the root pointer: whether it matches.
    pub fn interpret(&self, root: u64, mem: &Memory) -> Result<bool, InterpError> {
        Ok(interp::run(&self.insns, root, None, mem)? != 0)
    }
}

impl Fetch {
    /// Raw little-endian instructions for the splice.
    pub fn to_bytes(&self) -> Vec<u8> {
        bytes_of(&self.insns)
    }

    /// A listing in the verifier's notation.
    pub fn disassemble(&self) -> String {
        pcap_filter::disassemble_insns(&self.insns)
    }

    /// Decodes an output area the function filled (`None` if it is shorter than [`Fetch::area_size`]).
    pub fn decode(&self, area: &[u8]) -> Option<Vec<Value>> {
        self.slots.iter().map(|s| decode_slot(s, area)).collect()
    }

    /// Runs the fetcher on a memory image and decodes what it wrote.
    pub fn interpret(&self, root: u64, mem: &Memory) -> Result<Vec<Value>, InterpError> {
        let area = self.interpret_raw(root, mem)?;
        Ok(self.decode(&area).expect("the area has the fetcher's size"))
    }

    /// Runs the fetcher and returns the raw output area (filled with 0xa5 before the run, so bytes the
    /// function did not write stand out).
    pub fn interpret_raw(&self, root: u64, mem: &Memory) -> Result<Vec<u8>, InterpError> {
        let mut area = vec![0xa5u8; self.area_size as usize];
        interp::run(&self.insns, root, Some(&mut area), mem)?;
        Ok(area)
    }
}

impl<'a> Compiler<'a> {
    /// Expressions start at `root_name`, a pointer to the struct (or union) `struct_name` in `btf`.
    pub fn new(btf: &'a Btf, root_name: &str, struct_name: &str) -> Result<Self, ExprError> {
        let id = btf
            .composite_named(struct_name, false)
            .or_else(|| btf.composite_named(struct_name, true))
            .ok_or_else(|| {
                ExprError::new(ErrorKind::NoRootType(format!("struct {struct_name}")), 0)
            })?;
        Self::with_type(btf, root_name, id)
    }

    /// Like [`Compiler::new`] with the struct's type id.
    pub fn with_type(btf: &'a Btf, root_name: &str, ty: TypeId) -> Result<Self, ExprError> {
        let resolved = btf.resolve(ty);
        if !matches!(btf.type_of(resolved), Some(Type::Composite(_))) {
            return Err(ExprError::new(
                ErrorKind::NoRootType(format!("struct or union for {}", types::c_name(btf, ty))),
                0,
            ));
        }
        let valid = root_name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && root_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(ExprError::new(
                ErrorKind::Syntax(format!(
                    "'{}' is not a C identifier",
                    root_name.escape_debug()
                )),
                0,
            ));
        }
        Ok(Compiler {
            btf,
            root_name: root_name.to_string(),
            root_struct: resolved,
        })
    }

    fn checker(&self) -> Checker<'_> {
        Checker {
            btf: self.btf,
            root_name: &self.root_name,
            root_struct: self.root_struct,
        }
    }

    /// Compiles a filter expression.
    pub fn filter(&self, expr: &str) -> Result<Filter, ExprError> {
        let ast = parser::parse(&lexer::tokenize(expr)?)?;
        let cond = self.checker().filter(&ast)?;
        let out = codegen::filter(&cond).map_err(|e| sema::at(e, ast.col()))?;
        Ok(Filter {
            insns: out.insns,
            stack: out.stack,
        })
    }

    /// Compiles value fetchers, one slot per expression, in order.
    pub fn fetch<S: AsRef<str>>(&self, exprs: &[S]) -> Result<Fetch, FetchError> {
        let checker = self.checker();
        let mut items = Vec::new();
        let mut slots: Vec<Slot> = Vec::new();
        let mut offset = 0u32;
        for (index, expr) in exprs.iter().enumerate() {
            let expr = expr.as_ref();
            let fail = |error: ExprError| FetchError {
                index,
                expr: expr.trim().to_string(),
                error: Box::new(error),
            };
            let ast = parser::parse(&lexer::tokenize(expr).map_err(fail)?).map_err(fail)?;
            let item = checker.fetch(&ast).map_err(fail)?;
            let (size, kind) = self.slot_kind(&item);
            let slot = Slot {
                expr: expr.trim().to_string(),
                offset,
                size,
                kind,
            };
            offset += slot.span();
            if offset > MAX_AREA {
                return Err(fail(ExprError::new(
                    ErrorKind::Unsupported(format!(
                        "the outputs need {offset} bytes, more than {MAX_AREA}"
                    )),
                    0,
                )));
            }
            slots.push(slot);
            items.push(item);
        }
        let code: Vec<(codegen::FetchCode<'_>, u32)> = items
            .iter()
            .zip(&slots)
            .map(|(item, slot)| (fetch_code(item, slot), slot.offset))
            .collect();
        let out = codegen::fetch(&code).map_err(|error| FetchError {
            index: 0,
            expr: exprs
                .first()
                .map(|e| e.as_ref().trim().to_string())
                .unwrap_or_default(),
            error: Box::new(error),
        })?;
        Ok(Fetch {
            insns: out.insns,
            stack: out.stack,
            slots,
            area_size: offset,
        })
    }

    fn slot_kind(&self, item: &FetchItem) -> (u32, ValueKind) {
        match item {
            FetchItem::Value(v) => (
                8,
                match &v.kind {
                    ValueType::Const => ValueKind::Int {
                        signed: ir::range(&v.val).0 < 0,
                        bits: 64,
                        ty: "constant".into(),
                    },
                    ValueType::Int { signed, bits, name } => ValueKind::Int {
                        signed: *signed,
                        bits: *bits,
                        ty: name.clone(),
                    },
                    ValueType::Enum { id, name } => {
                        let (signed, values) = match self.btf.type_of(*id) {
                            Some(Type::Enum(e)) => (
                                e.signed,
                                e.values
                                    .iter()
                                    .map(|(n, v)| {
                                        let v = if e.signed {
                                            *v as i64 as i128
                                        } else {
                                            *v as i128
                                        };
                                        (n.to_string(), v)
                                    })
                                    .collect(),
                            ),
                            _ => (false, Vec::new()),
                        };
                        ValueKind::Enum {
                            ty: name.clone(),
                            signed,
                            values,
                        }
                    }
                    ValueType::Bool => ValueKind::Bool,
                    ValueType::Pointer { name } => ValueKind::Pointer { ty: name.clone() },
                },
            ),
            FetchItem::Cond(_) => (8, ValueKind::Bool),
            FetchItem::Str(s) => {
                let (cap, cut, pointer) = match s.src {
                    ir::StrSrc::Array { len } if len > 0 && len <= MAX_STRING as u32 => {
                        (len, false, false)
                    }
                    ir::StrSrc::Array { .. } => (MAX_STRING as u32, true, false),
                    ir::StrSrc::Pointer => (MAX_STRING as u32, true, true),
                };
                (cap, ValueKind::Str { cap, cut, pointer })
            }
            FetchItem::Bytes { len, elem, .. } => (
                *len,
                ValueKind::Bytes {
                    len: *len,
                    elem: elem.clone(),
                },
            ),
        }
    }
}

fn fetch_code<'i>(item: &'i FetchItem, slot: &Slot) -> codegen::FetchCode<'i> {
    match item {
        FetchItem::Value(v) => codegen::FetchCode::Value(&v.val),
        FetchItem::Cond(c) => codegen::FetchCode::Cond(c),
        FetchItem::Str(s) => codegen::FetchCode::Str {
            acc: &s.acc,
            src: s.src,
            cap: slot.size,
        },
        FetchItem::Bytes { acc, len, .. } => codegen::FetchCode::Bytes { acc, len: *len },
    }
}
