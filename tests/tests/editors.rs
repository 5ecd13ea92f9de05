//! The checked-in schema works in other tools: the real `check-jsonschema` accepts it
//! as a schema and reaches our verdict on every fixture, except where a rule needs
//! arithmetic across fields, which JSON Schema cannot express.

use std::process::Command;
use std::time::Duration;

use postgres_ha_core::{Code, Severity};
use postgres_ha_tests::{fixtures, root, run, seed_values, tool};

/// Error codes JSON Schema cannot express (cross-field arithmetic or lists of names
/// held in Rust); a file whose only errors are these passes `check-jsonschema`.
const BEYOND_SCHEMA: &[Code] = &[
    Code::CpuTooSmall,
    Code::MemoryTooSmall,
    Code::MemoryCpuRatio,
    Code::StrictWithoutStandby,
    Code::TimingRule,
    Code::ManagedParameter,
    Code::SynchronousCommitWeakened,
    Code::UnknownParameter,
    Code::UnsafeParameterValue,
    Code::InvalidParameterValue,
];

fn check_jsonschema(file: &std::path::Path) -> bool {
    let schema = root().join("values.schema.json");
    let out = run(
        Command::new(tool("check-jsonschema"))
            .arg("--schemafile")
            .arg(&schema)
            .arg(file),
        None,
        Duration::from_secs(60),
    );
    assert!(
        matches!(out.code, Some(0 | 1)),
        "check-jsonschema failed to run: {out:?}"
    );
    out.code == Some(0)
}

#[test]
fn schema_is_a_valid_draft_2020_12_schema() {
    let out = run(
        Command::new(tool("check-jsonschema"))
            .arg("--check-metaschema")
            .arg(root().join("values.schema.json")),
        None,
        Duration::from_secs(60),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
}

#[test]
fn check_jsonschema_reaches_our_verdict() {
    let mut files: Vec<(std::path::PathBuf, Vec<String>)> = fixtures()
        .into_iter()
        .map(|f| (f.path, f.expected))
        .collect();
    files.push((seed_values(), vec![]));
    files.push((root().join("examples/values.yaml"), vec![]));
    let mut disagreements = Vec::new();
    for (path, expected) in files {
        let schema_errors = expected.iter().any(|e| {
            let code = Code::lookup(e.split('@').next().unwrap()).unwrap();
            code.severity() == Severity::Error && !BEYOND_SCHEMA.contains(&code)
        });
        let accepted = check_jsonschema(&path);
        if accepted == schema_errors {
            disagreements.push(format!(
                "{}: check-jsonschema {}, we expect {:?}",
                path.display(),
                if accepted { "accepts" } else { "rejects" },
                expected
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
