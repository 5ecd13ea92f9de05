//! `validate [FILES…]`: check values files and report in the chosen format.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use postgres_ha_core::{Checked, Code, Severity, check};

use crate::ExitStatus;
use crate::args::{ColorChoice, Format, ValidateArgs};
use crate::input::{Privacy, read};
use crate::report::{self, FileReport};

pub(crate) fn run(args: &ValidateArgs) -> anyhow::Result<ExitStatus> {
    let files = if args.files.is_empty() {
        let default = PathBuf::from("values.yaml");
        anyhow::ensure!(
            default.exists(),
            "no values file given and ./values.yaml does not exist; pass FILES or `-` for standard input"
        );
        vec![default]
    } else {
        args.files.clone()
    };
    let mut reports = Vec::with_capacity(files.len());
    let mut unreadable = false;
    for path in &files {
        // A credentials file is checked as `render` reads it, so validate reports
        // first whatever render would refuse.
        let credentials = path
            .to_str()
            .is_some_and(|p| p.ends_with(postgres_ha_core::CREDENTIALS_FILE_SUFFIX));
        let privacy = if credentials {
            Privacy::OwnerOnly
        } else {
            Privacy::Any
        };
        let checked = match read(path, privacy) {
            Ok(bytes) if credentials => postgres_ha_core::check_credentials(&bytes).0,
            Ok(bytes) => check(&bytes),
            // Reported like any other problem, in every format; the other files are
            // still checked and the run ends with status 2.
            Err(error) => {
                unreadable = true;
                Checked::refused(
                    Code::FileUnreadable,
                    &error.to_string(),
                    "pass a readable values file, or `-` for standard input",
                )
            }
        };
        reports.push(FileReport {
            name: display_name(path),
            checked,
        });
    }
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => report::color_for(std::io::stdout().is_terminal()),
    };
    let out = match args.format {
        Format::Human => report::human::render(&reports, color),
        Format::Json => report::json::render(&reports, args.position_encoding),
        Format::Sarif => report::sarif::render(&reports),
        Format::Github => report::github::render(&reports),
    };
    report::write_stdout(&out)?;
    if unreadable {
        return Ok(ExitStatus::Error);
    }
    let fails = |s: Severity| s == Severity::Error || (args.strict && s == Severity::Warning);
    let failed = reports
        .iter()
        .flat_map(|r| &r.checked.diagnostics)
        .any(|d| fails(d.severity));
    Ok(if failed {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

fn display_name(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    }
}
