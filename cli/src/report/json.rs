//! `{"files":[{"file":…,"diagnostics":[…]}]}`; diagnostic fields as in the core model.

use serde_json::json;

use super::FileReport;

pub(crate) fn render(reports: &[FileReport]) -> String {
    let files: Vec<_> = reports
        .iter()
        .map(|r| json!({"file": r.name, "diagnostics": r.checked.diagnostics}))
        .collect();
    let mut out = serde_json::to_string_pretty(&json!({ "files": files })).unwrap_or_default();
    out.push('\n');
    out
}
