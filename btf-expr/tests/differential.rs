//! Property test: random expressions over real kernel types (sk_buff, xdp_buff and what they point to, from
//! the committed 6.18 and Debian 6.1 BTF subsets) and a hand-built edge-case BTF, compiled and run by the
//! interpreter on random memory images, against the oracle in `common` evaluating the same text's meaning
//! on the same image. Filters and fetchers both.
//!
//! `BTF_EXPR_CASES` scales the number of cases (default 100000 filters, 25000 fetch sets of 1-8 expressions);
//! `BTF_EXPR_SEED` replays a run (the seed is printed on failure).

mod common;

use std::sync::OnceLock;

use btf_expr::{CmpOp, Compiler, MAX_STACK, Value, ValueKind};
use common::*;

fn corpus() -> &'static [Corpus] {
    static C: OnceLock<Vec<Corpus>> = OnceLock::new();
    C.get_or_init(corpora)
}

fn cases(default: u64) -> u64 {
    std::env::var("BTF_EXPR_CASES")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(|n| (n * default / 100_000).max(1))
        .unwrap_or(default)
}

fn base_seed() -> u64 {
    std::env::var("BTF_EXPR_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

const ALL: Want = Want {
    scalar: true,
    pointer: true,
    string: true,
    bytes: true,
    fetch: true,
};
const SCALAR: Want = Want {
    scalar: true,
    pointer: false,
    string: false,
    bytes: false,
    fetch: false,
};
const POINTER: Want = Want {
    scalar: false,
    pointer: true,
    string: false,
    bytes: false,
    fetch: false,
};
const STRING: Want = Want {
    scalar: false,
    pointer: false,
    string: true,
    bytes: false,
    fetch: false,
};

struct Gen<'a> {
    w: Walker<'a>,
    img: Image,
    rng: Rng,
}

impl Gen<'_> {
    fn path(&mut self, want: Want) -> Option<Path> {
        for _ in 0..20 {
            if let Some(p) = self.w.walk(&mut self.img, &mut self.rng, want) {
                return Some(p);
            }
        }
        None
    }

    fn oracle(&self) -> Oracle<'_> {
        Oracle {
            img: &self.img,
            root: self.w.root_addr,
        }
    }

    /// A number as the generator writes it: decimal, hex, octal, binary; negative with `-`.
    fn literal(&mut self, c: i128) -> String {
        let mag = c.unsigned_abs();
        let body = match self.rng.below(8) {
            0..=3 => mag.to_string(),
            4 | 5 => format!("{mag:#x}"),
            6 => format!("0o{mag:o}"),
            _ if mag < 1 << 16 => format!("{mag:#b}"),
            _ => format!("{mag:#X}").replacen("0X", "0x", 1),
        };
        if c < 0 { format!("-{body}") } else { body }
    }

    /// A constant for comparing with `other`: often its current value or a neighbour, or a range edge.
    fn constant(&mut self, other: Option<&OVal>, in_range: bool) -> OVal {
        let (lo, hi, enums) = match other {
            Some(OVal::Path(p)) => {
                let (lo, hi) = p.leaf.range();
                let enums = match &p.leaf {
                    Leaf::Scalar { enum_values, .. } => enum_values.clone(),
                    _ => Vec::new(),
                };
                (lo, hi, enums)
            }
            _ => (i64::MIN as i128, u64::MAX as i128, Vec::new()),
        };
        let current = other.and_then(|v| v.eval(&self.oracle()).ok());
        let r = self.rng.next() as i128;
        let mut c = match self.rng.below(10) {
            0..=3 => current.unwrap_or(0),
            4 => current.unwrap_or(0) + 1,
            5 => current.unwrap_or(0) - 1,
            6 => lo,
            7 => hi,
            8 if !enums.is_empty() => self.rng.pick(&enums).1,
            _ => match self.rng.below(3) {
                0 => r % 1000,
                1 => r & 0xffff_ffff,
                _ => r - (1 << 63),
            },
        };
        if in_range {
            c = c.clamp(lo, hi);
        } else {
            c = c.clamp(i64::MIN as i128, u64::MAX as i128);
        }
        if !enums.is_empty()
            && self.rng.chance(60)
            && let Some((name, _)) = enums.iter().find(|(_, v)| *v == c)
        {
            return OVal::Const(c, name.clone());
        }
        let text = self.literal(c);
        OVal::Const(c, text)
    }

    /// A scalar value: a path, sometimes masked.
    fn scalar(&mut self, depth: u32) -> Option<OVal> {
        let p = OVal::Path(self.path(SCALAR)?);
        if depth < 2 && self.rng.chance(15) {
            let rhs = if self.rng.chance(70) {
                self.constant(None, false)
            } else {
                self.scalar(depth + 1)?
            };
            return Some(if self.rng.chance(50) {
                OVal::Mask(Box::new(p), Box::new(rhs))
            } else {
                OVal::Mask(Box::new(rhs), Box::new(p))
            });
        }
        Some(p)
    }

    fn op(&mut self) -> CmpOp {
        *self.rng.pick(&[
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Gt,
            CmpOp::Ge,
        ])
    }

    /// A comparison, truth test or string comparison (retrying kinds the walk cannot build here).
    fn atom(&mut self) -> Option<OCond> {
        (0..8).find_map(|_| self.atom_once())
    }

    fn atom_once(&mut self) -> Option<OCond> {
        match self.rng.below(20) {
            0..=11 => {
                let l = self.scalar(0)?;
                let op = self.op();
                let direct = matches!(l, OVal::Path(_));
                let r = if self.rng.chance(75) {
                    self.constant(Some(&l), direct && matches!(op, CmpOp::Eq | CmpOp::Ne))
                } else {
                    self.scalar(1)?
                };
                Some(if self.rng.chance(25) {
                    OCond::Cmp(op.swap(), r, l)
                } else {
                    OCond::Cmp(op, l, r)
                })
            }
            12 | 13 => {
                let l = OVal::Path(self.path(POINTER)?);
                let op = if self.rng.chance(50) {
                    CmpOp::Eq
                } else {
                    CmpOp::Ne
                };
                let r = if self.rng.chance(60) {
                    OVal::Const(0, if self.rng.chance(50) { "NULL" } else { "0" }.into())
                } else {
                    OVal::Path(self.path(POINTER)?)
                };
                Some(OCond::Cmp(op, l, r))
            }
            14 => {
                let want = if self.rng.chance(30) { POINTER } else { SCALAR };
                let v = match self.path(want)? {
                    p if matches!(p.leaf, Leaf::Scalar { .. }) && self.rng.chance(30) => {
                        OVal::Mask(
                            Box::new(OVal::Path(p)),
                            Box::new(self.constant(None, false)),
                        )
                    }
                    p => OVal::Path(p),
                };
                Some(OCond::Truth(v))
            }
            15 => {
                // Constants on both sides (folded by the compiler).
                let a = self.constant(None, false);
                let b = self.constant(None, false);
                Some(OCond::Cmp(self.op(), a, b))
            }
            _ => {
                let path = self.path(STRING)?;
                let lit = self.literal_for(&path);
                Some(OCond::Str {
                    path,
                    lit,
                    negate: self.rng.chance(30),
                })
            }
        }
    }

    /// A string to compare `path` with: what it holds (written there first, sometimes), or a near miss.
    fn literal_for(&mut self, path: &Path) -> Vec<u8> {
        let limit = match path.leaf {
            Leaf::StrArray { len, .. } if len > 0 => (len as usize).min(btf_expr::MAX_STRING),
            _ => 12,
        };
        let current = self.oracle().string(path, limit.max(1) + 1).ok();
        let mut lit: Vec<u8> = match (self.rng.below(4), current) {
            (0 | 1, Some(c)) => c,
            (2, Some(mut c)) if !c.is_empty() => {
                let i = self.rng.below(c.len() as u64) as usize;
                c[i] = c[i].wrapping_add(1).max(1);
                c
            }
            _ => {
                let n = self.rng.below(limit.min(10) as u64 + 1) as usize;
                (0..n).map(|_| b'a' + self.rng.below(4) as u8).collect()
            }
        };
        lit.truncate(limit);
        if lit.contains(&0) {
            lit.retain(|&b| b != 0);
        }
        // Sometimes make the array hold exactly this string.
        if let Leaf::StrArray { off, len } = path.leaf
            && self.rng.chance(30)
            && let Some(base) = self.base_of(path)
        {
            let mut bytes = lit.clone();
            if len == 0 || lit.len() < len as usize {
                bytes.push(0);
            }
            self.img.write(base + off, &bytes);
        }
        lit
    }

    fn base_of(&self, p: &Path) -> Option<u64> {
        let mut base = self.w.root_addr;
        for h in &p.hops {
            if base == 0 {
                return None;
            }
            base = u64::from_le_bytes(self.img.read(base + h, 8)?.try_into().ok()?);
        }
        (base != 0).then_some(base)
    }

    fn cond(&mut self, depth: u32) -> Option<OCond> {
        if depth == 0 || self.rng.chance(45) {
            return self.atom();
        }
        Some(match self.rng.below(5) {
            0 | 1 => OCond::And(
                Box::new(self.cond(depth - 1)?),
                Box::new(self.cond(depth - 1)?),
            ),
            2 | 3 => OCond::Or(
                Box::new(self.cond(depth - 1)?),
                Box::new(self.cond(depth - 1)?),
            ),
            _ => OCond::Not(Box::new(self.cond(depth - 1)?)),
        })
    }
}

