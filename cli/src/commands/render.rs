//! `render NAME -f values.yaml --gvc GVC`: the release's resources for `cpln apply`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use postgres_ha_core::render::{self, Credentials, Release};
use serde_json::Value;

use crate::ExitStatus;
use crate::args::{RenderArgs, RenderFormat};
use crate::commands::validate::read;
use crate::report::{valid_values_or_report, write_stdout};
use crate::secrets::{random_password, write_private};

pub(crate) fn run(args: &RenderArgs) -> anyhow::Result<ExitStatus> {
    let bytes = read(&args.values)?;
    // Refuse, and show why on stderr: stdout is for manifests only.
    let Some(values) = valid_values_or_report(&args.values, &bytes)? else {
        return Ok(ExitStatus::Failure);
    };
    let release = Release {
        name: args.name.clone(),
        gvc: args.gvc.clone(),
        org: args.org.clone(),
    };
    // Check names before touching the credentials file, so a typo creates nothing.
    render::check_name("release", &release.name, render::MAX_RELEASE_NAME)?;
    let path = args.credentials.clone().unwrap_or_else(|| {
        args.values
            .parent()
            .unwrap_or(Path::new("."))
            .join(format!("{}.credentials.yaml", args.name))
    });
    let credentials = load_or_create(&path)?;
    let mut resources = render::render(&values, &release, &credentials)?;
    if std::io::stdout().is_terminal() && !args.show_secrets {
        hide_secret_data(&mut resources);
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

fn hide_secret_data(resources: &mut [Value]) {
    for resource in resources.iter_mut().filter(|r| r["type"] == "dictionary") {
        if let Some(data) = resource["data"].as_object_mut() {
            for value in data.values_mut() {
                *value = Value::String("<hidden>".into());
            }
        }
    }
}

const KEYS: [&str; 4] = ["superuser", "replication", "rewind", "restapi"];

/// Reads the credentials file, or creates it with fresh random passwords.
fn load_or_create(path: &PathBuf) -> anyhow::Result<Credentials> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let map: std::collections::BTreeMap<String, String> = serde_yaml::from_str(&text)
                .with_context(|| format!("{} is not a credentials file", path.display()))?;
            let get = |key: &str| {
                map.get(key)
                    .filter(|v| !v.is_empty())
                    .cloned()
                    .with_context(|| format!("{} has no `{key}` password", path.display()))
            };
            Ok(Credentials {
                superuser: get(KEYS[0])?,
                replication: get(KEYS[1])?,
                rewind: get(KEYS[2])?,
                restapi: get(KEYS[3])?,
            })
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let credentials = Credentials {
                superuser: random_password()?,
                replication: random_password()?,
                rewind: random_password()?,
                restapi: random_password()?,
            };
            let text = format!(
                "# Generated passwords of postgres-ha's internal roles. Keep this file private\n\
                 # and with your values: re-rendering must reuse them.\n\
                 superuser: {}\nreplication: {}\nrewind: {}\nrestapi: {}\n",
                credentials.superuser,
                credentials.replication,
                credentials.rewind,
                credentials.restapi
            );
            write_private(path, &text, false)?;
            let _ = writeln!(
                std::io::stderr(),
                "note: generated internal passwords in {} (mode 600); keep it to re-render",
                path.display()
            );
            Ok(credentials)
        }
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}
