//! `validate [FILES…]`: check values files and report in the chosen format.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::Context;
use postgres_ha_core::{Severity, check};

use crate::ExitStatus;
use crate::args::{ColorChoice, Format, ValidateArgs};
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
    let mut unreadable = Vec::new();
    for path in &files {
        match read(path) {
            Ok(bytes) => reports.push(FileReport {
                name: display_name(path),
                checked: check(&bytes),
            }),
            // Keep checking the other files; the run still ends with status 2.
            Err(error) => unreadable.push(format!("{error:#}")),
        }
    }
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => report::color_for(std::io::stdout().is_terminal()),
    };
    let out = match args.format {
        Format::Human => report::human::render(&reports, color),
        Format::Json => report::json::render(&reports),
        Format::Sarif => report::sarif::render(&reports),
        Format::Github => report::github::render(&reports),
    };
    report::write_stdout(&out)?;
    if !unreadable.is_empty() {
        anyhow::bail!(unreadable.join("\nerror: "));
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

pub(crate) fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    // Read one byte past the limit so an oversized file is reported, not loaded whole.
    let limit = postgres_ha_core::yaml::MAX_BYTES as u64 + 1;
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?;
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(limit).read_to_end(&mut bytes))
            .with_context(|| format!("cannot read {}", path.display()))?;
    }
    Ok(bytes)
}

fn display_name(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    }
}
