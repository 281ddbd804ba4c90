//! Expression text to tokens, each with its 1-based column (counted in characters, so a column points at the
//! right place in non-ASCII text too).

use crate::error::{ErrorKind, ExprError};

/// One token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    Ident(String),
    /// An integer literal (always non-negative; `-` is an operator).
    Int(u64),
    /// A string literal's bytes (escapes decoded).
    Str(Vec<u8>),
    /// An operator or punctuation: `-> . [ ] ( ) == != < <= > >= & && || ! ~ -`; `=` is read as `==`.
    Op(&'static str),
    End,
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    pub col: usize,
}

/// Longest string literal a comparison reads (a kernel char array rarely is longer: IFNAMSIZ is 16, a task's
/// comm 16, a protocol name 32).
pub const MAX_STRING: usize = 64;

const OPS: [&str; 19] = [
    "->", "==", "!=", "<=", ">=", "&&", "||", "<", ">", "&", "!", "~", "-", ".", "[", "]", "(",
    ")", "=",
];

/// C operators we do not compile, named in the error instead of "unexpected character".
const UNSUPPORTED: [&str; 11] = ["<<", ">>", "|", "^", "+", "*", "/", "%", "?", ":", ","];

pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, ExprError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Ident(chars[start..i].iter().collect()),
                col,
            });
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            out.push(Token {
                tok: Tok::Int(parse_int(&word, col)?),
                col,
            });
            continue;
        }
        if c == '"' {
            let (bytes, next) = string(&chars, i)?;
            out.push(Token {
                tok: Tok::Str(bytes),
                col,
            });
            i = next;
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
        let Some(op) = OPS.iter().find(|op| rest.starts_with(**op)) else {
            let what = if c == '\'' {
                "character literals are not supported (write the number)".to_string()
            } else if let Some(op) = UNSUPPORTED.iter().find(|op| rest.starts_with(**op)) {
                format!(
                    "operator '{op}' is not supported (there are == != < <= > >=, & masks, && || ! and parentheses)"
                )
            } else {
                format!("unexpected character '{}'", c.escape_debug())
            };
            return Err(ExprError::new(ErrorKind::Syntax(what), col));
        };
        i += op.len();
        // pwru (bice) accepts C's `=` for equality; so do we.
        out.push(Token {
            tok: Tok::Op(if *op == "=" { "==" } else { op }),
            col,
        });
    }
    out.push(Token {
        tok: Tok::End,
        col: chars.len() + 1,
    });
    Ok(out)
}

/// Decimal, `0x` hex, `0o`/leading-`0` octal, `0b` binary, with `_` separators and C's `u`/`l` suffixes.
fn parse_int(word: &str, col: usize) -> Result<u64, ExprError> {
    let bad = |why: &str| {
        ExprError::new(
            ErrorKind::Syntax(format!("bad number '{word}': {why}")),
            col,
        )
    };
    let lower = word.to_ascii_lowercase();
    let body = lower.trim_end_matches(['u', 'l']);
    let (digits, radix) = if let Some(h) = body.strip_prefix("0x") {
        (h, 16)
    } else if let Some(b) = body.strip_prefix("0b") {
        (b, 2)
    } else if let Some(o) = body.strip_prefix("0o") {
        (o, 8)
    } else if body.len() > 1 && body.starts_with('0') {
        (&body[1..], 8)
    } else {
        (body, 10)
    };
    let digits: String = digits.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() {
        return Err(bad("no digits"));
    }
    if let Some(c) = digits.chars().find(|c| !c.is_digit(radix)) {
        return Err(bad(&format!("'{c}' is not a base-{radix} digit")));
    }
    u64::from_str_radix(&digits, radix).map_err(|_| bad("larger than 64 bits"))
}

/// A `"..."` literal starting at `chars[start]`; returns its bytes (UTF-8 for non-ASCII characters) and the
/// index after the closing quote.
fn string(chars: &[char], start: usize) -> Result<(Vec<u8>, usize), ExprError> {
    let mut out = Vec::new();
    let mut i = start + 1;
    let err = |msg: String, at: usize| ExprError::new(ErrorKind::Syntax(msg), at + 1);
    loop {
        let Some(&c) = chars.get(i) else {
            return Err(err("unterminated string".into(), start));
        };
        match c {
            '"' => break,
            '\\' => {
                let Some(&e) = chars.get(i + 1) else {
                    return Err(err("unterminated string".into(), start));
                };
                i += 2;
                match e {
                    'n' => out.push(b'\n'),
                    't' => out.push(b'\t'),
                    'r' => out.push(b'\r'),
                    '0' => out.push(0),
                    '\\' => out.push(b'\\'),
                    '"' => out.push(b'"'),
                    '\'' => out.push(b'\''),
                    'x' => {
                        let hex: String = chars[i..]
                            .iter()
                            .take(2)
                            .take_while(|c| c.is_ascii_hexdigit())
                            .collect();
                        if hex.is_empty() {
                            return Err(err("\\x needs hex digits".into(), i - 2));
                        }
                        i += hex.len();
                        out.push(u8::from_str_radix(&hex, 16).expect("hex digits"));
                    }
                    other => {
                        return Err(err(
                            format!("unknown escape '\\{}'", other.escape_debug()),
                            i - 2,
                        ));
                    }
                }
                continue;
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
        i += 1;
    }
    if out.contains(&0) {
        return Err(err(
            "a string may not contain NUL (it ends a C string)".into(),
            start,
        ));
    }
    if out.len() > MAX_STRING {
        return Err(err(
            format!(
                "string of {} bytes is longer than the {MAX_STRING} a comparison reads",
                out.len()
            ),
            start,
        ));
    }
    Ok((out, i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn numbers_ops_and_strings() {
        assert_eq!(
            toks("skb->len>=0x10&&a=0b11"),
            vec![
                Tok::Ident("skb".into()),
                Tok::Op("->"),
                Tok::Ident("len".into()),
                Tok::Op(">="),
                Tok::Int(16),
                Tok::Op("&&"),
                Tok::Ident("a".into()),
                Tok::Op("=="),
                Tok::Int(3),
                Tok::End
            ]
        );
        assert_eq!(
            toks("010 0o10 1_000u 7UL")[..4],
            [Tok::Int(8), Tok::Int(8), Tok::Int(1000), Tok::Int(7)]
        );
        assert_eq!(toks(r#""a\x41\"é""#)[0], Tok::Str(b"aA\"\xc3\xa9".to_vec()));
        assert!(tokenize("0x").is_err());
        assert!(tokenize("0xfffffffffffffffff").is_err());
        assert!(tokenize("09").is_err());
        assert!(tokenize("\"abc").is_err());
        let e = tokenize("a == é").unwrap_err();
        assert_eq!(e.column, 6);
    }
}
