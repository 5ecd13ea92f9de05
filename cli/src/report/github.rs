//! GitHub Actions workflow commands (`::error file=…,line=…::message`).

use std::fmt::Write;

use postgres_ha_core::{Encoding, Severity};

use super::FileReport;

pub(crate) fn render(reports: &[FileReport]) -> String {
    let mut out = String::new();
    for report in reports {
        for d in &report.checked.diagnostics {
            let command = match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "notice",
            };
            let mut message = d.message.clone();
            if let Some(help) = &d.help {
                message.push_str("\nhelp: ");
                message.push_str(help);
            }
            let _ = writeln!(
                out,
                "::{command} file={},line={},col={},endLine={},endColumn={},title={}::{}",
                escape_property(&report.name),
                d.start(Encoding::Scalar).line,
                d.start(Encoding::Scalar).column,
                d.end(Encoding::Scalar).line,
                d.end(Encoding::Scalar).column,
                escape_property(&format!("{} {}", d.code.as_str(), d.code.name())),
                escape_data(&message)
            );
        }
    }
    out
}

/// Escaping of a command's message, as the Actions runner decodes it.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escaping of a property value, which also may not contain `:` or `,`.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_per_runner_rules() {
        assert_eq!(escape_data("50%\na"), "50%25%0Aa");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
    }
}
