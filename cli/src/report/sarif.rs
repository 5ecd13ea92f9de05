//! SARIF 2.1.0, one run, every rule described in the driver.

use std::fmt::Write;

use postgres_ha_core::{Code, Encoding, Severity};
use serde_json::{Value, json};

use super::FileReport;

pub(crate) fn render(reports: &[FileReport]) -> String {
    let rules: Vec<Value> = Code::ALL
        .iter()
        .map(|code| {
            json!({
                "id": code.as_str(),
                "name": code.name(),
                "shortDescription": {"text": code.summary()},
                "fullDescription": {"text": code.summary()},
                "help": {"text": code.documentation(), "markdown": code.documentation()},
                "defaultConfiguration": {"level": level(code.severity())},
            })
        })
        .collect();
    let results: Vec<Value> = reports
        .iter()
        .flat_map(|report| {
            report.checked.diagnostics.iter().map(move |d| {
                let mut text = d.message.clone();
                if let Some(help) = &d.help {
                    text.push_str("\nhelp: ");
                    text.push_str(help);
                }
                let mut location = json!({
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri(&report.name)},
                        "region": {
                            "startLine": d.start(Encoding::Scalar).line,
                            "startColumn": d.start(Encoding::Scalar).column,
                            "endLine": d.end(Encoding::Scalar).line,
                            "endColumn": d.end(Encoding::Scalar).column,
                        }
                    }
                });
                if !d.path.is_empty() {
                    location["logicalLocations"] =
                        json!([{"fullyQualifiedName": d.path, "kind": "member"}]);
                }
                json!({
                    "ruleId": d.code.as_str(),
                    "ruleIndex": Code::ALL.iter().position(|c| *c == d.code),
                    "level": level(d.severity),
                    "message": {"text": text},
                    "locations": [location],
                })
            })
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "cpln-postgres-ha",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    });
    let mut out = serde_json::to_string_pretty(&log).unwrap_or_default();
    out.push('\n');
    out
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// A relative URI reference for a path: `/` separators, reserved characters escaped.
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.replace('\\', "/").bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}
