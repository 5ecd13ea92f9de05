//! The CLI as a user runs it: exit codes, every output format, colour, stdin.

use std::process::Command;
use std::time::Duration;

use postgres_ha_tests::{cli, cli_with, root, run, seed_values, tool};

fn fixture(name: &str) -> String {
    root()
        .join("tests/fixtures/values")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn exit_codes() {
    let valid = fixture("valid-full.yaml");
    let warning = fixture("r002-replicas-not-ha.yaml");
    let error = fixture("r003-etcd-even.yaml");
    assert_eq!(cli(&["validate", &valid]).code, Some(0));
    assert_eq!(cli(&["validate", &warning]).code, Some(0));
    assert_eq!(cli(&["validate", "--strict", &warning]).code, Some(1));
    assert_eq!(cli(&["validate", &error]).code, Some(1));
    assert_eq!(cli(&["validate", &valid, &error]).code, Some(1));
    // Infos never fail, even with --strict.
    let info = fixture("q005-quantity-as-number.yaml");
    assert_eq!(cli(&["validate", "--strict", &info]).code, Some(0));
    // Usage and unreadable files are status 2.
    assert_eq!(cli(&["validate", "--format", "xml", &valid]).code, Some(2));
    assert_eq!(cli(&["frobnicate"]).code, Some(2));
    let missing = cli(&["validate", &valid, "/nonexistent/values.yaml"]);
    assert_eq!(missing.code, Some(2));
    // The unreadable file is reported like any problem, and the readable one was
    // still checked.
    assert!(
        missing.stdout.contains("error[Y012]")
            && missing
                .stdout
                .contains("cannot read /nonexistent/values.yaml")
            && missing.stdout.contains("in 2 files"),
        "{}",
        missing.stdout
    );
    let json = cli(&["validate", "-o", "json", &valid, "/nonexistent/values.yaml"]);
    assert_eq!(json.code, Some(2));
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["files"].as_array().unwrap().len(), 2);
    assert_eq!(report["files"][1]["file"], "/nonexistent/values.yaml");
    assert_eq!(report["files"][1]["diagnostics"][0]["code"], "Y012");
}

#[test]
fn only_regular_files_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    // A named pipe with no writer would block forever; a directory or device is no
    // values file either. Each is refused at once with status 2.
    for path in [
        fifo.to_str().unwrap(),
        "/dev/zero",
        dir.path().to_str().unwrap(),
    ] {
        for format in ["human", "json"] {
            let out = cli(&["validate", "--format", format, path]);
            assert_eq!(out.code, Some(2), "{path}: {out:?}");
            assert!(out.stdout.contains("Y012"), "{path}: {}", out.stdout);
        }
    }
    let out = cli(&[
        "render",
        "db",
        "-f",
        fifo.to_str().unwrap(),
        "--gvc",
        "prod",
    ]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("not a regular file"), "{}", out.stderr);
}

/// JSON columns count what `--position-encoding` names; lines never change.
#[test]
fn json_columns_follow_the_position_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("values.yaml");
    // "ç" is 2 bytes and 1 UTF-16 unit, "😀" 4 bytes and 2 units; the even etcd count
    // (R003, at the value) comes after both.
    std::fs::write(&file, "# ok\netcd: {\"ç😀\": 1, replicas: 4}\n").unwrap();
    let file = file.display().to_string();
    let at = |encoding: &str| {
        let out = cli(&[
            "validate",
            "-o",
            "json",
            "--position-encoding",
            encoding,
            &file,
        ]);
        let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let diagnostics = report["files"][0]["diagnostics"].as_array().unwrap();
        let even = diagnostics
            .iter()
            .find(|d| d["code"] == "R003")
            .unwrap_or_else(|| panic!("{diagnostics:#?}"));
        (
            even["line"].as_u64().unwrap(),
            even["column"].as_u64().unwrap(),
        )
    };
    // Before the value: `etcd: {"` (8), "ç😀", `": 1, replicas: ` (16).
    assert_eq!(at("scalar"), (2, 1 + 8 + 2 + 16));
    assert_eq!(at("utf16"), (2, 1 + 8 + 3 + 16));
    assert_eq!(at("utf8"), (2, 1 + 8 + 6 + 16));
    let out = cli(&["validate", "--position-encoding", "utf32", &file]);
    assert_eq!(out.code, Some(2), "{out:?}");
}

