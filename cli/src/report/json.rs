//! `{"files":[{"file":…,"diagnostics":[…]}]}`; diagnostic fields as in the core model.

use postgres_ha_core::Encoding;
use serde_json::json;

use super::FileReport;

/// Columns count `encoding`'s units.
pub(crate) fn render(reports: &[FileReport], encoding: Encoding) -> String {
    let files: Vec<_> = reports
        .iter()
        .map(|r| {
            let diagnostics: Vec<_> = r
                .checked
                .diagnostics
                .iter()
                .map(|d| d.in_encoding(encoding))
                .collect();
            json!({"file": r.name, "diagnostics": diagnostics})
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&json!({ "files": files })).unwrap_or_default();
    out.push('\n');
    out
}
