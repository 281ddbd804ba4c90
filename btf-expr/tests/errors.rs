//! Refused expressions: the exact one-line message and column for each kind of mistake, on the committed 6.18
//! kernel types; and garbage (random text, random token soup) never panics, while whatever compiles runs in
//! the interpreter and passes the splice's checks.

mod common;

use btf_expr::{Compiler, ErrorKind, Memory};
use proptest::prelude::*;
use symbols::Btf;

fn btf() -> Btf {
    Btf::from_bytes(common::data("kernel-6.18.btf")).unwrap()
}

fn filter_err(c: &Compiler, expr: &str) -> String {
    match c.filter(expr) {
        Ok(_) => panic!("`{expr}` compiled"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn messages_name_the_types_and_the_column() {
    let btf = btf();
    let skb = Compiler::new(&btf, "skb", "sk_buff").unwrap();
    let cases = [
        (
            "skb->devv->ifindex == 9",
            "skb->devv: struct sk_buff has no member 'devv' (did you mean 'dev'?) at column 6",
        ),
        (
            "skb->dev->ifidx == 9",
            "skb->dev->ifidx: struct net_device has no member 'ifidx' (did you mean 'ifindex'?) at column 11",
        ),
        (
            "skb->sk->sk_family == 2",
            "skb->sk->sk_family: struct sock has no member 'sk_family' (did you mean '__sk_common.skc_family'?) at column 10",
        ),
        (
            "skb->dev->name == 9",
            "skb->dev->name is char[16], not a value: compare it with a string (skb->dev->name == \"...\") or index it ([0]) at column 11",
        ),
        (
            "skb->len == \"eth0\"",
            "cannot compare skb->len (unsigned int) with string \"eth0\" (strings compare with char arrays and char pointers) at column 10",
        ),
        (
            "skb->dev == 5",
            "cannot compare skb->dev (struct net_device *) with 5 (a pointer compares with another pointer or with 0/NULL; test it alone (skb->sk) or with !) at column 10",
        ),
        (
            "skb->dev > skb->sk",
            "cannot compare skb->dev (struct net_device *) with skb->sk (struct sock *) (pointers compare with == and != only) at column 10",
        ),
        (
            "skb->cb",
            "skb->cb is char[48], not a value: compare it with a string (skb->cb == \"...\") or index it ([0]) at column 6",
        ),
        (
            "skb->sk->__sk_common == 1",
            "skb->sk->__sk_common is struct sock_common, not a value: name one of its members (skb->sk->__sk_common.skc_addrpair, skb->sk->__sk_common.skc_daddr, skb->sk->__sk_common.skc_rcv_saddr, ...) at column 10",
        ),
        (
            "skb.len > 1",
            "skb: is a pointer (struct sk_buff *): use '->' at column 5",
        ),
        (
            "skb->sk->__sk_common->skc_family == 2",
            "skb->sk->__sk_common: is struct sock_common, not a pointer: use '.' at column 23",
        ),
        (
            "skb->len->x",
            "skb->len: is unsigned int, not a struct or union, so it has no member 'x' at column 11",
        ),
        (
            "skb->cb[48] == 0",
            "skb->cb[48]: index 48 is out of bounds for char[48] at column 8",
        ),
        (
            "skb->cb[skb->len] == 0",
            "an array index must be a constant at column 9",
        ),
        (
            "skb->pkt_type == PACKET_HOST",
            "unknown name 'PACKET_HOST': it is a #define, and #define constants are not in BTF (write its value, 0) at column 18",
        ),
        (
            "skb->mark == FOO_BAR",
            "unknown name 'FOO_BAR': no enumerator in the BTF has this name, and the root is 'skb' (#define constants are not in BTF: write the number) at column 14",
        ),
        (
            "sbk->len == 1",
            "unknown name 'sbk': paths start at 'skb' at column 1",
        ),
        (
            "skb->pkt_type == 8",
            "8 is out of range for skb->pkt_type (3-bit bitfield of __u8: 0..=7), so the comparison is always false at column 15",
        ),
        (
            "skb->len != -1",
            "-1 is out of range for skb->len (unsigned int: 0..=4294967295), so the comparison is always true at column 10",
        ),
        (
            "skb->dev->name == \"abcdefghijklmnopq\"",
            "string \"abcdefghijklmnopq\" is out of range for skb->dev->name (char[16]: at most 16 characters), so the comparison is always false at column 19",
        ),
        (
            "skb->dev->name < \"eth0\"",
            "strings compare with == and != only, not < at column 16",
        ),
        (
            "!skb->len == 0",
            "cannot compare a condition with a value (combine conditions with &&, || and !; `!x == 0` reads as `(!x) == 0`) at column 11",
        ),
        (
            "skb->len > 1 > 0",
            "comparisons do not chain: write (a > b) && (b > c), or add parentheses at column 14",
        ),
        (
            "skb->len | 1",
            "operator '|' is not supported (there are == != < <= > >=, & masks, && || ! and parentheses) at column 10",
        ),
        (
            "ntohs(skb->protocol) == 0x800",
            "function calls such as ntohs() are not supported (fields of type __be16/__be32/__be64 are already compared in host byte order) at column 1",
        ),
        (
            "skb->len == 1x",
            "bad number '1x': 'x' is not a base-10 digit at column 13",
        ),
        (
            "skb->len == 99999999999999999999",
            "bad number '99999999999999999999': larger than 64 bits at column 13",
        ),
        (
            "skb->len >",
            "expected a value, found end of expression at column 11",
        ),
        (
            "(skb->len > 1",
            "expected ')', found end of expression at column 14",
        ),
        ("skb->len > 1)", "unbalanced ')' at column 13"),
        (
            "skb->",
            "expected a member name after '->', found end of expression at column 6",
        ),
        (
            "skb->dev->name == \"eth0",
            "unterminated string at column 19",
        ),
        ("", "empty expression at column 1"),
        (
            "skb->len == 'a'",
            "character literals are not supported (write the number) at column 13",
        ),
        ("skb->len ≥ 1", "unexpected character '≥' at column 10"),
        (
            "skb->len \u{7} 1",
            "unexpected character '\\u{7}' at column 10",
        ),
        (
            "-skb->len < 0",
            "this needs a constant here (a number or an enumerator) at column 2",
        ),
        (
            "skb->dev->name == \"a\\0b\"",
            "a string may not contain NUL (it ends a C string) at column 19",
        ),
    ];
    let mut failed = Vec::new();
    for (expr, want) in cases {
        let got = filter_err(&skb, expr);
        if got != want {
            failed.push(format!("`{expr}`\n   got: {got}\n  want: {want}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn fetch_errors_name_the_expression() {
    let btf = btf();
    let skb = Compiler::new(&btf, "skb", "sk_buff").unwrap();
    let e = skb.fetch(&["skb->len", "skb->dev->mtuu"]).unwrap_err();
    assert_eq!(e.index, 1);
    assert_eq!(
        e.to_string(),
        "skb->dev->mtuu: skb->dev->mtuu: struct net_device has no member 'mtuu' (did you mean 'mtu'?) at column 11"
    );
    let e = skb.fetch(&["skb->sk->__sk_common"]).unwrap_err();
    assert!(matches!(e.error.kind, ErrorKind::NotAValue { .. }), "{e}");
    let e = skb.fetch(&["\"x\""]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "\"x\": a string literal has no kernel value to print at column 1"
    );
    // 16 strings of 64 bytes do not fit the 1024-byte area.
    let many = vec!["skb->dev->rtnl_link_ops->kind"; 16];
    let e = skb.fetch(&many).unwrap_err();
    assert_eq!(e.index, 14);
    assert!(e.to_string().contains("more than 1024"), "{e}");
}

#[test]
fn root_type_errors() {
    let btf = btf();
    assert_eq!(
        Compiler::new(&btf, "skb", "sk_buf")
            .err()
            .unwrap()
            .to_string(),
        "the BTF has no struct sk_buf"
    );
    assert!(Compiler::new(&btf, "1skb", "sk_buff").is_err());
    assert!(Compiler::new(&btf, "sk b", "sk_buff").is_err());
}

/// Tokens the soup is made of: real members, operators, literals, and junk.
const SOUP: &[&str] = &[
    "skb",
    "->",
    ".",
    "dev",
    "name",
    "len",
    "sk",
    "__sk_common",
    "skc_family",
    "pkt_type",
    "cb",
    "[",
    "]",
    "(",
    ")",
    "==",
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "&",
    "&&",
    "||",
    "!",
    "~",
    "-",
    "0",
    "1",
    "0x800",
    "-1",
    "18446744073709551615",
    "\"eth0\"",
    "\"\"",
    "ifindex",
    "mark",
    "hash",
    "protocol",
    "nd_net",
    "net",
    "ns",
    "inum",
    "rtnl_link_ops",
    "kind",
    "NULL",
    "SKB_DROP_REASON_NOT_SPECIFIED",
    "é",
    "\u{0}",
    "'",
    "*",
    "|",
    "99999999999999999999",
    "0b",
    "07",
    "09",
    "\"\\x\"",
    "[0]",
    "[99]",
];

fn exercise(text: &str) {
    let btf = btf_cached();
    let skb = Compiler::new(btf, "skb", "sk_buff").unwrap();
    let mut mem = Memory::new();
    mem.insert(0xffff_8880_0000_0000, vec![0x11; 512]);
    // The BTF-free syntax check refuses exactly what the compilers refuse as syntax, with the same error.
    if let Err(e) = btf_expr::check_syntax(text) {
        assert_eq!(skb.filter(text).unwrap_err(), e, "`{text}`");
        assert_eq!(*skb.fetch(&[text]).unwrap_err().error, e, "`{text}`");
    }
    if let Ok(f) = skb.filter(text) {
        probes::splice::validate(&f.to_bytes()).unwrap();
        f.interpret(0xffff_8880_0000_0000, &mem)
            .unwrap_or_else(|e| panic!("`{text}`: {e}"));
        f.interpret(0, &mem).unwrap();
    }
    if let Ok(f) = skb.fetch(&[text]) {
        probes::splice::validate(&f.to_bytes()).unwrap();
        f.interpret(0xffff_8880_0000_0000, &mem)
            .unwrap_or_else(|e| panic!("`{text}`: {e}"));
    }
}

fn btf_cached() -> &'static Btf {
    static B: std::sync::OnceLock<Btf> = std::sync::OnceLock::new();
    B.get_or_init(btf)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn any_text_is_an_error_or_a_program(text in "\\PC{0,40}") {
        exercise(&text);
    }

    #[test]
    fn token_soup_is_an_error_or_a_program(toks in proptest::collection::vec(0..SOUP.len(), 0..24)) {
        let text: Vec<&str> = toks.iter().map(|&i| SOUP[i]).collect();
        exercise(&text.join(" "));
        exercise(&text.concat());
    }
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let btf = btf();
    let skb = Compiler::new(&btf, "skb", "sk_buff").unwrap();
    let deep = format!("{}skb->len{}", "(".repeat(100), ")".repeat(100));
    assert_eq!(
        filter_err(&skb, &deep),
        "nested more than 64 deep at column 65"
    );
    let nots = format!("{}skb->len", "!".repeat(100));
    assert_eq!(
        filter_err(&skb, &nots),
        "nested more than 64 deep at column 65"
    );
    let huge = format!("{}skb->len{}", "(".repeat(100_000), ")".repeat(100_000));
    assert_eq!(
        filter_err(&skb, &huge),
        "expression too long (more than 4096 tokens) at column 4097"
    );
    let long = vec!["skb->len == 1"; 2000].join(" || ");
    assert!(filter_err(&skb, &long).starts_with("expression too long"));
    // Masks nested deeper than the spill slots.
    let masks = "skb->len & (skb->mark & (skb->hash & (skb->len & (skb->mark & skb->hash)))) == 1";
    assert!(
        filter_err(&skb, masks).starts_with("operands nested more than 4 deep"),
        "{}",
        filter_err(&skb, masks)
    );
}
