//! Hostile and malformed input: a diagnostic and exit status 1, never a panic, a hang
//! or unbounded memory. (The time bound here is a watchdog, not a performance target.)

use std::fmt::Write;

use postgres_ha_core::{Code, check};
use postgres_ha_tests::cli_with;

fn first_code(bytes: &[u8]) -> Code {
    let checked = check(bytes);
    assert!(checked.has_errors());
    assert!(checked.values.is_none());
    checked.diagnostics[0].code
}

#[test]
fn oversized_file() {
    let big = "a: 1\n".repeat(2_200_000); // ~10 MB
    assert_eq!(first_code(big.as_bytes()), Code::TooLarge);
    let out = cli_with(
        &["validate", "--format", "json", "-"],
        Some(big.as_bytes()),
        &[],
    );
    assert_eq!(out.code, Some(1));
    assert!(out.stdout.contains("\"Y004\""));
}

#[test]
fn not_utf8_points_at_the_first_bad_byte() {
    let bytes = b"replicas: 3\npostgres:\n  database: caf\xe9\n";
    let checked = check(bytes);
    let d = &checked.diagnostics[0];
    assert_eq!(d.code, Code::NotUtf8);
    assert_eq!((d.start.line, d.start.column), (3, 16));
    // UTF-16 with a BOM is not UTF-8 either.
    assert_eq!(first_code(&[0xff, 0xfe, b'a', 0, b':', 0]), Code::NotUtf8);
}

#[test]
fn deep_nesting_flow_and_block() {
    assert_eq!(first_code("[".repeat(10_000).as_bytes()), Code::TooDeep);
    assert_eq!(first_code("{a: ".repeat(10_000).as_bytes()), Code::TooDeep);
    let block: String = (0..300).fold(String::new(), |mut s, i| {
        s.push_str(&"  ".repeat(i));
        s.push_str("k:\n");
        s
    });
    assert_eq!(first_code(block.as_bytes()), Code::TooDeep);
    let dashes = "- ".repeat(10_000);
    assert_eq!(first_code(dashes.as_bytes()), Code::TooDeep);
}

#[test]
fn alias_bomb() {
    let mut text = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (name, prev) in ["b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        let items = vec![format!("*{prev}"); 9].join(",");
        text.push_str(name);
        text.push_str(": &");
        text.push_str(name);
        text.push_str(" [");
        text.push_str(&items);
        text.push_str("]\n");
    }
    assert_eq!(first_code(text.as_bytes()), Code::AliasExpansion);
    // Aliases that nest deeper than the limit without expanding much.
    let mut deep =
        String::from("a0: &a0 [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n");
    for i in 1..4 {
        let nested = format!("{}*a{}{}", "[".repeat(29), i - 1, "]".repeat(29));
        writeln!(deep, "a{i}: &a{i} {nested}").unwrap();
    }
    assert_eq!(first_code(deep.as_bytes()), Code::TooDeep);
}

#[test]
fn empty_and_garbage() {
    assert_eq!(first_code(b""), Code::EmptyDocument);
    assert_eq!(first_code(b"   \n\n"), Code::EmptyDocument);
    assert_eq!(first_code(b"~\n"), Code::EmptyDocument);
    assert_eq!(first_code(b"\x00\x01\x02"), Code::YamlSyntax);
    assert_eq!(first_code(b"\"unterminated"), Code::YamlSyntax);
    assert_eq!(first_code(b"key: @reserved\n"), Code::YamlSyntax);
    let out = cli_with(&["validate", "-"], Some(b""), &[]);
    assert_eq!(out.code, Some(1));
    assert!(out.stdout.contains("error[Y002]"), "{}", out.stdout);
}

#[test]
fn byte_order_mark_is_accepted() {
    let checked =
        check("\u{feff}replicas: 3\npostgres:\n  password: a-long-enough-password\n".as_bytes());
    assert!(checked.diagnostics.is_empty(), "{:#?}", checked.diagnostics);
}
