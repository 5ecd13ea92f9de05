//! The editor's answers as plain serializable data, built from core alone (no
//! JavaScript types), so that they are tested natively.

use postgres_ha_core::render::{self, Credentials, Release};
use postgres_ha_core::{
    Code, Diagnostic, Encoding, LineIndex, Severity, Values, check, schema_json,
};
use serde::Serialize;
use serde_json::Value;

/// A call JavaScript made wrongly: thrown as an `Error`, never returned as data.
#[derive(Debug)]
pub struct Misuse(pub String);

/// One diagnostic as JavaScript sees it: the CLI's JSON fields, camel-cased, with
/// 1-based lines and columns in the editor's encoding.
#[derive(Serialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JsDiagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub path: String,
    pub line: u32,
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
    pub help: Option<String>,
}

impl JsDiagnostic {
    fn new(d: &Diagnostic, encoding: Encoding) -> Self {
        let (start, end) = (d.start(encoding), d.end(encoding));
        Self {
            code: d.code.as_str(),
            severity: d.severity,
            message: d.message.clone(),
            path: d.path.clone(),
            line: start.line,
            column: start.column,
            end_line: end.line,
            end_column: end.column,
            help: d.help.clone(),
        }
    }
}

/// A stretch of text, 1-based, the end exclusive, columns in the editor's encoding.
#[derive(Serialize, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct JsRange {
    pub line: u32,
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
}

/// What `render` answers.
#[derive(Serialize, Debug)]
pub struct Rendered {
    pub diagnostics: Vec<JsDiagnostic>,
    /// The resources in apply order, secret data hidden; `None` while the values
    /// have errors.
    pub manifests: Option<Vec<Value>>,
    /// The same as `cpln apply -f` takes it.
    pub yaml: Option<String>,
}

/// A code's documentation.
#[derive(Serialize, Debug, PartialEq)]
pub struct Explanation {
    pub code: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
    pub documentation: &'static str,
}

/// Any answer (the wrapper serializes what it gets).
pub type Answer<T> = Result<T, Misuse>;

/// The editor's state: the position encoding its columns count.
#[derive(Debug)]
pub struct Editor {
    encoding: Encoding,
}

impl Editor {
    pub fn new(encoding: &str) -> Answer<Self> {
        Encoding::from_name(encoding)
            .map(|encoding| Self { encoding })
            .ok_or_else(|| {
                let names: Vec<&str> = Encoding::ALL.iter().map(|e| e.as_str()).collect();
                Misuse(format!(
                    "unknown position encoding `{encoding}`; expected one of {}",
                    names.join(", ")
                ))
            })
    }

    /// The diagnostics of `text`, as `validate` finds them in a file of those bytes.
    #[must_use]
    pub fn check(&self, text: &str) -> Vec<JsDiagnostic> {
        self.diagnostics(&check(text.as_bytes()).diagnostics)
    }

    fn diagnostics(&self, diagnostics: &[Diagnostic]) -> Vec<JsDiagnostic> {
        diagnostics
            .iter()
            .map(|d| JsDiagnostic::new(d, self.encoding))
            .collect()
    }

    /// Every stretch of `text` that core would hide wherever it shows the text:
    /// secret values, and what cannot be proven not to hold one (the rest of a file
    /// after a syntax error near a secret, comments naming a secret). Empty when the
    /// text may be shown, or shared, as it is.
    #[must_use]
    pub fn secrets(&self, text: &str) -> Vec<JsRange> {
        let shown = check(text.as_bytes()).display_source;
        let (source, shown) = (text.as_bytes(), shown.as_bytes());
        let index = LineIndex::new(text);
        let mut ranges = Vec::new();
        let mut at = 0;
        while at < source.len() {
            if shown.get(at) == Some(&source[at]) {
                at += 1;
                continue;
            }
            let start = at;
            while at < source.len() && shown.get(at) != Some(&source[at]) {
                at += 1;
            }
            // Past the whole last character, whichever byte of it differed.
            while at < source.len() && !text.is_char_boundary(at) {
                at += 1;
            }
            let from = index.position(text, start as u32, self.encoding);
            let to = index.position(text, at as u32, self.encoding);
            ranges.push(JsRange {
                line: from.line,
                column: from.column,
                end_line: to.line,
                end_column: to.column,
            });
        }
        ranges
    }