/// A world: a corpus, a root and its address (sometimes NULL or unmapped), and an empty image.
fn world(seed: u64) -> (Gen<'static>, Compiler<'static>, &'static str) {
    let mut rng = Rng::new(seed);
    let (label, btf, roots) = &corpus()[rng.below(corpus().len() as u64) as usize];
    let (root_name, struct_name) = *rng.pick(roots);
    let root_ty = btf
        .composite_named(struct_name, false)
        .expect("root struct");
    let mut img = Image::new();
    let root_addr = match rng.below(50) {
        0 => 0,
        1 => 0xffff_dead_0000_1000,
        _ => img.alloc(&mut rng, btf.size_of(root_ty).unwrap() as usize),
    };
    let c = Compiler::new(btf, root_name, struct_name).unwrap();
    (
        Gen {
            w: Walker {
                btf,
                root_name,
                root_ty,
                root_addr,
            },
            img,
            rng,
        },
        c,
        label,
    )
}

/// One filter case: Ok(Some(matched)), Ok(None) when the generator found nothing to build, Err on a
/// disagreement.
fn filter_case(seed: u64) -> Result<Option<bool>, String> {
    let (mut g, compiler, label) = world(seed);
    let Some(cond) = g.cond(3) else {
        return Ok(None);
    };
    let text = cond.text(&mut g.rng);
    let want = cond.eval(&g.oracle());
    let f = compiler
        .filter(&text)
        .map_err(|e| format!("seed {seed} [{label}] `{text}`: refused: {e}"))?;
    if f.stack > MAX_STACK {
        return Err(format!(
            "seed {seed}: `{text}` uses {} bytes of stack",
            f.stack
        ));
    }
    probes::splice::validate(&f.to_bytes()).map_err(|e| format!("seed {seed}: `{text}`: {e}"))?;
    let got = f
        .interpret(g.w.root_addr, &g.img.memory())
        .map_err(|e| format!("seed {seed} [{label}] `{text}`: {e}\n{}", f.disassemble()))?;
    if got != want {
        return Err(format!(
            "seed {seed} [{label}] `{text}`: compiled {got}, oracle {want}\n{}",
            f.disassemble()
        ));
    }
    Ok(Some(got))
}

