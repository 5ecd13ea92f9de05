//! `import-values FILE [-o OUT]`: a values file of the postgres-highly-available Helm
//! template turned into a postgres-ha values file (the conversion is core's
//! [`postgres_ha_core::import`]; this edge reads, writes and summarises).
//!
//! The output may hold the template's password, so it is never shown where others
//! could read it: not on stderr, not on a terminal, and an output file is created
//! with mode 600 when it holds one.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::Context;
use postgres_ha_core::import::{Imported, NoteKind, import_template};

use crate::ExitStatus;
use crate::args::ImportValuesArgs;
use crate::input::{Privacy, read};
use crate::report::{report_to_stderr, write_stdout};
use crate::secrets::write_atomic;

/// Keys listed by name in the summary, per kind; the file has them all.
const LISTED: usize = 12;

pub(crate) fn run(args: &ImportValuesArgs) -> anyhow::Result<ExitStatus> {
    let output = args.output.as_deref().filter(|p| *p != Path::new("-"));
    if let Some(out) = output
        && !args.force
        && std::fs::symlink_metadata(out).is_ok()
    {
        anyhow::bail!(
            "{} exists; pass --force to replace it, or choose another -o",
            out.display()
        );
    }
    let bytes = read(&args.file, Privacy::Any)?;
    let source = display_name(&args.file);
    let imported = match import_template(&bytes) {
        Ok(imported) => imported,
        Err(error) => {
            report_to_stderr(Path::new(&source), *error.checked)?;
            let _ = writeln!(
                std::io::stderr(),
                "error: cannot import {source}: {}",
                error.message
            );
            return Ok(ExitStatus::Error);
        }
    };
    let target = if let Some(out) = output {
        write_output(out, &imported, args.force)?;
        out.display().to_string()
    } else {
        // A terminal shows what it prints, and stays in scroll-back: the password
        // goes to a file or a pipe only. (Masking would print a file whose
        // password is the mask.)
        if imported.password_carried && std::io::stdout().is_terminal() {
            anyhow::bail!(
                "the imported values hold the template's postgres.password, which is not \
                     printed on a terminal; pass -o FILE (created with mode 600) or redirect \
                     standard output"
            );
        }
        write_stdout(&imported.yaml)?;
        "the output".to_owned()
    };
    let _ = std::io::stderr().write_all(summary(&source, &target, output, &imported).as_bytes());
    Ok(ExitStatus::Success)
}

/// Creates `out` (mode 600 when it holds a password, else 644). Without `force` an
/// existing file is never replaced, even one created since the first check.
fn write_output(out: &Path, imported: &Imported, force: bool) -> anyhow::Result<()> {
    let mode = if imported.password_carried {
        0o600
    } else {
        0o644
    };
    if force {
        // A new file renamed over the old one: the mode is ours, not the old file's.
        return write_atomic(out, &imported.yaml, mode);
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    let mut file = match options.open(out) {
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            anyhow::bail!("{} exists; pass --force to replace it", out.display())
        }
        other => other.with_context(|| format!("cannot create {}", out.display()))?,
    };
    file.write_all(imported.yaml.as_bytes())
        .with_context(|| format!("cannot write {}", out.display()))
}

/// Counts, the keys that need a look, the password's fate and the next steps. Key
/// names only: no value of the file is repeated here.
fn summary(source: &str, target: &str, output: Option<&Path>, imported: &Imported) -> String {
    let mut text = format!(
        "imported {source} (postgres-highly-available, {}): {} key{} mapped, {} changed, {} \
         without an equivalent; each has an `# import:` comment in {target}\n",
        imported.layout,
        imported.count(NoteKind::Mapped),
        if imported.count(NoteKind::Mapped) == 1 {
            ""
        } else {
            "s"
        },
        imported.count(NoteKind::Changed),
        imported.count(NoteKind::NoEquivalent),
    );
    for (kind, label) in [
        (NoteKind::Changed, "changed"),
        (NoteKind::NoEquivalent, "no equivalent"),
    ] {
        let keys: Vec<&str> = imported
            .notes
            .iter()
            .filter(|n| n.kind == kind)
            .map(|n| n.key.as_str())
            .collect();
        if keys.is_empty() {
            continue;
        }
        let more = keys.len().saturating_sub(LISTED);
        let _ = writeln!(
            text,
            "  {label}: {}{}",
            keys[..keys.len().min(LISTED)].join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    let password = imported.notes.iter().find(|n| n.key == "postgres.password");
    if imported.password_carried {
        let _ = writeln!(
            text,
            "  postgres.password: carried over into {target}{}; deploy keeps it only in the \
             release's secret",
            if output.is_some() { " (mode 600)" } else { "" }
        );
    } else if password.is_some() {
        text.push_str(
            "  postgres.password: left out (a default or weak password); deploy generates a \
             strong one\n",
        );
    }
    match output {
        Some(out) => {
            let out = out.display();
            let _ = writeln!(
                text,
                "next: review the comments, then\n  cpln-postgres-ha validate {out}\n  \
                 cpln-postgres-ha deploy NAME -f {out}"
            );
        }
        None => text.push_str(
            "next: save it (-o values.yaml), review the comments, then\n  cpln-postgres-ha \
             validate values.yaml\n  cpln-postgres-ha deploy NAME -f values.yaml\n",
        ),
    }
    text
}

fn display_name(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    }
}
