//! rustc-style code frames, via annotate-snippets (the renderer rustc itself uses).

use std::fmt::Write;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use postgres_ha_core::Severity;

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
        for d in &report.checked.diagnostics {
            let level = match d.severity {
                Severity::Error => Level::ERROR,
                Severity::Warning => Level::WARNING,
                Severity::Info => Level::INFO,
            };
            let location = format!("{}:{}:{}", report.name, d.start.line, d.start.column);
            let mut group = if source.is_empty() {
                // Nothing to show (an oversized file): name the place only.
                Group::with_title(
                    level
                        .primary_title(format!("{} ({location})", d.message))
                        .id(d.code.as_str()),
                )
            } else {
                level
                    .primary_title(d.message.as_str())
                    .id(d.code.as_str())
                    .element(
                        Snippet::source(source)
                            .path(report.name.as_str())
                            .annotation(AnnotationKind::Primary.span(d.span.range())),
                    )
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