    /// The release rendered from `text`, for a preview: every secret's data is
    /// hidden, so the internal passwords need not exist yet and none is shown.
    pub fn render(&self, text: &str, name: &str, gvc: &str) -> Answer<Rendered> {
        let release = Release {
            name: name.to_owned(),
            gvc: gvc.to_owned(),
            org: None,
        };
        render::check_release(&release).map_err(|e| Misuse(e.to_string()))?;
        let checked = check(text.as_bytes());
        let diagnostics = self.diagnostics(&checked.diagnostics);
        let Some(values) = checked.values else {
            return Ok(Rendered {
                diagnostics,
                manifests: None,
                yaml: None,
            });
        };
        let preview = Credentials::from_fn(|_| render::HIDDEN.to_owned());
        let mut resources =
            render::render(&values, &release, &preview).map_err(|e| Misuse(e.to_string()))?;
        render::hide_secrets(&mut resources);
        Ok(Rendered {
            diagnostics,
            yaml: Some(render::to_yaml(&resources)),
            manifests: Some(resources),
        })
    }

    /// `values.schema.json`.
    #[must_use]
    pub fn schema() -> Value {
        serde_json::from_str(&schema_json()).unwrap_or_default()
    }

    /// Every value at its default.
    #[must_use]
    pub fn defaults() -> Value {
        serde_json::to_value(Values::default()).unwrap_or_default()
    }

    /// The documentation of `code` (`R003` or its name), if there is such a code.
    #[must_use]
    pub fn explain(code: &str) -> Option<Explanation> {
        Code::lookup(code).map(|code| Explanation {
            code: code.as_str(),
            name: code.name(),
            severity: code.severity(),
            summary: code.summary(),
            documentation: code.documentation(),
        })
    }

    #[must_use]
    pub fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../examples/values.yaml");

    #[test]
    fn columns_count_the_editors_encoding() {
        // "ç" is 2 bytes and 1 UTF-16 unit, "😀" 4 bytes and 2 units, before R003.
        let text = "# ok\netcd: {\"ç😀\": 1, replicas: 4}\n";
        let at = |encoding| {
            let diagnostics = Editor::new(encoding).unwrap().check(text);
            let even = diagnostics.iter().find(|d| d.code == "R003").unwrap();
            (even.line, even.column, even.end_line)
        };
        assert_eq!(at("scalar"), (2, 1 + 8 + 2 + 16, 2));
        assert_eq!(at("utf16"), (2, 1 + 8 + 3 + 16, 2));
        assert_eq!(at("utf8"), (2, 1 + 8 + 6 + 16, 2));
        assert!(Editor::new("latin1").is_err());
    }

    #[test]
    fn the_example_renders_with_secret_data_hidden() {
        let editor = Editor::new("utf16").unwrap();
        let out = editor.render(EXAMPLE, "db", "prod").unwrap();
        assert!(
            out.diagnostics
                .iter()
                .all(|d| d.severity != Severity::Error)
        );
        let manifests = out.manifests.unwrap();
        let kinds: Vec<&str> = manifests
            .iter()
            .filter_map(|r| r["kind"].as_str())
            .collect();
        assert!(
            kinds.contains(&"workload") && kinds.contains(&"secret"),
            "{kinds:?}"
        );
        let password = postgres_ha_core::check_str(EXAMPLE)
            .values
            .unwrap()
            .postgres
            .password;
        assert!(!out.yaml.unwrap().contains(&password));
        assert!(matches!(
            editor.render(EXAMPLE, "Not A Name", "prod"),
            Err(Misuse(_))
        ));
        let broken = editor.render("replicas: 0\n", "db", "prod").unwrap();
        assert!(broken.manifests.is_none() && !broken.diagnostics.is_empty());
    }

    #[test]
    fn secrets_are_found_where_core_hides_them() {
        let editor = Editor::new("utf16").unwrap();
        let text = "# ç😀\npostgres:\n  password: \"Wintry-Lantern-58-ç\"\n  database: app\n";
        let found = editor.secrets(text);
        assert_eq!(found.len(), 1, "{found:?}");
        let r = &found[0];
        assert_eq!((r.line, r.end_line), (3, 3));
        let line: Vec<u16> = text.lines().nth(2).unwrap().encode_utf16().collect();
        let hidden = String::from_utf16(&line[r.column as usize - 1..r.end_column as usize - 1]);
        assert!(hidden.unwrap().contains("Wintry-Lantern-58-ç"));
        assert!(editor.secrets("replicas: 3\n").is_empty());
        // A misspelt key is a secret too, as everywhere else.
        assert_eq!(
            editor
                .secrets("postgres: {pasword: \"Wintry-Lantern-58\"}\n")
                .len(),
            1
        );
    }

    #[test]
    fn schema_defaults_and_codes_are_served() {
        assert_eq!(Editor::schema()["title"], "postgres-ha values");
        assert_eq!(Editor::defaults()["replicas"], 3);
        let r003 = Editor::explain("R003").unwrap();
        assert_eq!(Editor::explain(r003.name), Some(r003));
        assert!(Editor::explain("Z999").is_none());
        assert!(!Editor::version().is_empty());
    }
}
