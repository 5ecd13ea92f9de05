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
    assert_eq!(
        (
            d.start(postgres_ha_core::Encoding::Scalar).line,
            d.start(postgres_ha_core::Encoding::Scalar).column
        ),
        (3, 16)
    );
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
        check("\u{feff}replicas: 3\npostgres:\n  password: kR7-vQ2p-Lm9x-Tz4w\n".as_bytes());
    assert!(checked.diagnostics.is_empty(), "{:#?}", checked.diagnostics);
}

#[test]
fn many_problems_are_capped_with_a_summary() {
    use postgres_ha_core::{MAX_DIAGNOSTICS, Severity};
    let text: String = (0..500).fold(String::new(), |mut s, i| {
        writeln!(s, "k{i}: 1").unwrap();
        s
    });
    let checked = check(text.as_bytes());
    assert_eq!(checked.diagnostics.len(), MAX_DIAGNOSTICS + 1);
    // In source order: k0 and the default-password warning (both at the start of
    // the document), then k1…k98.
    assert_eq!(checked.diagnostics[0].path, "/k0");
    assert_eq!(checked.diagnostics[1].code, Code::WeakPassword);
    assert_eq!(checked.diagnostics[MAX_DIAGNOSTICS - 1].path, "/k98");
    let summary = checked.diagnostics.last().unwrap();
    assert_eq!(summary.code, Code::TooManyProblems);
    assert_eq!(summary.severity, Severity::Error);
    assert_eq!(
        (
            summary.start(postgres_ha_core::Encoding::Scalar).line,
            summary.start(postgres_ha_core::Encoding::Scalar).column
        ),
        (100, 1)
    );
    assert!(
        summary
            .message
            .starts_with("401 more problems not shown (401 errors, 0 warnings, 0 notes)"),
        "{}",
        summary.message
    );
    assert!(checked.has_errors());
}

/// Files just under 1 MiB built to make each stage work hardest: a key per line, a
/// list of bad items on one line, a whole file as one flow mapping (which the YAML
/// scanner must read whole before its first event), anchors in a flow list, and a
/// hundred problems on one 1 MiB line. Every format stays small and fails cleanly.
#[test]
fn worst_case_files_stay_small_in_every_format() {
    const MIB: usize = 1 << 20;
    let fill = |head: &str, item: &str, sep: &str, tail: &str| {
        let mut text = String::from(head);
        while text.len() + item.len() + sep.len() + tail.len() < MIB {
            text.push_str(item);
            text.push_str(sep);
        }
        text.push_str(tail);
        text
    };
    let mut keys = String::new();
    let mut i = 0;
    while keys.len() + 12 < MIB {
        writeln!(keys, "k{i:06}: 1").unwrap();
        i += 1;
    }
    let mut long_line: String = (0..120).fold(String::from("{"), |mut s, i| {
        write!(s, "k{i}: 1, ").unwrap();
        s
    });
    long_line.push_str("x: \"");
    long_line.push_str(&"y".repeat(MIB - long_line.len() - 4));
    long_line.push_str("\"}\n");
    let cases = [
        ("keys", keys, Code::TooManyNodes),
        (
            "links",
            fill(
                "internal_access: {type: workload-list, workloads: [",
                "a",
                ",",
                "a]}\n",
            ),
            Code::TooManyNodes,
        ),
        (
            "flow root",
            fill("{", "k: 1", ", ", "k: 1}\n"),
            Code::TooManyNodes,
        ),
        ("anchors", fill("[", "&a", " ", "x]\n"), Code::TooManyNodes),
        ("long line", long_line, Code::UnknownKey),
    ];
    for (name, text, code) in cases {
        assert!(text.len() <= MIB, "{name}");
        let checked = check(text.as_bytes());
        assert!(
            checked.diagnostics.iter().any(|d| d.code == code),
            "{name}: {:?}",
            checked
                .diagnostics
                .iter()
                .map(|d| d.code)
                .collect::<Vec<_>>()
        );
        for format in ["human", "json", "sarif", "github"] {
            let out = cli_with(
                &["validate", "--format", format, "-"],
                Some(text.as_bytes()),
                &[],
            );
            assert_eq!(out.code, Some(1), "{name} {format}");
            // SARIF carries every rule's documentation (~40 KB); the rest is the capped
            // diagnostics, with frames cut around their spans.
            assert!(
                out.stdout.len() < 400_000,
                "{name} {format}: {} bytes",
                out.stdout.len()
            );
        }
    }
}
