//! The `BTF_KIND_*` numbers.

/// `BTF_KIND_INT`.
pub const INT: u32 = 1;
/// `BTF_KIND_PTR`.
pub const PTR: u32 = 2;
/// `BTF_KIND_ARRAY`.
pub const ARRAY: u32 = 3;
/// `BTF_KIND_STRUCT`.
pub const STRUCT: u32 = 4;
/// `BTF_KIND_UNION`.
pub const UNION: u32 = 5;
/// `BTF_KIND_ENUM`.
pub const ENUM: u32 = 6;
/// `BTF_KIND_FWD`.
pub const FWD: u32 = 7;
/// `BTF_KIND_TYPEDEF`.
pub const TYPEDEF: u32 = 8;
/// `BTF_KIND_VOLATILE`.
pub const VOLATILE: u32 = 9;
/// `BTF_KIND_CONST`.
pub const CONST: u32 = 10;
/// `BTF_KIND_RESTRICT`.
pub const RESTRICT: u32 = 11;
/// `BTF_KIND_FUNC`.
pub const FUNC: u32 = 12;
/// `BTF_KIND_FUNC_PROTO`.
pub const FUNC_PROTO: u32 = 13;
/// `BTF_KIND_VAR`.
pub const VAR: u32 = 14;
/// `BTF_KIND_DATASEC`.
pub const DATASEC: u32 = 15;
/// `BTF_KIND_FLOAT`.
pub const FLOAT: u32 = 16;
/// `BTF_KIND_DECL_TAG`.
pub const DECL_TAG: u32 = 17;
/// `BTF_KIND_TYPE_TAG`.
pub const TYPE_TAG: u32 = 18;
/// `BTF_KIND_ENUM64`.
pub const ENUM64: u32 = 19;
