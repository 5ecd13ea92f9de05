//! No password reaches any output: every hostile shape of values file, in every
//! format of `validate` and on `render`'s error path. Masking is by value, so each case
//! places the secret somewhere a line-shape rule would miss.

use postgres_ha_core::check;
use postgres_ha_tests::cli;

const S: &str = "Sup3r-Sekr1t-Value-42";

/// Files that put `S` where it must not leak from; each has at least one problem, so
/// something is printed.
fn cases() -> Vec<(&'static str, String)> {
    let long = format!("{S}-{}", "x".repeat(60)); // longer than a message's 40-char cut
    vec![
        // Aliases: the anchor's line is framed (unknown key `x`).
        (
            "alias frame",
            format!("x: &pw {S}\npostgres: {{password: *pw}}\n"),
        ),
        (
            "alias in list",
            format!("x: &pw {S}\ny: &l [a, *pw]\npostgres: {{password: *l}}\n"),
        ),
        // A password anchored and reused as another value puts it in a message.
        (
            "alias as enum",
            format!("postgres: {{password: &pw {S}}}\ninternal_access: {{type: *pw}}\n"),
        ),
        (
            "alias as database",
            format!("postgres: {{password: &pw \"{S}\", database: *pw, usernme: x}}\n"),
        ),
        (
            "alias as cpu",
            format!("postgres: {{password: &pw {S}}}\nresources: {{cpu: *pw}}\n"),
        ),
        (
            "alias as link",
            format!(
                "postgres: {{password: &pw {S}}}\ninternal_access: {{type: workload-list, workloads: [*pw]}}\n"
            ),
        ),
        (
            "alias as retention",
            format!("postgres: {{password: &pw {S}}}\netcd: {{compaction: {{retention: *pw}}}}\n"),
        ),
        (
            "alias as key-ish value",
            format!("postgres: {{password: &pw {S}}}\nproxy: {{enabled: *pw}}\n"),
        ),
        (
            "long alias as enum",
            format!("postgres: {{password: &pw {long}}}\ninternal_access: {{type: *pw}}\n"),
        ),
        // Files that stop parsing at or before the password.
        (
            "flow bad escape",
            format!("postgres: {{password: \"{S}\\q\"}}\n"),
        ),
        (
            "flow unterminated",
            format!("postgres: {{password: \"{S}\n"),
        ),
        (
            "explicit key",
            format!("postgres:\n  ? password\n  : {S}\n  bad: [\n"),
        ),
        (
            "quoted key",
            format!("postgres:\n  \"password\": {S}\n  bad: [\n"),
        ),
        (
            "single-quoted key",
            format!("postgres:\n  'password' : {S}\n  bad: [\n"),
        ),
        (
            "tagged key",
            format!("postgres:\n  !!str password: {S}\n  : oops\n"),
        ),
        (
            "merge base",
            format!("base: &b {{password: {S}}}\npostgres:\n  <<: *b\n  x: [\n"),
        ),
        (
            "error before",
            format!("a: [1,\npostgres:\n  password: {S}\n"),
        ),
        ("tab indent", format!("postgres:\n\tpassword: {S}\n")),
        (
            "escaped key",
            format!("postgres: {{\"pass\\u0077ord\": {S}, x: [}}\n"),
        ),
        // Mistyped keys.
        ("passwd", format!("postgres:\n  passwd: {S}\n")),
        ("pasword", format!("postgres:\n  pasword: {S}\n")),
        ("Password", format!("postgres:\n  Password: {S}\n")),
        ("db_pass at top", format!("db_pass: {S}\n")),
        // Wrong types.
        ("list", format!("postgres: {{password: [{S}]}}\n")),
        ("mapping", format!("postgres: {{password: {{{S}: 1}}}}\n")),
        (
            "number",
            "postgres: {password: 98765432109876}\nreplicas: x\n".to_owned(),
        ),
        // Other scalar forms and places.
        (
            "block scalar",
            format!("postgres:\n  password: |\n    {S}\n  usernme: x\n"),
        ),
        (
            "escaped",
            format!(
                "postgres:\n  password: \"{}\\x41\"\n  usernme: x\n",
                &S[..10]
            ),
        ),
        (
            "comment",
            format!("# the old password: {S}\nreplicas: two\n"),
        ),
        (
            "duplicate",
            format!("postgres:\n  password: {S}\n  password: {S}\n"),
        ),
        (
            "not utf-8 after",
            format!("postgres:\n  password: {S}\u{1}\n"),
        ),
        (
            "key equal to it",
            format!("postgres: {{password: {S}}}\n{S}: 1\n"),
        ),
        // Found in review: no space after the colon (one YAML string, no key), anchors
        // read before a failure and aliased after it, shorthand keys, a comment on the
        // password's line, a number quoted the way JSON writes it.
        (
            "no space, flow",
            format!("postgres: {{username: app, password:{S}}}\n"),
        ),
        ("no space, block", format!("postgres:\n  password:{S}\n")),
        (
            "anchor before duplicate",
            format!("{{x: &a {S}, x: 1, password: *a}}\n"),
        ),
        (
            "anchor before syntax error",
            format!("{{x: &a {S}, y: [}}, password: *a}}\n"),
        ),
        ("pswd", format!("postgres:\n  pswd: {S}\n")),
        ("db_pw", format!("db_pw: {S}\n")),
        (
            "comment on its line",
            format!("postgres:\n  password: x # was {S}\n"),
        ),
        (
            "number via alias",
            "postgres: {password: &p 012345678}\nreplicas: *p\n".to_owned(),
        ),
    ]
}