#[test]
fn human_output_has_code_frames() {
    let out = cli(&[
        "validate",
        "--color",
        "never",
        &fixture("q001-invalid-quantity.yaml"),
    ]);
    let text = out.stdout.replace(&root().display().to_string(), "[ROOT]");
    insta::assert_snapshot!(text);
}

#[test]
fn colour_follows_flag_and_no_color() {
    let file = fixture("r003-etcd-even.yaml");
    let always = cli(&["validate", "--color", "always", &file]);
    assert!(always.stdout.contains("\u{1b}["), "{}", always.stdout);
    let never = cli(&["validate", "--color", "never", &file]);
    assert!(!never.stdout.contains('\u{1b}'));
    // Not a terminal: auto means no colour, and so does NO_COLOR.
    let auto = cli(&["validate", &file]);
    assert!(!auto.stdout.contains('\u{1b}'));
    let no_color = cli_with(&["validate", &file], None, &[("NO_COLOR", "1")]);
    assert!(!no_color.stdout.contains('\u{1b}'));
}

#[test]
fn json_output_shape() {
    let file = fixture("r003-etcd-even.yaml");
    let out = cli(&["validate", "--format", "json", &file]);
    assert_eq!(out.code, Some(1));
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["files"][0]["file"], file);
    let d = &json["files"][0]["diagnostics"][0];
    let keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "code",
            "severity",
            "message",
            "path",
            "line",
            "column",
            "end_line",
            "end_column",
            "help"
        ]
    );
    assert_eq!(d["code"], "R003");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["path"], "/etcd/replicas");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(3), Some(13))
    );
    assert_eq!(
        (d["end_line"].as_u64(), d["end_column"].as_u64()),
        (Some(3), Some(14))
    );
}

#[test]
fn github_annotations() {
    let out = cli(&[
        "validate",
        "--format",
        "github",
        &fixture("r006-strict-without-standby.yaml"),
    ]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert!(lines[0].starts_with("::warning file="), "{}", lines[0]);
    assert!(
        lines[0].contains(",line=2,col=11,endLine=2,endColumn=12,title=R002 replicas-not-ha::")
    );
    assert!(lines[1].starts_with("::error file="));
    // Multi-line messages are escaped onto one line.
    assert!(lines[1].contains("%0Ahelp: "), "{}", lines[1]);
}

#[test]
fn sarif_is_valid_sarif_2_1_0() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        fixture("q001-invalid-quantity.yaml"),
        fixture("valid-full.yaml"),
        seed_values().display().to_string(),
    ];
    let mut args = vec!["validate", "--format", "sarif"];
    args.extend(files.iter().map(String::as_str));
    let out = cli(&args);
    let sarif: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    let log = dir.path().join("out.sarif");
    std::fs::write(&log, &out.stdout).unwrap();
    // The official schema, as shipped in Microsoft's SARIF multitool package.
    let schema = root().join(".tools/sarif/sarif-2.1.0.json");
    assert!(
        schema.exists(),
        "run scripts/test.sh to install the SARIF schema"
    );
    let check = run(
        Command::new(tool("check-jsonschema"))
            .arg("--schemafile")
            .arg(&schema)
            .arg(&log),
        None,
        Duration::from_secs(60),
    );
    assert_eq!(check.code, Some(0), "{check:?}");
}

#[test]
fn reads_standard_input() {
    let out = cli_with(
        &["validate", "--format", "json", "-"],
        Some(b"replicas: 0\n"),
        &[],
    );
    assert_eq!(out.code, Some(1));
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["files"][0]["file"], "<stdin>");
    let codes: Vec<&str> = json["files"][0]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    // The default password is reported too, since the input sets none.
    assert_eq!(codes, ["C001", "R001"]);
}

#[test]
fn explain_documents_every_code() {
    let all = cli(&["explain", "--all"]);
    assert_eq!(all.code, Some(0));
    for code in postgres_ha_core::Code::ALL {
        assert!(all.stdout.contains(code.as_str()));
        let one = cli(&["explain", code.name()]);
        assert_eq!(one.code, Some(0));
        assert!(one.stdout.starts_with(&format!("# {}", code.as_str())));
        assert!(one.stdout.contains("## Fix"));
    }
    let unknown = cli(&["explain", "Z999"]);
    assert_eq!(unknown.code, Some(2));
    assert!(unknown.stderr.contains("unknown code `Z999`"));
}

