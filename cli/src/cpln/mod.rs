//! The Control Plane target's edge: reading the cpln CLI's profile store and the
//! environment, and the API client. What to send is decided in core (`cpln`).

mod client;
mod exec;
mod transport;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use postgres_ha_core::cpln::{
    Asked, Context, Credential, Place, Profile, Store, needs_refresh, resolve,
};

pub(crate) use client::Api;
pub(crate) use transport::ControlPlane;

use crate::args::ControlPlaneArgs;

/// A profile file larger than this is not the cpln CLI's.
const MAX_PROFILE_BYTES: u64 = 1 << 20;

/// Everything a command needs to call the API for a release.
#[derive(Clone)]
pub(crate) struct Connection {
    pub(crate) api: Api,
    pub(crate) place: Place,
}

/// Chooses org, GVC, endpoint and credential (flags, environment, profile) and opens
/// the API with them. A GVC is required.
pub(crate) fn connect(args: &ControlPlaneArgs) -> anyhow::Result<Connection> {
    let flags = Asked {
        token: args.token.clone(),
        profile: args.profile.clone(),
        org: args.org.clone(),
        gvc: args.gvc.clone(),
        endpoint: args.endpoint.clone(),
    };
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let env = Asked {
        token: var("CPLN_TOKEN"),
        profile: var("CPLN_PROFILE"),
        org: var("CPLN_ORG"),
        gvc: var("CPLN_GVC"),
        endpoint: var("CPLN_ENDPOINT"),
    };
    let store = read_store(&store_root())?;
    let context = resolve(&flags, &env, &store)?;
    let gvc = context
        .gvc
        .clone()
        .ok_or_else(|| anyhow::anyhow!("no GVC: pass --gvc or set CPLN_GVC"))?;
    let token = token(&context)?;
    Ok(Connection {
        api: Api::new(&context.endpoint, &token)?,
        place: Place {
            org: context.org,
            gvc,
        },
    })
}

/// The token to send. A browser login's access token near expiry is renewed by the
/// cpln CLI itself (`cpln profile token`), which owns that login.
fn token(context: &Context) -> anyhow::Result<String> {
    match &context.credential {
        Credential::Token(token) => Ok(token.clone()),
        Credential::Login { access, .. } => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            if !needs_refresh(access, now) {
                return Ok(access.clone());
            }
            let profile = context.profile.clone().unwrap_or_default();
            let output = std::process::Command::new("cpln")
                .args(["profile", "token", &profile])
                .stdin(std::process::Stdio::null())
                .output()
                .with_context(|| {
                    format!(
                        "the login of cpln profile `{profile}` has expired and renewing it \
                         needs the cpln CLI (`cpln profile token {profile}`); install it, \
                         or pass a service-account key in CPLN_TOKEN"
                    )
                })?;
            let fresh = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            anyhow::ensure!(
                output.status.success() && !fresh.is_empty(),
                "`cpln profile token {profile}` could not renew the login; run `cpln login`"
            );
            Ok(fresh)
        }
    }
}

/// Where the cpln CLI keeps profiles: `$CPLN_HOME`, else `$XDG_CONFIG_HOME/cpln`,
/// else `~/.config/cpln`.
fn store_root() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(home) = var("CPLN_HOME") {
        return PathBuf::from(home);
    }
    if let Some(config) = var("XDG_CONFIG_HOME") {
        return PathBuf::from(config).join("cpln");
    }
    PathBuf::from(var("HOME").unwrap_or_default())
        .join(".config")
        .join("cpln")
}

/// Reads `ROOT/profiles/*.json` and `ROOT/profiles/default` (a profile name). A
/// missing store is an empty one: a token may be enough.
fn read_store(root: &Path) -> anyhow::Result<Store> {
    let dir = root.join("profiles");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Store::default());
        }
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read {}", dir.display()));
        }
    };
    let mut store = Store::default();
    for entry in entries {
        let path = entry?.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"))
        else {
            continue;
        };
        let text = read_small(&path)?;
        store.profiles.push(Profile::from_json(name, &text)?);
    }
    store.profiles.sort_by(|a, b| a.name.cmp(&b.name));
    let default = dir.join("default");
    if default.exists() {
        store.default = Some(read_small(&default)?.trim().to_owned()).filter(|n| !n.is_empty());
    }
    Ok(store)
}

fn read_small(path: &Path) -> anyhow::Result<String> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    anyhow::ensure!(
        size <= MAX_PROFILE_BYTES,
        "{} is {size} bytes, too large for a cpln profile",
        path.display()
    );
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_is_read_as_the_cpln_cli_writes_it() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_store(dir.path()).unwrap().profiles.is_empty());
        let profiles = dir.path().join("profiles");
        std::fs::create_dir(&profiles).unwrap();
        std::fs::write(
            profiles.join("work.json"),
            r#"{"name":"work","context":{"org":"acme","gvc":"prod"},
                "request":{"endpoint":"https://api.cpln.io","token":"s.abc"}}"#,
        )
        .unwrap();
        std::fs::write(profiles.join("home.json"), r#"{"name":"home"}"#).unwrap();
        std::fs::write(profiles.join("default"), "work").unwrap();
        std::fs::write(profiles.join("notes.txt"), "ignored").unwrap();
        let store = read_store(dir.path()).unwrap();
        assert_eq!(store.profiles.len(), 2);
        assert_eq!(store.default.as_deref(), Some("work"));
        let work = &store.profiles[1];
        assert_eq!(
            (work.org.as_deref(), work.gvc.as_deref()),
            (Some("acme"), Some("prod"))
        );
        std::fs::write(profiles.join("bad.json"), "{").unwrap();
        assert!(read_store(dir.path()).is_err());
    }
}
