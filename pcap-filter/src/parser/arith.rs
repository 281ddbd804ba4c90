//! Arithmetic relations (`ip[0] & 0xf > 5`, `len >= 100`): values, operators and their nesting limit.

use super::*;

impl Parser<'_> {
    pub(super) fn relation(&mut self) -> PResult<Pred> {
        let a = self.arith(0)?;
        let col = self.col();
        let (op, rev) = match self.peek() {
            Tok::Op(">") => (CmpOp::Gt, false),
            Tok::Op(">=") => (CmpOp::Ge, false),
            Tok::Op("=") => (CmpOp::Eq, false),
            Tok::Op("<=") => (CmpOp::Gt, true),
            Tok::Op("<") => (CmpOp::Ge, true),
            Tok::Op("!=") => (CmpOp::Eq, true),
            _ => return Err(self.syntax()),
        };
        self.next();
        let b = self.arith(0)?;
        let _ = col;
        let mut cmp = Pred::Cmp(op, a.v, b.v);
        if rev {
            cmp = Pred::not(cmp);
        }
        let mut guard = Pred::True;
        for g in a.guards.into_iter().chain(b.guards) {
            guard = Pred::and(guard, g);
        }
        Ok(Pred::and(guard, cmp))
    }

    fn binop(t: &Tok) -> Option<(AluOp, u8)> {
        Some(match t {
            Tok::Op("|") => (AluOp::Or, 1),
            Tok::Op("&") => (AluOp::And, 2),
            Tok::Op("<<") => (AluOp::Lsh, 3),
            Tok::Op(">>") => (AluOp::Rsh, 3),
            Tok::Op("+") => (AluOp::Add, 4),
            Tok::Op("-") => (AluOp::Sub, 4),
            Tok::Op("*") => (AluOp::Mul, 5),
            Tok::Op("/") => (AluOp::Div, 5),
            _ => return None,
        })
    }

    /// Precedence climbing over libpcap's `%left` levels.
    fn arith(&mut self, min: u8) -> PResult<Arth> {
        self.depth += 1;
        if self.depth > MAX_ARITH_DEPTH {
            return self.err(format!(
                "arithmetic nested more than {MAX_ARITH_DEPTH} deep"
            ));
        }
        let r = self.arith_inner(min);
        self.depth -= 1;
        r
    }

    fn arith_inner(&mut self, min: u8) -> PResult<Arth> {
        let mut lhs = self.arith_unary()?;
        while let Some((op, prec)) = Self::binop(self.peek()) {
            if prec < min.max(1) {
                break;
            }
            let col = self.col();
            self.next();
            let rhs = self.arith(prec + 1)?;
            lhs = self.combine(op, lhs, rhs, col)?;
        }
        Ok(lhs)
    }

    fn combine(&self, op: AluOp, a: Arth, b: Arth, col: usize) -> PResult<Arth> {
        match (op, &b.v) {
            (AluOp::Div, Val::K(0)) => return self.err_at(col, "division by zero"),
            (AluOp::Mod, Val::K(0)) => return self.err_at(col, "modulus by zero"),
            (AluOp::Lsh | AluOp::Rsh, Val::K(k)) if *k > 31 => {
                return self.err_at(col, "shift by more than 31 bits");
            }
            _ => {}
        }
        if a.v.depth().max(b.v.depth()) >= MAX_ARITH_DEPTH {
            return self.err_at(
                col,
                format!("arithmetic nested more than {MAX_ARITH_DEPTH} deep"),
            );
        }
        let mut guards = a.guards;
        guards.extend(b.guards);
        Ok(Arth {
            v: Val::alu(op, a.v, b.v),
            guards,
        })
    }

    fn arith_unary(&mut self) -> PResult<Arth> {
        let col = self.col();
        let prim = match self.peek().clone() {
            Tok::Op("-") => {
                self.next();
                let a = self.arith_unary_only()?;
                Arth {
                    v: Val::Neg(Box::new(a.v)),
                    guards: a.guards,
                }
            }
            _ => self.arith_primary()?,
        };
        // '%' and '^' have no declared precedence in libpcap's grammar, so bison shifts them:
        // everything to their right becomes the right operand.
        if let Tok::Op(o @ ("%" | "^")) = *self.peek() {
            let op = if o == "%" { AluOp::Mod } else { AluOp::Xor };
            self.next();
            let rhs = self.arith(0)?;
            return self.combine(op, prim, rhs, col);
        }
        Ok(prim)
    }

    fn arith_unary_only(&mut self) -> PResult<Arth> {
        // -(-x) is x in 32-bit arithmetic: count the signs instead of recursing.
        let mut odd = false;
        while self.is_op("-") {
            self.next();
            odd = !odd;
        }
        let a = self.arith_primary()?;
        if !odd {
            return Ok(a);
        }
        Ok(Arth {
            v: Val::Neg(Box::new(a.v)),
            guards: a.guards,
        })
    }

    fn arith_primary(&mut self) -> PResult<Arth> {
        let col = self.col();
        match self.peek().clone() {
            Tok::Num(n) => {
                self.next();
                Ok(Arth {
                    v: Val::K(n),
                    guards: vec![],
                })
            }
            Tok::Kw("len") => {
                self.next();
                Ok(Arth {
                    v: Val::Len,
                    guards: vec![],
                })
            }
            Tok::Op("(") => {
                self.next();
                let a = self.arith(0)?;
                self.expect_op(")")?;
                Ok(a)
            }
            Tok::Kw(k) if Proto::from_kw(k).is_some() => {
                let p = Proto::from_kw(k).unwrap();
                self.next();
                self.expect_op("[")?;
                let idx = self.arith(0)?;
                let size = if self.is_op(":") {
                    self.next();
                    let Tok::Num(n) = *self.peek() else {
                        return Err(self.syntax());
                    };
                    self.next();
                    n
                } else {
                    1
                };
                self.expect_op("]")?;
                let r = self.sem.index_load(p, idx.v, size, idx.guards);
                let (v, guards) = self.g(col, r)?;
                Ok(Arth { v, guards })
            }
            _ => Err(self.syntax()),
        }
    }
}