#[test]
fn schema_command_prints_the_checked_in_schema() {
    let out = cli(&["schema"]);
    assert_eq!(out.code, Some(0));
    assert_eq!(
        out.stdout,
        std::fs::read_to_string(root().join("values.schema.json")).unwrap()
    );
}

#[test]
fn help_and_completions() {
    for args in [
        &["--help"][..],
        &["validate", "--help"],
        &["explain", "--help"],
        &["schema", "--help"],
    ] {
        let out = cli(args);
        assert_eq!(out.code, Some(0), "{args:?}");
        assert!(out.stdout.contains("Usage:"));
    }
    for shell in ["bash", "zsh", "fish"] {
        let out = cli(&["completions", shell]);
        assert_eq!(out.code, Some(0));
        assert!(out.stdout.contains("validate"), "{shell}");
        // Internal commands are not offered.
        assert!(!out.stdout.contains("supervise"), "{shell}");
    }
}

/// The bash script completes past the first word, as a user's shell runs it.
#[test]
fn bash_completion_works_in_bash() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("completion.bash");
    std::fs::write(&script, cli(&["completions", "bash"]).stdout).unwrap();
    let driver = format!(
        r#"source '{}'
words() {{
  COMP_WORDS=("$@"); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
  COMP_LINE="$*"; COMP_POINT=${{#COMP_LINE}}
  local fn; fn=$(complete -p cpln-postgres-ha | sed -E 's/.*-F ([^ ]+).*/\1/')
  COMPREPLY=()
  "$fn" cpln-postgres-ha "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
  echo "${{COMPREPLY[*]}}"
}}
words cpln-postgres-ha lo
words cpln-postgres-ha local li
words cpln-postgres-ha validate --fo
words cpln-postgres-ha validate --format j
words cpln-postgres-ha render db --cred
"#,
        script.display()
    );
    let out = run(
        Command::new("bash").arg("--norc").arg("-c").arg(driver),
        None,
        Duration::from_secs(30),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        ["local", "list", "--format", "json", "--credentials"],
        "{}",
        out.stderr
    );
}

#[test]
fn secrets_never_reach_any_output() {
    let secret = "Sup3r-Secret-Value-42";
    let dir = tempfile::tempdir().unwrap();
    // Invalid around the password: a wrong type elsewhere, a bad key beside it, and a
    // syntax error after it (so the parser stops with the password line nearby).
    let files = [
        format!("postgres:\n  password: \"{secret}\"\n  usernme: x\nreplicas: two\n"),
        format!("postgres:\n  password: {secret}\n  database: [\n"),
        format!("postgres:\n  password: {secret}\n password: {secret}\n"),
        format!("postgres:\n  password: {secret}\n  password: {secret}\n"),
        format!("postgres:\n  password: [{secret}]\n"),
    ];
    for (i, text) in files.iter().enumerate() {
        let path = dir.path().join(format!("v{i}.yaml"));
        std::fs::write(&path, text).unwrap();
        for format in ["human", "json", "sarif", "github"] {
            let out = cli(&["validate", "--format", format, path.to_str().unwrap()]);
            assert_eq!(out.code, Some(1), "{text}");
            assert!(
                !out.stdout.contains(secret) && !out.stderr.contains(secret),
                "{format} output of case {i} shows the secret:\n{}",
                out.stdout
            );
        }
    }
}

#[test]
fn unknown_local_cluster_is_named_by_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_str().unwrap();
    for args in [
        &["local", "dsn", "nope"][..],
        &["local", "status", "nope"],
        &["local", "down", "nope"],
        &["local", "logs", "nope"],
        &["status", "nope", "--local"],
    ] {
        let mut args = args.to_vec();
        args.extend(["--state-dir", state]);
        let out = cli(&args);
        assert_eq!(out.code, Some(2), "{args:?}");
        assert!(
            out.stderr.contains("there is no local cluster named nope"),
            "{args:?}: {}",
            out.stderr
        );
    }
}
