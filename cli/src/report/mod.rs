//! Output formats for `validate`: one module each, all fed the same reports.

use std::io::Write;

use postgres_ha_core::{Checked, Severity};

pub(crate) mod github;
pub(crate) mod human;
pub(crate) mod json;
pub(crate) mod sarif;

/// One checked file, as every format receives it.
pub(crate) struct FileReport {
    pub(crate) name: String,
    pub(crate) checked: Checked,
}

/// Writes to stdout; a closed pipe surfaces as an error the caller treats as success.
pub(crate) fn write_stdout(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Whether to colour output for a stream: a terminal, `NO_COLOR` unset or empty, and
/// not a `dumb` terminal.
pub(crate) fn color_for(is_terminal: bool) -> bool {
    is_terminal
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// Checks a values file for a command that needs valid values. Every diagnostic —
/// warnings too — goes to stderr (stdout stays for the command's own output); the
/// typed values come back when there are no errors (and no warnings with `strict`).
pub(crate) fn checked_values(
    name: &std::path::Path,
    bytes: &[u8],
    strict: bool,
) -> std::io::Result<Option<postgres_ha_core::Values>> {
    let checked = postgres_ha_core::check(bytes);
    let refused =
        checked.has_errors() || (strict && checked.max_severity() == Some(Severity::Warning));
    let values = if refused {
        None
    } else {
        checked.values.clone()
    };
    report_to_stderr(name, checked)?;
    Ok(values)
}

/// Writes one file's diagnostics to stderr in human form (nothing when it has none).
pub(crate) fn report_to_stderr(name: &std::path::Path, checked: Checked) -> std::io::Result<()> {
    if checked.diagnostics.is_empty() {
        return Ok(());
    }
    let color = color_for(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let report = FileReport {
        name: name.display().to_string(),
        checked,
    };
    std::io::stderr().write_all(human::render(&[report], color).as_bytes())
}

/// Counts by severity: (errors, warnings, infos).
pub(crate) fn counts(reports: &[FileReport]) -> (usize, usize, usize) {
    let mut counts = (0, 0, 0);
    for d in reports.iter().flat_map(|r| &r.checked.diagnostics) {
        match d.severity {
            Severity::Error => counts.0 += 1,
            Severity::Warning => counts.1 += 1,
            Severity::Info => counts.2 += 1,
        }
    }
    counts
}
