//! Rendering: values → the Control Plane resources of one release.
//!
//! Pure and deterministic: the same values, release and credentials always give the
//! same resources, in apply order (secret → identity → volumeset → policy → workload),
//! with only the fields the API stores, so a later deploy can compare without drift.

use std::fmt;

use serde_json::Value;

use crate::values::Values;

pub(crate) mod etcd;
pub(crate) mod lint;
pub(crate) mod patroni;
mod resources;
pub(crate) mod scripts;

// What the targets' edges use: Patroni's configuration and the internal credentials,
// etcd's names and authentication plan, the scripts the local target runs as well.
pub use etcd::{
    AuthStep, EtcdUser, PATRONI_USER as ETCD_PATRONI_USER, ROOT_USER as ETCD_ROOT_USER,
    already_done, auth_steps, leader_key, member_key,
};
pub use lint::lint;
pub use patroni::{
    APP_DATABASE_ENV, APP_USERNAME_ENV, CredentialKey, PASSWORD_ENV, RESTAPI_USER, SUPERUSER,
    Topology, etcd_env, insert_passwords, patroni_config,
};
pub use resources::Names;
pub use scripts::{MEMBER_HOME, PGDATA, before_stop, post_bootstrap};

/// PostgreSQL's port in a member's container on Control Plane.
pub const POSTGRES_PORT: u16 = 5432;
/// Patroni's REST API port in a member's container on Control Plane.
pub const PATRONI_PORT: u16 = 8008;

/// Which release, where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    /// Release name; every resource name derives from it.
    pub name: String,
    pub gvc: String,
    pub org: Option<String>,
}

/// The generated passwords of the internal roles and etcd users, by key. They are
/// inputs, not generated here, so that rendering stays pure and repeatable; the caller
/// keeps them stable.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    passwords: std::collections::BTreeMap<patroni::CredentialKey, String>,
}

impl Credentials {
    /// Every internal password, from `password`.
    pub fn from_fn(mut password: impl FnMut(patroni::CredentialKey) -> String) -> Self {
        Self {
            passwords: patroni::CredentialKey::INTERNAL
                .into_iter()
                .map(|key| (key, password(key)))
                .collect(),
        }
    }

    /// The password behind one key; the application password is not held here.
    #[must_use]
    pub fn get(&self, key: patroni::CredentialKey) -> Option<&str> {
        self.passwords.get(&key).map(String::as_str)
    }

    /// Sets one password.
    pub fn set(&mut self, key: patroni::CredentialKey, password: String) {
        self.passwords.insert(key, password);
    }

    /// The internal keys that have no password.
    #[must_use]
    pub fn missing(&self) -> Vec<patroni::CredentialKey> {
        patroni::CredentialKey::INTERNAL
            .into_iter()
            .filter(|key| self.get(*key).is_none_or(str::is_empty))
            .collect()
    }
}

impl Credentials {
    /// The passwords a credentials secret holds (its `data`, as revealed), and the
    /// application's: what a later deploy keeps rather than generate anew.
    #[must_use]
    pub fn from_secret_data(data: &Value) -> (Self, Option<String>) {
        let text = |key: patroni::CredentialKey| {
            data[key.secret_key()]
                .as_str()
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
        };
        let mut credentials = Self::default();
        for key in patroni::CredentialKey::INTERNAL {
            if let Some(password) = text(key) {
                credentials.set(key, password);
            }
        }
        (credentials, text(patroni::CredentialKey::App))
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials { .. }")
    }
}

pub use crate::limits::{MAX_REPLICA_DIRECT, MAX_WORKLOAD_NAME};

/// Suffixes of the workloads a release creates; the longest bounds the release name.
pub const WORKLOAD_SUFFIXES: [&str; 3] = ["-postgres", "-etcd", "-proxy"];
/// Longest release name: keeps every derived workload name within the limit.
pub const MAX_RELEASE_NAME: usize = MAX_WORKLOAD_NAME - WORKLOAD_SUFFIXES[0].len();

/// Why a render was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RenderError {
    /// The release, GVC or org name is not a valid Control Plane name.
    InvalidName {
        what: &'static str,
        name: String,
        reason: String,
    },
    /// A generated password is empty.
    EmptyCredential(&'static str),
    /// More members than Control Plane allows for a replica-direct workload.
    TooManyReplicas { what: &'static str, count: u32 },
    /// The rendered resources broke a platform constraint: a defect in postgres-ha.
    Lint(Vec<String>),
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName { what, name, reason } => {
                write!(f, "invalid {what} name `{name}`: {reason}")
            }
            Self::EmptyCredential(which) => write!(f, "the generated {which} password is empty"),
            Self::TooManyReplicas { what, count } => write!(
                f,
                "{what} is {count}, but Control Plane caps replica-direct workloads at \
                 {MAX_REPLICA_DIRECT} replicas (and orgs default to 5 per workload)"
            ),
            Self::Lint(problems) => write!(
                f,
                "the rendered resources break Control Plane constraints (a postgres-ha defect): {}",
                problems.join("; ")
            ),
        }
    }
}

impl std::error::Error for RenderError {}

