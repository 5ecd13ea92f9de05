//! The validation pipeline: bytes → YAML → schema → HA rules → typed values.

use crate::codes::Code;
use crate::diagnostic::{Diagnostic, Reporter, Severity, Span};
use crate::values::Values;
use crate::yaml::{self, MAX_BYTES, SECRET_KEYS};

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
/// diagnostics, and time and memory stay bounded by [`MAX_BYTES`] and the parser's
/// depth and alias limits.
#[must_use]
pub fn check(bytes: &[u8]) -> Checked {
    if bytes.len() > MAX_BYTES {
        let mut reporter = Reporter::new("");
        reporter.report(
            Code::TooLarge,
            "",
            Span::new(0, 0),
            "the file is larger than 1 MiB, the limit for values files",
            Some("pass the values file itself".into()),
        );
        return Checked {
            values: None,
            diagnostics: reporter.finish(),
            display_source: String::new(),
        };
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => check_str(text),
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
            let parsed = yaml::parse(valid, &mut Reporter::new(valid));
            Checked {
                values: None,
                diagnostics: reporter.finish(),
                display_source: redact(valid, &parsed.secret_spans),
            }
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
    let diagnostics = reporter.finish();
    Checked {
        values,
        diagnostics,
        display_source: redact(text, &parsed.secret_spans),
    }
}

/// Stars out secret values, byte for byte (so byte spans stay valid). Besides the
/// spans the parser found, any line that sets a secret key is starred after its
/// colon, which covers files the parser could not finish.
#[must_use]
pub fn redact(text: &str, secret_spans: &[Span]) -> String {
    let mut hidden = vec![false; text.len()];
    let mut hide = |range: std::ops::Range<usize>| {
        for flag in &mut hidden[range] {
            *flag = true;
        }
    };
    for span in secret_spans {
        hide(span.range());
    }
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_start().trim_start_matches("- ").trim_start();
        let key = body.trim_start_matches(['"', '\'']);
        if let Some(colon) = body.find(':')
            && SECRET_KEYS.iter().any(|k| {
                key.starts_with(k)
                    && key[k.len()..]
                        .trim_start_matches(['"', '\''])
                        .trim_start()
                        .starts_with(':')
            })
        {
            let value = &body[colon + 1..];
            let start = offset
                + (line.len() - body.len())
                + colon
                + 1
                + (value.len() - value.trim_start().len());
            let end = offset + line.trim_end_matches(['\n', '\r']).len();
            if start < end {
                hide(start..end);
            }
        }
        offset += line.len();
    }
    // Each hidden character becomes one of the same UTF-8 length, so byte spans and
    // character columns both stay valid; line breaks are kept.
    text.char_indices()
        .map(|(i, c)| match c {
            _ if !hidden[i] || c == '\n' || c == '\r' => c,
            _ => match c.len_utf8() {
                1 => '*',
                2 => '¤',
                3 => '∗',
                _ => '🔒',
            },
        })
        .collect()
}
