//! `render NAME -f values.yaml --gvc GVC`: the release's resources for `cpln apply`.
//!
//! Every check runs before anything is written: names, values (their warnings are
//! shown too), the credentials file and its target. Only a successful render creates
//! the credentials file.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use postgres_ha_core::render::{self, Credentials, Release};
use postgres_ha_core::{CredentialsFile, check_credentials};

use crate::ExitStatus;
use crate::args::{RenderArgs, RenderFormat};
use crate::input::{Privacy, read};
use crate::report::{checked_values, report_to_stderr, write_stdout};
use crate::secrets::{random_password, write_atomic, write_private};

pub(crate) fn run(args: &RenderArgs) -> anyhow::Result<ExitStatus> {
    let release = Release {
        name: args.name.clone(),
        gvc: args.gvc.clone(),
        org: args.org.clone(),
    };
    render::check_release(&release)?;
    let bytes = read(&args.values, Privacy::Any)?;
    // Diagnostics go to stderr: stdout is for manifests only.
    let Some(values) = checked_values(&args.values, &bytes, args.strict)? else {
        return Ok(ExitStatus::Failure);
    };
    let (path, explicit) = match &args.credentials {
        Some(path) => (path.clone(), true),
        None => (default_credentials_path(&args.values, &args.name), false),
    };
    let (mut file, created) = match load(&path)? {
        Loaded::Refused => return Ok(ExitStatus::Failure),
        Loaded::File(file) => {
            check_target(&file, &release, &path, explicit)?;
            (file, false)
        }
        Loaded::Missing => (
            CredentialsFile {
                credentials: Credentials::default(),
                org: release.org.clone(),
                gvc: Some(release.gvc.clone()),
            },
            true,
        ),
    };
    // Every password a new file needs, or the etcd ones a file from before etcd had
    // authentication lacks: one generation path.
    let added = file.credentials.missing();
    for key in &added {
        file.credentials.set(*key, random_password()?);
    }
    let mut resources = render::render(&values, &release, &file.credentials)?;
    if created {
        write_private(&path, &file.to_text(), false)?;
        let _ = writeln!(
            std::io::stderr(),
            "note: generated internal passwords in {} (mode 600); keep it to re-render",
            path.display()
        );
    } else if !added.is_empty() {
        write_atomic(&path, &file.to_text(), 0o600)?;
        let _ = writeln!(
            std::io::stderr(),
            "note: added the generated {} passwords to {}",
            added
                .iter()
                .map(|k| k.role_word())
                .collect::<Vec<_>>()
                .join(" and "),
            path.display()
        );
    }
    if std::io::stdout().is_terminal() && !args.show_secrets {
        render::hide_secrets(&mut resources);
        let _ = writeln!(
            std::io::stderr(),
            "note: secret values are hidden on a terminal; pipe to `cpln apply -f -`, redirect to a file, or pass --show-secrets"
        );
    }
    write_stdout(&match args.output {
        RenderFormat::Yaml => render::to_yaml(&resources),
        RenderFormat::Json => render::to_json(&resources),
    })?;
    Ok(ExitStatus::Success)
}

/// `NAME.credentials.yaml` beside the values file (the working directory for stdin).
fn default_credentials_path(values: &Path, name: &str) -> PathBuf {
    let dir = if values == Path::new("-") {
        Path::new(".")
    } else {
        values.parent().unwrap_or(Path::new("."))
    };
    dir.join(postgres_ha_core::credentials_file_name(name))
}

enum Loaded {
    File(CredentialsFile),
    Missing,
    /// The file has problems; they were reported on stderr.
    Refused,
}

/// Reads the credentials file through the same front end as values files.
fn load(path: &Path) -> anyhow::Result<Loaded> {
    match std::fs::symlink_metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::Missing),
        _ => {}
    }
    let bytes = read(path, Privacy::OwnerOnly)?;
    let (checked, file) = check_credentials(&bytes);
    report_to_stderr(path, checked)?;
    Ok(file.map_or(Loaded::Refused, Loaded::File))
}

/// Passwords generated for one org and GVC are not reused for another unless the
/// user names the file: the same superuser password across environments is a leak
/// waiting to happen.
fn check_target(
    file: &CredentialsFile,
    release: &Release,
    path: &Path,
    explicit: bool,
) -> anyhow::Result<()> {
    let differs = |recorded: &Option<String>, wanted: Option<&String>| {
        recorded.is_some() && recorded.as_ref() != wanted
    };
    let gvc_differs = differs(&file.gvc, Some(&release.gvc));
    let org_differs = differs(&file.org, release.org.as_ref());
    if !(gvc_differs || org_differs) {
        return Ok(());
    }
    let recorded = format!(
        "GVC `{}`{}",
        file.gvc.as_deref().unwrap_or("?"),
        file.org
            .as_deref()
            .map_or_else(String::new, |o| format!(" of org `{o}`"))
    );
    let wanted = format!(
        "GVC `{}`{}",
        release.gvc,
        release
            .org
            .as_deref()
            .map_or_else(String::new, |o| format!(" of org `{o}`"))
    );
    if explicit {
        let _ = writeln!(
            std::io::stderr(),
            "note: {} was generated for {recorded}; reusing it for {wanted} as asked",
            path.display()
        );
        return Ok(());
    }
    anyhow::bail!(
        "{} holds the passwords generated for {recorded}, not {wanted}; \
         pass `--credentials FILE` with a new file to generate passwords for {wanted}, \
         or with this file to reuse them on purpose",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_sit_beside_the_values() {
        assert_eq!(
            default_credentials_path(Path::new("deploy/values.yaml"), "db"),
            Path::new("deploy/db.credentials.yaml")
        );
        assert_eq!(
            default_credentials_path(Path::new("-"), "db"),
            Path::new("./db.credentials.yaml")
        );
    }
}
