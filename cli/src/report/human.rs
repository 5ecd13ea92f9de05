//! rustc-style code frames, via annotate-snippets (the renderer rustc itself uses).

use std::fmt::Write;

use annotate_snippets::{AnnotationKind, Group, Level, Origin, Renderer, Snippet};
use postgres_ha_core::{Diagnostic, Encoding, LineIndex, Severity};

use super::{FileReport, counts};

pub(crate) fn render(reports: &[FileReport], color: bool) -> String {
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let mut out = String::new();
    for report in reports {
        let source = report.checked.display_source.as_str();
        let lines = LineIndex::new(source);
        for d in &report.checked.diagnostics {
            let level = match d.severity {
                Severity::Error => Level::ERROR,
                Severity::Warning => Level::WARNING,
                Severity::Info => Level::INFO,
            };
            let location = format!(
                "{}:{}:{}",
                report.name,
                d.start(Encoding::Scalar).line,
                d.start(Encoding::Scalar).column
            );
            let mut group = if source.is_empty() {
                // Nothing to show (an oversized file): name the place only.
                Group::with_title(
                    level
                        .primary_title(format!("{} ({location})", d.message))
                        .id(d.code.as_str()),
                )
            } else {
                let (excerpt, span, cut) = excerpt(source, &lines, d);
                let snippet = Snippet::source(excerpt)
                    .line_start(d.start(Encoding::Scalar).line as usize)
                    .annotation(AnnotationKind::Primary.span(span));
                let title = level.primary_title(d.message.as_str()).id(d.code.as_str());
                if cut {
                    // The excerpt no longer starts its line: name the place ourselves.
                    title
                        .element(
                            Origin::path(report.name.as_str())
                                .line(d.start(Encoding::Scalar).line as usize)
                                .char_column(d.start(Encoding::Scalar).column as usize),
                        )
                        .element(snippet)
                } else {
                    title.element(snippet.path(report.name.as_str()))
                }
            };
            if let Some(help) = &d.help {
                group = group.element(Level::HELP.message(help.as_str()));
            }
            out.push_str(&renderer.render(&[group]));
            out.push_str("\n\n");
        }
    }
    let (errors, warnings, infos) = counts(reports);
    let files = reports.len();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    if errors + warnings + infos == 0 {
        let _ = writeln!(out, "{} checked: no problems found", plural(files, "file"));
    } else {
        let _ = writeln!(
            out,
            "{}, {}, {} in {}",
            plural(errors, "error"),
            plural(warnings, "warning"),
            plural(infos, "note"),
            plural(files, "file")
        );
    }
    out
}

/// Longest excerpt shown around one diagnostic, in bytes; longer lines are cut around
/// the span (the location line keeps the true column).
const MAX_EXCERPT: usize = 2048;

/// The lines a diagnostic covers, cut to [`MAX_EXCERPT`] around its span, the span
/// within them, and whether they were cut: the frame costs the same whatever the size
/// of the file.
fn excerpt<'s>(
    source: &'s str,
    lines: &LineIndex,
    d: &Diagnostic,
) -> (&'s str, std::ops::Range<usize>, bool) {
    let first = lines
        .line_range(source, d.start(Encoding::Scalar).line)
        .map_or(0, |r| r.start);
    let last = lines
        .line_range(source, d.end(Encoding::Scalar).line)
        .map_or(source.len(), |r| r.end)
        .max(first);
    let span = d.span.range();
    let (mut from, mut to) = (first, last);
    if to - from > MAX_EXCERPT {
        let margin = MAX_EXCERPT / 4;
        from = span.start.saturating_sub(margin).max(first);
        to = (span.start + MAX_EXCERPT - margin)
            .min(last)
            .max(span.start);
        while !source.is_char_boundary(from) {
            from -= 1;
        }
        while !source.is_char_boundary(to) {
            to += 1;
        }
    }
    let start = span.start.clamp(from, to) - from;
    let end = span.end.clamp(from, to) - from;
    (&source[from..to], start..end, (from, to) != (first, last))
}