/// Checks a Control Plane name: lower-case letters, digits and `-`, starting with a
/// letter and not ending with `-`.
pub fn check_name(what: &'static str, name: &str, max: usize) -> Result<(), RenderError> {
    let invalid = |reason: String| RenderError::InvalidName {
        what,
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("it is empty".into()));
    }
    if name.len() > max {
        return Err(invalid(format!(
            "it has {} characters; the limit is {max}",
            name.len()
        )));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(invalid("it must start with a lower-case letter".into()));
    }
    if name.ends_with('-') {
        return Err(invalid("it must not end with `-`".into()));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(invalid(format!(
            "`{bad}` is not allowed; use lower-case letters, digits and `-`"
        )));
    }
    Ok(())
}

/// The DNS name of replica `index` of a replica-direct workload in `location` of
/// `gvc`: the one pattern every member address, peer list and proxy backend uses.
/// `index` and `location` may be literal or placeholders a script fills in.
#[must_use]
pub fn replica_host(index: &str, workload: &str, location: &str, gvc: &str) -> String {
    format!("replica-{index}.{workload}.{location}.{gvc}.cpln.local")
}

/// The GVC-internal DNS name of a workload (its load-balanced service).
#[must_use]
pub fn service_host(workload: &str, gvc: &str) -> String {
    format!("{workload}.{gvc}.cpln.local")
}

/// Longest GVC or org name Control Plane accepts.
pub const MAX_GVC_OR_ORG_NAME: usize = crate::limits::MAX_NAME;

/// Checks the release, GVC and org names: everything a render needs besides values.
pub fn check_release(release: &Release) -> Result<(), RenderError> {
    check_name("release", &release.name, MAX_RELEASE_NAME)?;
    check_name("GVC", &release.gvc, MAX_GVC_OR_ORG_NAME)?;
    if let Some(org) = &release.org {
        check_name("org", org, MAX_GVC_OR_ORG_NAME)?;
    }
    Ok(())
}

/// Renders the resources of `release` from validated `values`.
pub fn render(
    values: &Values,
    release: &Release,
    credentials: &Credentials,
) -> Result<Vec<Value>, RenderError> {
    check_release(release)?;
    if let Some(key) = credentials.missing().first() {
        return Err(RenderError::EmptyCredential(key.role_word()));
    }
    for (what, count) in [
        ("replicas", values.replicas),
        ("etcd.replicas", values.etcd.replicas),
    ] {
        if count > MAX_REPLICA_DIRECT {
            return Err(RenderError::TooManyReplicas { what, count });
        }
    }
    let rendered = resources::resources(values, release, credentials);
    let problems = lint::lint(&rendered);
    if problems.is_empty() {
        Ok(rendered)
    } else {
        Err(RenderError::Lint(problems))
    }
}

/// What stands in for a secret's data wherever it is not to be shown.
pub const HIDDEN: &str = "<hidden>";

/// Replaces every secret's data with [`HIDDEN`]: rendered resources for a terminal
/// or a preview.
pub fn hide_secrets(resources: &mut [Value]) {
    for resource in resources.iter_mut().filter(|r| r["type"] == "dictionary") {
        if let Some(data) = resource["data"].as_object_mut() {
            for value in data.values_mut() {
                *value = Value::String(HIDDEN.into());
            }
        }
    }
}

/// Multi-document YAML that `cpln apply -f` accepts.
#[must_use]
pub fn to_yaml(resources: &[Value]) -> String {
    let mut out = String::new();
    for resource in resources {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(resource).unwrap_or_default());
    }
    out
}

/// A JSON array of the resources (`cpln apply` flattens a top-level array).
#[must_use]
pub fn to_json(resources: &[Value]) -> String {
    let mut out = serde_json::to_string_pretty(resources).unwrap_or_default();
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_control_plane_rules() {
        assert!(check_name("release", "db", 40).is_ok());
        assert!(check_name("release", "my-db-2", 40).is_ok());
        for bad in ["", "Db", "1db", "db-", "db_1", "db.1", &"a".repeat(41)] {
            assert!(check_name("release", bad, 40).is_err(), "{bad}");
        }
        assert_eq!(
            MAX_RELEASE_NAME + WORKLOAD_SUFFIXES[0].len(),
            MAX_WORKLOAD_NAME
        );
        assert!(
            WORKLOAD_SUFFIXES
                .iter()
                .all(|s| s.len() <= WORKLOAD_SUFFIXES[0].len())
        );
    }

    #[test]
    fn names_list_every_resource_a_render_makes() {
        let release = Release {
            name: "db".into(),
            gvc: "prod".into(),
            org: None,
        };
        let credentials = Credentials::from_fn(|_| "x".repeat(32));
        let rendered = render(&Values::default(), &release, &credentials).unwrap();
        let names = Names::new("db");
        let listed = names.resources();
        for resource in &rendered {
            let kind = crate::cpln::Kind::parse(resource["kind"].as_str().unwrap()).unwrap();
            let name = resource["name"].as_str().unwrap();
            assert!(listed.contains(&(kind, name)), "{kind} {name}");
        }
        assert_eq!(listed.len(), rendered.len());
        // The credentials' data holds every password a deploy keeps.
        let (kept, app) = Credentials::from_secret_data(&rendered[0]["data"]);
        assert!(kept.missing().is_empty());
        assert_eq!(app.as_deref(), Some("password"));
    }
}
