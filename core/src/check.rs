//! The validation pipeline: bytes → YAML → schema → HA rules → typed values.

use crate::codes::Code;
use crate::diagnostic::{Diagnostic, Reporter, Severity, Span};
use crate::secrets::Secrets;
use crate::values::Values;
use crate::yaml::{self, MAX_BYTES, Parsed};

/// What checking one values file produced.
#[derive(Debug)]
pub struct Checked {
    /// The typed values, when there are no errors.
    pub values: Option<Values>,
    /// Every finding, in source order.
    pub diagnostics: Vec<Diagnostic>,
    /// The source with every secret value starred out byte for byte, so spans stay
    /// valid: the only text an edge may show next to a diagnostic.
    pub display_source: String,
    /// Whether the file sets `postgres.password` (else the values hold the default):
    /// a deploy generates a strong password instead.
    pub password_written: bool,
}

impl Checked {
    /// The most severe diagnostic's severity, if any.
    #[must_use]
    pub fn max_severity(&self) -> Option<Severity> {
        self.diagnostics.iter().map(|d| d.severity).max()
    }

    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.max_severity() == Some(Severity::Error)
    }
}

/// Checks one values file given as raw bytes. Never panics; bad input becomes
/// diagnostics, and time and memory stay bounded by [`MAX_BYTES`], the parser's depth
/// and alias limits and the reporter's cap on diagnostics.
#[must_use]
pub fn check(bytes: &[u8]) -> Checked {
    match decode(bytes) {
        Ok(text) => check_str(text),
        Err(checked) => *checked,
    }
}

/// Checks the values as they would be with `changes` (JSON pointer → value) applied:
/// what a day-2 command asks before it changes a running cluster (`scale` sets
/// `/replicas`), so it refuses exactly what `validate` would. Positions refer to a
/// JSON rendering of the changed document, not to `bytes`: show codes and messages.
#[must_use]
pub fn check_changed(bytes: &[u8], changes: &[(&str, serde_json::Value)]) -> Checked {
    let text = match decode(bytes) {
        Ok(text) => text,
        Err(checked) => return *checked,
    };
    let mut reporter = Reporter::new(text);
    let parsed = yaml::parse(text, &mut reporter);
    let Some(doc) = parsed.document else {
        return check_str(text);
    };
    let mut value = doc.value;
    for (pointer, new) in changes {
        set_pointer(&mut value, pointer, new.clone());
    }
    check_str(&serde_json::to_string_pretty(&value).unwrap_or_default())
}

/// Sets the value at a JSON pointer, creating objects on the way.
fn set_pointer(root: &mut serde_json::Value, pointer: &str, new: serde_json::Value) {
    let keys: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|segment| segment.replace("~1", "/").replace("~0", "~"))
        .collect();
    set_path(root, &keys, new);
}

/// Sets the value under `keys`, replacing what is not an object on the way with one.
pub(crate) fn set_path<K: AsRef<str>>(
    root: &mut serde_json::Value,
    keys: &[K],
    new: serde_json::Value,
) {
    let mut at = root;
    for key in keys {
        if !at.is_object() {
            *at = serde_json::Value::Object(serde_json::Map::new());
        }
        let Some(object) = at.as_object_mut() else {
            return;
        };
        at = object
            .entry(key.as_ref().to_owned())
            .or_insert(serde_json::Value::Null);
    }
    *at = new;
}

