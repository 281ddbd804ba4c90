//! The oracle: a plain evaluator of the generated expressions on the generated images.

use btf_expr::{CmpOp, Value};

use super::{Image, Leaf, Path, Rng};

/// Why a path has no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fail {
    Null,
    Fault,
}

/// The oracle: evaluates paths on an image the way C would, NULL and unmapped pointers aside.
pub struct Oracle<'a> {
    pub img: &'a Image,
    pub root: u64,
}

impl Oracle<'_> {
    fn base(&self, hops: &[u64]) -> Result<u64, Fail> {
        let mut base = self.root;
        if base == 0 {
            return Err(Fail::Null);
        }
        for h in hops {
            base = self.img.u64_at(base.wrapping_add(*h)).ok_or(Fail::Fault)?;
            if base == 0 {
                return Err(Fail::Null);
            }
        }
        Ok(base)
    }

    /// The integer value of a scalar, pointer or root path.
    pub fn value(&self, p: &Path) -> Result<i128, Fail> {
        match &p.leaf {
            Leaf::Root => Ok(self.root as i128),
            Leaf::Pointer { off } => {
                let base = self.base(&p.hops)?;
                Ok(self.img.u64_at(base + off).ok_or(Fail::Fault)? as i128)
            }
            Leaf::Scalar {
                bit_off,
                bits,
                size,
                bitfield,
                signed,
                swap,
                ..
            } => {
                let base = self.base(&p.hops)?;
                let (start, shift, n) = if *bitfield {
                    let shift = (bit_off % 8) as u32;
                    (bit_off / 8, shift, (shift + bits).div_ceil(8))
                } else {
                    (bit_off / 8, 0, *size)
                };
                let bytes = self.img.read(base + start, n as usize).ok_or(Fail::Fault)?;
                let mut b = bytes.to_vec();
                if *swap {
                    b.reverse();
                }
                let mut raw: u128 = 0;
                for (i, x) in b.iter().enumerate() {
                    raw |= (*x as u128) << (8 * i);
                }
                let v = (raw >> shift) & ((1u128 << bits) - 1);
                Ok(if *signed && v >> (bits - 1) & 1 == 1 {
                    v as i128 - (1i128 << bits)
                } else {
                    v as i128
                })
            }
            _ => unreachable!("not a value path: {}", p.text),
        }
    }

    /// The bytes of a string path (up to the NUL, at most `cap`), as the fetcher reads them.
    pub fn string(&self, p: &Path, cap: usize) -> Result<Vec<u8>, Fail> {
        let base = self.base(&p.hops)?;
        match p.leaf {
            Leaf::StrArray { off, .. } => {
                let b = self.img.read(base + off, cap).ok_or(Fail::Fault)?;
                Ok(b.iter().take_while(|&&c| c != 0).copied().collect())
            }
            Leaf::StrPtr { off } => {
                let s = self.img.u64_at(base + off).ok_or(Fail::Fault)?;
                if s == 0 {
                    return Err(Fail::Null);
                }
                let mut out = Vec::new();
                for i in 0..cap as u64 - 1 {
                    match self.img.read(s + i, 1) {
                        Some([0]) => return Ok(out),
                        Some(&[c]) => out.push(c),
                        _ => return Err(Fail::Fault),
                    }
                }
                Ok(out)
            }
            _ => unreachable!("not a string path"),
        }
    }

    /// Whether the string path equals `lit` as C's strcmp would (for an array: up to its length).
    pub fn str_eq(&self, p: &Path, lit: &[u8]) -> Result<bool, Fail> {
        match p.leaf {
            Leaf::StrArray { off, len } => {
                let base = self.base(&p.hops)?;
                let n = if len == 0 {
                    lit.len() + 1
                } else {
                    (lit.len() + 1).min(len as usize)
                };
                let b = self.img.read(base + off, n).ok_or(Fail::Fault)?;
                let mut want = lit.to_vec();
                want.push(0);
                Ok(b == &want[..n])
            }
            Leaf::StrPtr { .. } => {
                let s = self.string(p, lit.len() + 2)?;
                Ok(s == lit)
            }
            _ => unreachable!("not a string path"),
        }
    }

    pub fn bytes(&self, p: &Path) -> Result<Vec<u8>, Fail> {
        let Leaf::Bytes { off, len } = p.leaf else {
            unreachable!("not a bytes path")
        };
        let base = self.base(&p.hops)?;
        Ok(self
            .img
            .read(base + off, len as usize)
            .ok_or(Fail::Fault)?
            .to_vec())
    }
}

