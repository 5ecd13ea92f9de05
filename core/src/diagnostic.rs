//! The one diagnostics model every edge (CLI formats, pre-commit, WASM) renders.
//!
//! Spans are byte ranges into the source; line and column are computed once here so
//! every output agrees. Columns count Unicode scalar values, 1-based.

use serde::{Serialize, Serializer};

use crate::codes::Code;

/// How serious a diagnostic is. `validate` fails on errors (and on warnings with
/// `--strict`); infos never fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    /// The lower-case name used in every output format.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

/// A byte range `start..end` in the source text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    #[must_use]
    pub fn new(start: usize, end: usize) -> Self {
        Self {
            start: start as u32,
            end: end.max(start) as u32,
        }
    }

    #[must_use]
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// A 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

/// One finding about one place in a values file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Stable code (`R003`); `explain CODE` documents it.
    pub code: Code,
    pub severity: Severity,
    /// One sentence saying what is wrong. Never contains a secret.
    pub message: String,
    /// JSON pointer of the value concerned (`/etcd/replicas`); empty for the document.
    pub path: String,
    /// Where in the source; always inside the text (an empty file gives `0..0`).
    pub span: Span,
    pub start: Position,
    pub end: Position,
    /// How to fix it, when there is something specific to say.
    pub help: Option<String>,
}

impl Serialize for Diagnostic {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Diagnostic", 9)?;
        s.serialize_field("code", self.code.as_str())?;
        s.serialize_field("severity", &self.severity)?;
        s.serialize_field("message", &self.message)?;
        s.serialize_field("path", &self.path)?;
        s.serialize_field("line", &self.start.line)?;
        s.serialize_field("column", &self.start.column)?;
        s.serialize_field("end_line", &self.end.line)?;
        s.serialize_field("end_column", &self.end.column)?;
        s.serialize_field("help", &self.help)?;
        s.end()
    }
}

/// Byte offset of every line start, for offset → line/column conversion.
#[derive(Clone, Debug)]
pub struct LineIndex {
    starts: Vec<u32>,
}

impl LineIndex {
    #[must_use]
    pub fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(
                text.bytes()
                    .enumerate()
                    .filter(|(_, b)| *b == b'\n')
                    .map(|(i, _)| i as u32 + 1),
            )
            .collect();
        Self { starts }
    }

    /// Line and column of a byte offset; offsets past the end or inside a UTF-8
    /// sequence are clamped rather than rejected, so this never panics.
    #[must_use]
    pub fn position(&self, text: &str, offset: u32) -> Position {
        let mut offset = (offset as usize).min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s as usize <= offset) - 1;
        let start = self.starts[line] as usize;
        Position {
            line: line as u32 + 1,
            column: text[start..offset].chars().count() as u32 + 1,
        }
    }

    /// Byte range of a 1-based line, without its line break.
    #[must_use]
    pub fn line_range(&self, text: &str, line: u32) -> Option<std::ops::Range<usize>> {
        let index = (line as usize).checked_sub(1)?;
        let start = *self.starts.get(index)? as usize;
        let end = self
            .starts
            .get(index + 1)
            .map_or(text.len(), |&s| s as usize - 1);
        let end = if text[start..end].ends_with('\r') {
            end - 1
        } else {
            end
        };
        Some(start..end)
    }
}

/// Builds diagnostics for one source text, computing positions once.
#[derive(Debug)]
pub struct Reporter<'a> {
    text: &'a str,
    lines: LineIndex,
    diagnostics: Vec<Diagnostic>,
}

impl<'a> Reporter<'a> {
    #[must_use]
    pub fn new(text: &'a str) -> Self {
        Self {
            text,
            lines: LineIndex::new(text),
            diagnostics: Vec::new(),
        }
    }

    /// Records a diagnostic with the code's default severity.
    pub fn report(
        &mut self,
        code: Code,
        path: &str,
        span: Span,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        self.report_with(code, code.severity(), path, span, message, help);
    }

    /// Records a diagnostic with an explicit severity.
    pub fn report_with(
        &mut self,
        code: Code,
        severity: Severity,
        path: &str,
        span: Span,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        let end = (span.end as usize).min(self.text.len());
        let span = Span::new((span.start as usize).min(end), end);
        self.diagnostics.push(Diagnostic {
            code,
            severity,
            message: message.into(),
            path: path.to_owned(),
            span,
            start: self.lines.position(self.text, span.start),
            end: self.lines.position(self.text, span.end),
            help,
        });
    }

    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }

    /// The diagnostics in source order (then by code), as every output shows them.
    #[must_use]
    pub fn finish(mut self) -> Vec<Diagnostic> {
        self.diagnostics.sort_by_key(|d| (d.span.start, d.code));
        self.diagnostics.dedup();
        self.diagnostics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters() {
        let text = "a: 1\nné: 2\n";
        let index = LineIndex::new(text);
        assert_eq!(index.position(text, 0), Position { line: 1, column: 1 });
        assert_eq!(index.position(text, 5), Position { line: 2, column: 1 });
        // "né: " is 5 bytes but 4 characters.
        assert_eq!(index.position(text, 10), Position { line: 2, column: 5 });
        // Inside the two-byte "é": clamped back to its start.
        assert_eq!(index.position(text, 7), Position { line: 2, column: 2 });
        assert_eq!(index.position(text, 999), Position { line: 3, column: 1 });
        assert_eq!(index.line_range(text, 2), Some(5..11));
        assert_eq!(index.line_range(text, 9), None);
    }
}
