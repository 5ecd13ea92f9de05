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