/// The text of a file within the size limit, or the diagnostics that refuse it.
pub(crate) fn decode(bytes: &[u8]) -> Result<&str, Box<Checked>> {
    if bytes.len() > MAX_BYTES {
        return Err(Box::new(Checked::refused(
            Code::TooLarge,
            "the file is larger than 1 MiB, the limit for values files",
            "pass the values file itself",
        )));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(error) => {
            // Only the valid prefix can be shown; the position is where it ends.
            let valid = std::str::from_utf8(&bytes[..error.valid_up_to()]).unwrap_or_default();
            let mut reporter = Reporter::new(valid);
            reporter.report(
                Code::NotUtf8,
                "",
                Span::new(valid.len(), valid.len()),
                format!("byte {} is not valid UTF-8", error.valid_up_to()),
                Some("save the file as UTF-8".into()),
            );
            let mut parsed = yaml::parse(valid, &mut Reporter::new(valid));
            // The prefix was cut mid-file: what follows its last event is unproven.
            if parsed.secrets.unproven_from.is_none() {
                parsed.secrets.unproven_from = Some(valid.len());
            }
            Err(Box::new(finish(valid, reporter, &parsed, None)))
        }
    }
}

/// Checks one values file given as text.
#[must_use]
pub fn check_str(text: &str) -> Checked {
    let mut reporter = Reporter::new(text);
    let parsed = yaml::parse(text, &mut reporter);
    let mut values = None;
    if let Some(doc) = &parsed.document {
        crate::schema::check(doc, &mut reporter);
        crate::rules::check(doc, &mut reporter);
        if !reporter.has_errors() {
            match serde_json::from_value::<Values>(doc.value.clone()) {
                Ok(typed) => values = Some(typed),
                // The schema accepted what the model rejects: a defect, but still
                // reported as a diagnostic rather than a panic.
                Err(error) => reporter.report(
                    Code::SchemaViolation,
                    "",
                    Span::new(0, 0),
                    format!("the values do not fit the model: {error}"),
                    None,
                ),
            }
        }
    }
    finish(text, reporter, &parsed, values)
}

/// Masks secrets in the diagnostics and the source shown beside them.
pub(crate) fn finish(
    text: &str,
    reporter: Reporter<'_>,
    parsed: &Parsed,
    values: Option<Values>,
) -> Checked {
    let secrets = match &parsed.document {
        Some(doc) => doc.secrets.clone(),
        None => Secrets::new(parsed.secrets.values.iter().cloned()),
    };
    let mut diagnostics = reporter.finish();
    for diagnostic in &mut diagnostics {
        secrets.mask_diagnostic(diagnostic);
    }
    Checked {
        values,
        diagnostics,
        display_source: secrets.display(text, &parsed.secrets, &crate::schema::is_known_key),
        password_written: parsed
            .document
            .as_ref()
            .is_some_and(|doc| doc.node("/postgres/password").is_some()),
    }
}

impl Checked {
    /// A file refused before its text could be read (too large, unreadable): one
    /// diagnostic at its start, no source to show.
    #[must_use]
    pub fn refused(code: Code, message: &str, help: &str) -> Checked {
        let mut reporter = Reporter::new("");
        reporter.report(code, "", Span::new(0, 0), message, Some(help.to_owned()));
        Checked {
            values: None,
            diagnostics: reporter.finish(),
            display_source: String::new(),
            password_written: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Encoding;

    /// A secret is starred byte for byte in the shown source, yet columns after it
    /// count its characters as the user's editor does.
    #[test]
    fn columns_after_a_masked_secret_count_its_characters() {
        let secret = "ç😀ç😀ç😀ç😀-Secret-1";
        let text = format!("postgres: {{password: \"{secret}\", username: 5}}\n");
        let checked = check_str(&text);
        assert!(!checked.display_source.contains(secret));
        let d = checked
            .diagnostics
            .iter()
            .find(|d| d.path == "/postgres/username")
            .expect("the username's type is reported");
        let before = &text[..text.find(": 5").unwrap() + 2];
        let column = |units: usize| units as u32 + 1;
        assert_eq!(d.start(Encoding::Utf8).column, column(before.len()));
        assert_eq!(
            d.start(Encoding::Utf16).column,
            column(before.encode_utf16().count())
        );
        assert_eq!(
            d.start(Encoding::Scalar).column,
            column(before.chars().count())
        );
        assert!(d.start(Encoding::Scalar).column < d.start(Encoding::Utf16).column);
    }
}