#[test]
fn filters_agree_with_the_oracle() {
    let n = cases(100_000);
    let seed = base_seed();
    let start = std::time::Instant::now();
    let (mut ran, mut matched) = (0u64, 0u64);
    for i in 0..n {
        let s = seed.wrapping_add(i);
        match filter_case(s) {
            Ok(Some(m)) => {
                ran += 1;
                matched += m as u64;
            }
            Ok(None) => {}
            Err(e) => panic!("{e}\n(replay: BTF_EXPR_SEED={s} BTF_EXPR_CASES=1)"),
        }
    }
    eprintln!(
        "filters: {ran} of {n} cases ran ({matched} matched) in {:.1?}, seed {seed}",
        start.elapsed()
    );
    assert!(
        ran * 100 >= n * 95,
        "the generator built only {ran} of {n} cases"
    );
    if n >= 1000 {
        assert!(
            matched * 10 >= ran && matched * 10 <= ran * 9,
            "{matched} of {ran} matched: too lopsided"
        );
    }
}

/// What the fetcher should produce for an item, per the oracle.
#[derive(Debug, PartialEq)]
enum Expect {
    Num(i128),
    Str(Vec<u8>),
    Bytes(Vec<u8>),
    Null,
    Unreadable,
}

fn expected(o: &Oracle, item: &Item) -> Expect {
    let fail = |f: Fail| match f {
        Fail::Null => Expect::Null,
        Fail::Fault => Expect::Unreadable,
    };
    let r = match item {
        // A `_Bool` prints as true/false whatever byte the memory holds.
        Item::Val(OVal::Path(
            p @ Path {
                leaf: Leaf::Scalar { is_bool: true, .. },
                ..
            },
        )) => o.value(p).map(|v| Expect::Num((v != 0) as i128)),
        Item::Val(v) => v.eval(o).map(Expect::Num),
        Item::Cond(c) => Ok(Expect::Num(c.eval(o) as i128)),
        Item::Str(p, cap) => o.string(p, *cap).map(Expect::Str),
        Item::Bytes(p) => o.bytes(p).map(Expect::Bytes),
    };
    r.unwrap_or_else(fail)
}

