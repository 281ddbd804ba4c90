//! Constants: numbers, enumerators by name (typed by the member they meet), and the hint for a name BTF does not
//! know.

use super::*;

impl Checker<'_> {
    /// A constant expression: numbers, enumerators, and `-`, `~`, `&` of constants.
    pub(super) fn constant(&self, e: &Expr, prefer: Option<TypeId>) -> Result<(i128, String)> {
        let (v, text) = match e {
            Expr::Int(v, _) => (*v as i128, v.to_string()),
            Expr::Ident(name, col) => (self.enumerator(name, *col, prefer)?, name.clone()),
            Expr::Unary(Unary::Neg, a, _) => {
                let (v, t) = self.constant(a, prefer)?;
                (-v, format!("-{t}"))
            }
            Expr::Unary(Unary::BitNot, a, _) => {
                let (v, t) = self.constant(a, prefer)?;
                (!v, format!("~{t}"))
            }
            Expr::Mask(a, b, _) => {
                let (x, tx) = self.constant(a, prefer)?;
                let (y, ty) = self.constant(b, prefer)?;
                (x & y, format!("{tx} & {ty}"))
            }
            other => {
                let what = match other {
                    Expr::Unary(Unary::Not, ..) => "'!'",
                    _ => "this",
                };
                return Err(err(
                    ErrorKind::Unsupported(format!(
                        "{what} needs a constant here (a number or an enumerator)"
                    )),
                    other.col(),
                ));
            }
        };
        if !(i64::MIN as i128..=U64_MAX).contains(&v) {
            return Err(err(
                ErrorKind::Unsupported(format!("{text} does not fit in 64 bits")),
                e.col(),
            ));
        }
        Ok((v, text))
    }

    pub(super) fn enumerator(
        &self,
        name: &str,
        col: usize,
        prefer: Option<TypeId>,
    ) -> Result<i128> {
        let found = self.btf.enumerators_named(name);
        if found.is_empty() && name == "NULL" {
            return Ok(0);
        }
        if found.is_empty() {
            return Err(err(
                ErrorKind::UnknownName {
                    name: name.to_string(),
                    hint: Some(self.unknown_hint(name)),
                },
                col,
            ));
        }
        let value_of = |(id, raw): (TypeId, u64)| -> i128 {
            match self.btf.type_of(id) {
                Some(Type::Enum(e)) if e.signed => raw as i64 as i128,
                _ => raw as i128,
            }
        };
        if let Some(p) = prefer
            && let Some(hit) = found.iter().find(|(id, _)| *id == p)
        {
            return Ok(value_of(*hit));
        }
        let first = value_of(found[0]);
        if found.iter().all(|f| value_of(*f) == first) {
            return Ok(first);
        }
        let choices: Vec<String> = found
            .iter()
            .take(4)
            .map(|f| format!("{} = {}", self.name(f.0), value_of(*f)))
            .collect();
        Err(err(
            ErrorKind::AmbiguousName {
                name: name.to_string(),
                choices: choices.join(", "),
            },
            col,
        ))
    }

    pub(super) fn unknown_hint(&self, name: &str) -> String {
        if let Some((_, v)) = WELL_KNOWN_DEFINES.iter().find(|(n, _)| *n == name) {
            return format!(
                "it is a #define, and #define constants are not in BTF (write its value, {v})"
            );
        }
        let roots = [self.root_name.to_string()];
        if !nearest(name, &roots).is_empty() {
            return format!("the expression's root is '{}'", self.root_name);
        }
        format!(
            "no enumerator in the BTF has this name, and the root is '{}' (#define constants are not in BTF: write the number)",
            self.root_name
        )
    }
}

/// Networking `#define`s users write in pwru expressions; named in the error (BTF has no macros), never used.
const WELL_KNOWN_DEFINES: &[(&str, u32)] = &[
    ("PACKET_HOST", 0),
    ("PACKET_BROADCAST", 1),
    ("PACKET_MULTICAST", 2),
    ("PACKET_OTHERHOST", 3),
    ("PACKET_OUTGOING", 4),
    ("PACKET_LOOPBACK", 5),
    ("ETH_P_IP", 0x0800),
    ("ETH_P_ARP", 0x0806),
    ("ETH_P_8021Q", 0x8100),
    ("ETH_P_IPV6", 0x86dd),
    ("AF_INET", 2),
    ("AF_INET6", 10),
    ("AF_UNIX", 1),
    ("AF_PACKET", 17),
    ("AF_NETLINK", 16),
    ("IFF_UP", 1),
    ("IFF_LOOPBACK", 8),
];