/// The strings that must not appear: the secret, and for the number case its digits.
fn forbidden(name: &str) -> &'static [&'static str] {
    match name {
        "number" => &["98765432109876"],
        "number via alias" => &["12345678"],
        "escaped" => &["Sup3r-Secr"],
        _ => &[S, "Sup3r-Sekr1t"],
    }
}

/// The file's bytes: `\u{1}` stands for a byte that is not UTF-8.
fn bytes(text: &str) -> Vec<u8> {
    text.bytes()
        .map(|b| if b == 1 { 0xff } else { b })
        .collect()
}

#[test]
fn core_never_shows_a_secret_and_keeps_positions() {
    for (name, text) in cases() {
        let checked = check(&bytes(&text));
        assert!(!checked.diagnostics.is_empty(), "{name}: nothing reported");
        let shown = &checked.display_source;
        // Byte for byte: spans and columns stay exact (a file that is not UTF-8 shows
        // its valid prefix only).
        if !text.contains('\u{1}') {
            assert_eq!(shown.len(), text.len(), "{name}");
            assert_eq!(shown.lines().count(), text.lines().count(), "{name}");
        }
        for bad in forbidden(name) {
            assert!(!shown.contains(bad), "{name}: source shows it:\n{shown}");
            for d in &checked.diagnostics {
                let words = format!("{} {:?} {}", d.message, d.help, d.path);
                assert!(!words.contains(bad), "{name}: {words}");
            }
        }
    }
}

#[test]
fn no_format_of_validate_or_render_shows_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (name, text)) in cases().into_iter().enumerate() {
        let path = dir.path().join(format!("v{i}.yaml"));
        std::fs::write(&path, bytes(&text)).unwrap();
        let path = path.to_str().unwrap();
        let mut runs: Vec<Vec<&str>> = ["human", "json", "sarif", "github"]
            .iter()
            .map(|f| vec!["validate", "--color", "always", "--format", f, path])
            .collect();
        runs.push(vec!["render", "db", "-f", path, "--gvc", "prod"]);
        for args in runs {
            let out = cli(&args);
            assert!(matches!(out.code, Some(0..=2)), "{name} {args:?}: {out:?}");
            // A render that succeeds prints the password in its manifests, which is
            // its job; everything else it says goes to stderr.
            let stdout = if args[0] == "render" {
                ""
            } else {
                out.stdout.as_str()
            };
            for bad in forbidden(name) {
                assert!(
                    !stdout.contains(bad) && !out.stderr.contains(bad),
                    "{name}: {args:?} shows the secret:\n{}{}",
                    out.stdout,
                    out.stderr
                );
            }
        }
    }
}

#[test]
fn positions_survive_masking() {
    // The diagnostic after a masked multi-byte password still points at its column.
    let text = "postgres:\n  password: \"pässwörd-é-🔒-long\"\n  usernme: x\n";
    let checked = check(text.as_bytes());
    let d = &checked.diagnostics[0];
    assert_eq!(
        (
            d.code.as_str(),
            d.start(postgres_ha_core::Encoding::Scalar).line,
            d.start(postgres_ha_core::Encoding::Scalar).column
        ),
        ("S002", 3, 3)
    );
    let line = checked.display_source.lines().nth(1).unwrap();
    assert_eq!(
        line.chars().count(),
        text.lines().nth(1).unwrap().chars().count()
    );
    assert!(!line.contains("pässwörd"));
}
