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

/// Most diagnostics reported per file; past it one summary diagnostic counts the rest,
/// so output stays small whatever the input.
pub const MAX_DIAGNOSTICS: usize = 100;

/// A diagnostic before its position is computed (only the kept ones need one).
#[derive(Debug, PartialEq, Eq)]
struct Pending {
    span: Span,
    code: Code,
    /// Report order, so equal places keep the order rules found them in.
    seq: u64,
    severity: Severity,
    path: String,
    message: String,
    help: Option<String>,
}

impl Pending {
    fn key(&self) -> (u32, Code, u64) {
        (self.span.start, self.code, self.seq)
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Builds the diagnostics of one source text: keeps the first [`MAX_DIAGNOSTICS`] in
/// source order in a bounded heap and counts the rest, so memory and output stay
/// bounded however many problems a file has. Positions are computed once, at the end.
#[derive(Debug)]
pub(crate) struct Reporter<'a> {
    text: &'a str,
    kept: std::collections::BinaryHeap<Pending>,
    /// Fingerprints of everything reported, to drop exact repeats.
    seen: std::collections::HashSet<u64>,
    seq: u64,
    /// Counted but not kept: how many of each severity, and the first of them.
    omitted: [usize; 3],
    first_omitted: Option<Span>,
    errors: usize,
}

impl<'a> Reporter<'a> {
    #[must_use]
    pub(crate) fn new(text: &'a str) -> Self {
        Self {
            text,
            kept: std::collections::BinaryHeap::new(),
            seen: std::collections::HashSet::new(),
            seq: 0,
            omitted: [0; 3],
            first_omitted: None,
            errors: 0,
        }
    }

    /// Records a diagnostic with the code's default severity.
    pub(crate) fn report(
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
    pub(crate) fn report_with(
        &mut self,
        code: Code,
        severity: Severity,
        path: &str,
        span: Span,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        use std::hash::{Hash, Hasher};
        let end = (span.end as usize).min(self.text.len());
        let span = Span::new((span.start as usize).min(end), end);
        let message = message.into();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (code, severity, path, span, &message, &help).hash(&mut hasher);
        if !self.seen.insert(hasher.finish()) {
            return;
        }
        if severity == Severity::Error {
            self.errors += 1;
        }
        self.seq += 1;
        self.kept.push(Pending {
            span,
            code,
            seq: self.seq,
            severity,
            path: path.to_owned(),
            message,
            help,
        });
        if self.kept.len() > MAX_DIAGNOSTICS
            && let Some(last) = self.kept.pop()
        {
            self.omitted[last.severity as usize] += 1;
            if self
                .first_omitted
                .is_none_or(|first| last.span.start < first.start)
            {
                self.first_omitted = Some(last.span);
            }
        }
    }

    #[must_use]
    pub(crate) fn has_errors(&self) -> bool {
        self.errors > 0
    }

    /// The diagnostics in source order (then by code), as every output shows them,
    /// with one summary at the end when some were left out.
    #[must_use]
    pub(crate) fn finish(self) -> Vec<Diagnostic> {
        let lines = LineIndex::new(self.text);
        let text = self.text;
        let at = |span: Span| {
            (
                lines.position(text, span.start),
                lines.position(text, span.end),
            )
        };
        let mut diagnostics: Vec<Diagnostic> = self
            .kept
            .into_sorted_vec()
            .into_iter()
            .map(|p| {
                let (start, end) = at(p.span);
                Diagnostic {
                    code: p.code,
                    severity: p.severity,
                    message: p.message,
                    path: p.path,
                    span: p.span,
                    start,
                    end,
                    help: p.help,
                }
            })
            .collect();
        if let Some(span) = self.first_omitted {
            let [infos, warnings, errors] = self.omitted;
            let severity = if errors > 0 {
                Severity::Error
            } else if warnings > 0 {
                Severity::Warning
            } else {
                Severity::Info
            };
            let plural =
                |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
            let (start, end) = at(span);
            diagnostics.push(Diagnostic {
                code: Code::TooManyProblems,
                severity,
                message: format!(
                    "{} more {} not shown ({}, {}, {}); only the first {MAX_DIAGNOSTICS} are reported",
                    errors + warnings + infos,
                    if errors + warnings + infos == 1 { "problem" } else { "problems" },
                    plural(errors, "error"),
                    plural(warnings, "warning"),
                    plural(infos, "note"),
                ),
                path: String::new(),
                span,
                start,
                end,
                help: Some("fix the problems shown and check again".into()),
            });
        }
        diagnostics
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
