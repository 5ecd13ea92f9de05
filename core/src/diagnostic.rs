//! The one diagnostics model every edge (CLI formats, pre-commit, WASM) renders.
//!
//! Spans are byte ranges into the source. Line and column come from one function,
//! [`LineIndex::position`], in the unit the edge asks for ([`Encoding`]): terminals
//! count Unicode scalar values, browsers UTF-16 code units, byte-oriented tools UTF-8
//! bytes. Each diagnostic carries its columns in all three (computed from the
//! original text, which no edge sees: a secret's masked characters must not shift a
//! column), so every output agrees and no edge does position arithmetic.

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

/// A 1-based line and column (in the units of an [`Encoding`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

/// What a column counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Encoding {
    /// UTF-8 bytes (byte-oriented tools).
    Utf8,
    /// UTF-16 code units (browsers, JavaScript, SARIF's default).
    Utf16,
    /// Unicode scalar values: characters, as a terminal shows them.
    #[default]
    Scalar,
}

impl Encoding {
    pub const ALL: [Self; 3] = [Self::Utf8, Self::Utf16, Self::Scalar];

    /// The name every edge accepts and prints.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Utf8 => "utf8",
            Self::Utf16 => "utf16",
            Self::Scalar => "scalar",
        }
    }

    /// The encoding named `name` (`utf8`, `utf16`, `scalar`).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == name)
    }

    /// How many units of this encoding `text` takes.
    fn units(self, text: &str) -> usize {
        match self {
            Self::Utf8 => text.len(),
            Self::Utf16 => text.chars().map(char::len_utf16).sum(),
            Self::Scalar => text.chars().count(),
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Where a diagnostic starts and ends, in every [`Encoding`]: lines agree, columns
/// differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Place {
    line: u32,
    columns: [u32; 3],
}

impl Place {
    fn new(lines: &LineIndex, text: &str, offset: u32) -> Self {
        let mut columns = [0; 3];
        let mut line = 1;
        for encoding in Encoding::ALL {
            let position = lines.position(text, offset, encoding);
            columns[encoding.index()] = position.column;
            line = position.line;
        }
        Self { line, columns }
    }

    fn in_encoding(self, encoding: Encoding) -> Position {
        Position {
            line: self.line,
            column: self.columns[encoding.index()],
        }
    }
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
    /// Where in the source, in bytes; always inside the text (an empty file gives
    /// `0..0`).
    pub span: Span,
    /// How to fix it, when there is something specific to say.
    pub help: Option<String>,
    start: Place,
    end: Place,
}

impl Diagnostic {
    /// Where it starts, with columns in `encoding`.
    #[must_use]
    pub fn start(&self, encoding: Encoding) -> Position {
        self.start.in_encoding(encoding)
    }

    /// Where it ends, with columns in `encoding`.
    #[must_use]
    pub fn end(&self, encoding: Encoding) -> Position {
        self.end.in_encoding(encoding)
    }

    /// The diagnostic as every JSON output writes it, columns in `encoding`.
    #[must_use]
    pub fn in_encoding(&self, encoding: Encoding) -> InEncoding<'_> {
        InEncoding(self, encoding)
    }
}

/// A diagnostic serialized with its columns in one encoding: `code`, `severity`,
/// `message`, `path`, `line`, `column`, `end_line`, `end_column`, `help`.
pub struct InEncoding<'a>(&'a Diagnostic, Encoding);

impl Serialize for InEncoding<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let Self(d, encoding) = *self;
        let (start, end) = (d.start(encoding), d.end(encoding));
        let mut s = serializer.serialize_struct("Diagnostic", 9)?;
        s.serialize_field("code", d.code.as_str())?;
        s.serialize_field("severity", &d.severity)?;
        s.serialize_field("message", &d.message)?;
        s.serialize_field("path", &d.path)?;
        s.serialize_field("line", &start.line)?;
        s.serialize_field("column", &start.column)?;
        s.serialize_field("end_line", &end.line)?;
        s.serialize_field("end_column", &end.column)?;
        s.serialize_field("help", &d.help)?;
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

    /// Line and column of a byte offset, the column counted in `encoding`: the one
    /// place positions are computed. Offsets past the end or inside a UTF-8 sequence
    /// are clamped rather than rejected, so this never panics.
    #[must_use]
    pub fn position(&self, text: &str, offset: u32, encoding: Encoding) -> Position {
        let mut offset = (offset as usize).min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s as usize <= offset) - 1;
        let start = self.starts[line] as usize;
        Position {
            line: line as u32 + 1,
            column: encoding.units(&text[start..offset]) as u32 + 1,
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
                Place::new(&lines, text, span.start),
                Place::new(&lines, text, span.end),
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
        let at = |offset| index.position(text, offset, Encoding::Scalar);
        assert_eq!(at(0), Position { line: 1, column: 1 });
        assert_eq!(at(5), Position { line: 2, column: 1 });
        // "né: " is 5 bytes but 4 characters.
        assert_eq!(at(10), Position { line: 2, column: 5 });
        // Inside the two-byte "é": clamped back to its start.
        assert_eq!(at(7), Position { line: 2, column: 2 });
        assert_eq!(at(999), Position { line: 3, column: 1 });
        assert_eq!(index.line_range(text, 2), Some(5..11));
        assert_eq!(index.line_range(text, 9), None);
    }

    #[test]
    fn columns_in_each_encoding() {
        // "ç" is 2 bytes, 1 UTF-16 unit, 1 scalar; "😀" is 4 bytes, 2 units, 1 scalar.
        let text = "x: 1\nç😀: bad\n";
        let index = LineIndex::new(text);
        let offset = text.find("bad").unwrap() as u32;
        let column = |encoding| index.position(text, offset, encoding);
        assert_eq!(column(Encoding::Utf8), Position { line: 2, column: 9 });
        assert_eq!(column(Encoding::Utf16), Position { line: 2, column: 6 });
        assert_eq!(column(Encoding::Scalar), Position { line: 2, column: 5 });
        for encoding in Encoding::ALL {
            assert_eq!(Encoding::from_name(encoding.as_str()), Some(encoding));
        }
        assert_eq!(Encoding::from_name("utf-32"), None);
    }

    #[test]
    fn diagnostics_carry_every_encoding() {
        let text = "é😀: x";
        let mut reporter = Reporter::new(text);
        let offset = text.find('x').unwrap();
        reporter.report(
            Code::SchemaViolation,
            "/a",
            Span::new(offset, offset + 1),
            "m",
            None,
        );
        let d = &reporter.finish()[0];
        assert_eq!(d.start(Encoding::Utf8).column, 9);
        assert_eq!(d.start(Encoding::Utf16).column, 6);
        assert_eq!(d.start(Encoding::Scalar).column, 5);
        assert_eq!(d.end(Encoding::Utf16).column, 7);
        let json = serde_json::to_value(d.in_encoding(Encoding::Utf16)).unwrap();
        assert_eq!(
            (json["line"].clone(), json["column"].clone()),
            (1.into(), 6.into())
        );
    }
}