/// An expression the generator built, in a form both the renderer and the oracle read.
#[derive(Clone, Debug)]
pub enum OVal {
    Const(i128, String),
    Path(Path),
    Mask(Box<OVal>, Box<OVal>),
}

#[derive(Clone, Debug)]
pub enum OCond {
    Cmp(CmpOp, OVal, OVal),
    Truth(OVal),
    Str {
        path: Path,
        lit: Vec<u8>,
        negate: bool,
    },
    Not(Box<OCond>),
    And(Box<OCond>, Box<OCond>),
    Or(Box<OCond>, Box<OCond>),
}

impl OVal {
    pub fn text(&self) -> String {
        match self {
            OVal::Const(_, t) => t.clone(),
            OVal::Path(p) => p.text.clone(),
            OVal::Mask(a, b) => format!("({} & {})", a.text(), b.text()),
        }
    }

    pub fn eval(&self, o: &Oracle) -> Result<i128, Fail> {
        match self {
            OVal::Const(c, _) => Ok(*c),
            OVal::Path(p) => o.value(p),
            // Two's-complement and on unbounded integers; the left side is read first.
            OVal::Mask(a, b) => {
                let x = a.eval(o)?;
                Ok(x & b.eval(o)?)
            }
        }
    }
}

impl OCond {
    pub fn text(&self, rng: &mut Rng) -> String {
        let t = match self {
            OCond::Cmp(op, a, b) => {
                let op = if *op == CmpOp::Eq && rng.chance(20) {
                    "="
                } else {
                    op.as_str()
                };
                let sp = if rng.chance(30) { "" } else { " " };
                format!("{}{sp}{op}{sp}{}", a.text(), b.text())
            }
            OCond::Truth(v) => v.text(),
            OCond::Str { path, lit, negate } => {
                let s = render_str(lit);
                let op = if *negate { "!=" } else { "==" };
                if rng.chance(20) {
                    format!("{s} {op} {}", path.text)
                } else {
                    format!("{} {op} {s}", path.text)
                }
            }
            OCond::Not(c) => format!("!({})", c.text(rng)),
            OCond::And(a, b) => format!("({}) && ({})", a.text(rng), b.text(rng)),
            OCond::Or(a, b) => format!("{} || {}", paren(a, rng), paren(b, rng)),
        };
        if rng.chance(10) { format!("({t})") } else { t }
    }

    /// C semantics, except that a comparison whose operand cannot be read is false.
    pub fn eval(&self, o: &Oracle) -> bool {
        match self {
            OCond::Cmp(op, a, b) => match (a.eval(o), b.eval(o)) {
                (Ok(x), Ok(y)) => op.holds(x, y),
                _ => false,
            },
            OCond::Truth(v) => v.eval(o).is_ok_and(|x| x != 0),
            OCond::Str { path, lit, negate } => o.str_eq(path, lit).is_ok_and(|eq| eq != *negate),
            OCond::Not(c) => !c.eval(o),
            OCond::And(a, b) => a.eval(o) && b.eval(o),
            OCond::Or(a, b) => a.eval(o) || b.eval(o),
        }
    }
}

fn paren(c: &OCond, rng: &mut Rng) -> String {
    match c {
        OCond::Or(..) | OCond::And(..) => format!("({})", c.text(rng)),
        _ => c.text(rng),
    }
}

/// A C string literal for `lit`: printable ASCII as is, the rest as `\xNN` escapes.
pub fn render_str(lit: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in lit {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

/// The compiler's decoded value as a number (for comparing with the oracle's).
pub fn number(v: &Value) -> Option<i128> {
    Some(match v {
        Value::Unsigned(x) => *x as i128,
        Value::Signed(x) => *x as i128,
        Value::Enum(x, _) => *x,
        Value::Bool(b) => *b as i128,
        Value::Pointer(p) => *p as i128,
        _ => return None,
    })
}