fn decoded(v: &Value) -> Expect {
    match v {
        Value::Str { bytes, .. } => Expect::Str(bytes.clone()),
        Value::Bytes(b) => Expect::Bytes(b.clone()),
        Value::Null => Expect::Null,
        Value::Unreadable => Expect::Unreadable,
        v => Expect::Num(number(v).expect("a number")),
    }
}

enum Item {
    Val(OVal),
    Cond(OCond),
    Str(Path, usize),
    Bytes(Path),
}

fn fetch_case(seed: u64) -> Result<Option<usize>, String> {
    let (mut g, compiler, label) = world(seed);
    let count = 1 + g.rng.below(8) as usize;
    let mut items = Vec::new();
    let mut texts = Vec::new();
    for _ in 0..count {
        let (item, text) = match g.rng.below(10) {
            0 => {
                let Some(c) = g.atom() else { continue };
                let t = c.text(&mut g.rng);
                // A bare value (a truth test) prints as a value; the other branches fetch those.
                if matches!(c, OCond::Truth(_)) {
                    continue;
                }
                (Item::Cond(c), t)
            }
            1 => {
                let Some(v) = g.scalar(0) else { continue };
                let t = v.text();
                (Item::Val(v), t)
            }
            _ => {
                let Some(p) = g.path(ALL) else { continue };
                let t = p.text.clone();
                let item = match p.leaf {
                    Leaf::StrArray { len, .. } => {
                        let cap = if len == 0 { 64 } else { (len as usize).min(64) };
                        Item::Str(p, cap)
                    }
                    Leaf::StrPtr { .. } => Item::Str(p, 64),
                    Leaf::Bytes { .. } => Item::Bytes(p),
                    _ => Item::Val(OVal::Path(p)),
                };
                (item, t)
            }
        };
        items.push(item);
        texts.push(text);
    }
    if items.is_empty() {
        return Ok(None);
    }
    let f = compiler
        .fetch(&texts)
        .map_err(|e| format!("seed {seed} [{label}] {texts:?}: refused: {e}"))?;
    if f.stack > MAX_STACK {
        return Err(format!("seed {seed}: uses {} bytes of stack", f.stack));
    }
    probes::splice::validate(&f.to_bytes()).map_err(|e| format!("seed {seed}: {e}"))?;
    let got = f
        .interpret(g.w.root_addr, &g.img.memory())
        .map_err(|e| format!("seed {seed} [{label}] {texts:?}: {e}\n{}", f.disassemble()))?;
    let o = g.oracle();
    for (i, item) in items.iter().enumerate() {
        let want = expected(&o, item);
        if decoded(&got[i]) != want {
            return Err(format!(
                "seed {seed} [{label}] {:?}: compiled {:?}, oracle {want:?} (slot {:?})\n{}",
                texts[i],
                got[i],
                f.slots[i],
                f.disassemble()
            ));
        }
        // The printed kind follows the leaf's type.
        if let (Item::Val(OVal::Path(p)), Value::Signed(_) | Value::Unsigned(_)) = (item, &got[i])
            && let Leaf::Scalar { signed, .. } = p.leaf
            && !matches!(f.slots[i].kind, ValueKind::Int { signed: s, .. } if s == signed)
        {
            return Err(format!(
                "seed {seed}: {:?} has kind {:?}",
                texts[i], f.slots[i].kind
            ));
        }
    }
    Ok(Some(items.len()))
}

#[test]
fn fetchers_agree_with_the_oracle() {
    let n = cases(25_000);
    let seed = base_seed() ^ 0x5eed;
    let start = std::time::Instant::now();
    let (mut ran, mut exprs) = (0u64, 0usize);
    for i in 0..n {
        let s = seed.wrapping_add(i);
        match fetch_case(s) {
            Ok(Some(k)) => {
                ran += 1;
                exprs += k;
            }
            Ok(None) => {}
            Err(e) => panic!(
                "{e}\n(replay: BTF_EXPR_SEED={} BTF_EXPR_CASES=1)",
                s ^ 0x5eed
            ),
        }
    }
    eprintln!(
        "fetch: {ran} of {n} sets ran ({exprs} expressions) in {:.1?}, seed {seed}",
        start.elapsed()
    );
    assert!(
        ran * 100 >= n * 95,
        "the generator built only {ran} of {n} sets"
    );
}
