//! The one Patroni configuration generator, shared by Control Plane and the local
//! cluster. Only the [`Topology`] (addresses, paths, networks) differs by target.
//!
//! No password is ever written here: Patroni reads them from `PATRONI_SUPERUSER_PASSWORD`,
//! `PATRONI_REPLICATION_PASSWORD`, `PATRONI_REWIND_PASSWORD` and
//! `PATRONI_RESTAPI_PASSWORD`, which the platform (or the local supervisor) sets from
//! secrets. The configuration can therefore live in any file without leaking them.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use crate::values::{ParameterValue, Values};

/// Role names postgres-ha creates besides the application role.
pub const SUPERUSER: &str = "postgres";
pub(crate) const REPLICATION_USER: &str = "replicator";
pub(crate) const REWIND_USER: &str = "rewind_user";
pub const RESTAPI_USER: &str = "patroni";

/// Environment variables that carry each password to Patroni and the bootstrap script.
pub const PASSWORD_ENV: [(&str, CredentialKey); 6] = [
    ("PATRONI_SUPERUSER_PASSWORD", CredentialKey::Superuser),
    ("PATRONI_REPLICATION_PASSWORD", CredentialKey::Replication),
    ("PATRONI_REWIND_PASSWORD", CredentialKey::Rewind),
    ("PATRONI_RESTAPI_PASSWORD", CredentialKey::RestApi),
    ("PATRONI_ETCD3_PASSWORD", CredentialKey::EtcdPatroni),
    ("APP_PASSWORD", CredentialKey::App),
];

/// Environment variables that carry the etcd passwords to an etcd member (which sets
/// up authentication).
pub(crate) const ETCD_PASSWORD_ENV: [(&str, CredentialKey); 2] = [
    ("ETCD_ROOT_PASSWORD", CredentialKey::EtcdRoot),
    ("PATRONI_ETCD3_PASSWORD", CredentialKey::EtcdPatroni),
];

/// Patroni's etcd user and protocol, from the environment: Patroni reads
/// `PATRONI_ETCD3_PASSWORD` only when another `PATRONI_ETCD3_*` setting is present.
#[must_use]
pub fn etcd_env() -> [(&'static str, &'static str); 2] {
    [
        ("PATRONI_ETCD3_PROTOCOL", "http"),
        ("PATRONI_ETCD3_USERNAME", super::etcd::PATRONI_USER),
    ]
}

/// How long Patroni keeps the replication slot of a member that left: long enough
/// for a restart, short enough that a removed member's slot stops pinning WAL.
/// `scale` sets it to 0 while it removes members and back to this afterwards.
pub(crate) const MEMBER_SLOTS_TTL: &str = "10min";

/// The replication slot Patroni keeps for `member` on the leader, by Patroni's rule
/// (`slot_name_from_member_name`): lower case, `-` and `.` as `_`, any other character
/// outside `[a-z0-9_]` as `u` and its code point in four digits, at most 63 bytes.
#[must_use]
pub(crate) fn slot_name(member: &str) -> String {
    let mut name = String::new();
    for c in member.to_lowercase().chars() {
        match c {
            'a'..='z' | '0'..='9' | '_' => name.push(c),
            '-' | '.' => name.push('_'),
            other => {
                let _ = write!(name, "u{:04}", u32::from(other));
            }
        }
    }
    name.truncate(63);
    name
}

/// Environment variables that carry the application role's name and database to the
/// bootstrap script.
pub const APP_USERNAME_ENV: &str = "APP_USERNAME";
pub const APP_DATABASE_ENV: &str = "APP_DATABASE";

/// Where each password Patroni reads sits in its configuration file. The generator
/// never writes them; a target that rotates passwords with a reload (the local
/// cluster) adds them with [`insert_passwords`], since Patroni lets the environment
/// it started with override the file on every reload.
pub(crate) const CONFIG_PASSWORD_PATHS: [(CredentialKey, &[&str]); 4] = [
    (
        CredentialKey::Superuser,
        &["postgresql", "authentication", "superuser", "password"],
    ),
    (
        CredentialKey::Replication,
        &["postgresql", "authentication", "replication", "password"],
    ),
    (
        CredentialKey::Rewind,
        &["postgresql", "authentication", "rewind", "password"],
    ),
    (
        CredentialKey::RestApi,
        &["restapi", "authentication", "password"],
    ),
];

/// Writes the passwords into a generated configuration (at the paths in `CONFIG_PASSWORD_PATHS`).
pub fn insert_passwords(config: &mut Value, credentials: &super::Credentials) {
    for (key, path) in CONFIG_PASSWORD_PATHS {
        if let Some(password) = credentials.get(key) {
            crate::check::set_path(config, path, json!(password));
        }
    }
}

/// Which password an environment variable carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CredentialKey {
    App,
    Superuser,
    Replication,
    Rewind,
    RestApi,
    /// etcd's administrative user.
    EtcdRoot,
    /// The etcd user Patroni connects as, limited to the cluster's keys.
    EtcdPatroni,
}

impl CredentialKey {
    /// The passwords postgres-ha generates (every one but the application's).
    pub const INTERNAL: [CredentialKey; 6] = [
        Self::Superuser,
        Self::Replication,
        Self::Rewind,
        Self::RestApi,
        Self::EtcdRoot,
        Self::EtcdPatroni,
    ];

    /// Passwords a credentials file written before etcd had authentication lacks; they
    /// are generated and added to it.
    pub const ADDED_LATER: [CredentialKey; 2] = [Self::EtcdRoot, Self::EtcdPatroni];

    /// The key of this password in the credentials dictionary secret and in the
    /// credentials file.
    #[must_use]
    pub fn secret_key(self) -> &'static str {
        match self {
            Self::App => "password",
            Self::Superuser => "superuser-password",
            Self::Replication => "replication-password",
            Self::Rewind => "rewind-password",
            Self::RestApi => "restapi-password",
            Self::EtcdRoot => "etcd-root-password",
            Self::EtcdPatroni => "etcd-patroni-password",
        }
    }

    /// The key credentials files used before they named keys like the secret does.
    #[must_use]
    pub fn legacy_file_key(self) -> Option<&'static str> {
        match self {
            Self::App | Self::EtcdRoot | Self::EtcdPatroni => None,
            Self::Superuser => Some("superuser"),
            Self::Replication => Some("replication"),
            Self::Rewind => Some("rewind"),
            Self::RestApi => Some("restapi"),
        }
    }

    /// The role or service the password belongs to, for messages.
    #[must_use]
    pub fn role_word(self) -> &'static str {
        match self {
            Self::App => "application",
            Self::Superuser => "superuser",
            Self::Replication => "replication",
            Self::Rewind => "rewind",
            Self::RestApi => "REST API",
            Self::EtcdRoot => "etcd root",
            Self::EtcdPatroni => "etcd Patroni",
        }
    }
}

/// Where one member lives: everything that differs between targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    /// Patroni cluster name (the release).
    pub scope: String,
    /// Member name; on Control Plane a placeholder the start-up script fills in.
    pub name: String,
    pub restapi_listen: String,
    pub restapi_connect: String,
    pub postgres_listen: String,
    pub postgres_connect: String,
    /// etcd client endpoints, `host:port`.
    pub etcd_hosts: Vec<String>,
    pub data_dir: String,
    /// Directory of the PostgreSQL binaries, when they are not on `PATH`.
    pub bin_dir: Option<String>,
    pub pgpass: String,
    /// Directory for the Unix socket, when the default is not writable.
    pub socket_dir: Option<String>,
    /// Networks clients and replicas connect from (`pg_hba` host lines).
    pub client_networks: Vec<String>,
    /// The post-bootstrap script that creates the application role and database.
    pub post_bootstrap: String,
    /// Patroni's `before_stop` command ([`super::scripts::before_stop`]), which makes
    /// this tool's switchovers hand over without Patroni's one-second poll.
    pub before_stop: Option<String>,
}

/// How `postgres.parameters` may change a parameter the generator sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Override {
    /// Never: replication, failover or login depends on the generator's value.
    Never,
    /// Only to one of these values.
    Choices(&'static [&'static str]),
    /// To at least the member count plus this many (a new member's base backup
    /// needs connections of its own while the others stream).
    AtLeastMembersPlus(u32),
    /// Freely.
    Free,
}

/// One parameter the generator sets: its name, its value, and what users may do.
pub(crate) struct GeneratedParameter {
    pub name: &'static str,
    value: fn(&Values) -> Value,
    pub user: Override,
}

/// Every parameter the generator sets, with the rule for overriding it: the one list
/// both the generator and validation read.
pub(crate) const GENERATED_PARAMETERS: &[GeneratedParameter] = &[
    GeneratedParameter {
        name: "wal_level",
        value: |_| json!("replica"),
        user: Override::Choices(&["replica", "logical"]),
    },
    GeneratedParameter {
        name: "hot_standby",
        value: |_| json!("on"),
        user: Override::Never,
    },
    // pg_rewind needs hint bits logged (checksums are on too; both are cheap).
    GeneratedParameter {
        name: "wal_log_hints",
        value: |_| json!("on"),
        user: Override::Never,
    },
    GeneratedParameter {
        name: "max_wal_senders",
        value: |v| json!(v.replicas + 4),
        user: Override::AtLeastMembersPlus(2),
    },
    GeneratedParameter {
        name: "max_replication_slots",
        value: |v| json!(v.replicas + 4),
        user: Override::AtLeastMembersPlus(2),
    },
    GeneratedParameter {
        name: "wal_keep_size",
        value: |_| json!("256MB"),
        user: Override::Free,
    },
    // A member that stays away keeps its slot, and the slot keeps WAL until the
    // volume is full and the primary stops. A quarter of the volume bounds it: past
    // that the slot is given up (that member then needs `reinit`), not the primary.
    GeneratedParameter {
        name: "max_slot_wal_keep_size",
        value: |v| json!(format!("{}MB", u64::from(v.volumeset.capacity) * 1024 / 4)),
        user: Override::Free,
    },
    // pg_hba.conf is SCRAM-only: an md5 hash could never be used to log in.
    GeneratedParameter {
        name: "password_encryption",
        value: |_| json!("scram-sha-256"),
        user: Override::Never,
    },
    // Replicas retry streaming every second, not every five, after a failover.
    GeneratedParameter {
        name: "wal_retrieve_retry_interval",
        value: |_| json!("1s"),
        user: Override::Free,
    },
    // A synchronous commit waits for the standby's reply. After a failover one commit
    // sometimes waited exactly 10 s in SyncRep while the standby streamed (most
    // likely a missed walsender wake-up); the standby's next status message ends the
    // wait, so its interval bounds the stall. 0 would end replies, and sync commits.
    GeneratedParameter {
        name: "wal_receiver_status_interval",
        value: |_| json!("1s"),
        user: Override::Never,
    },
];

/// Parameters Patroni itself sets on every member (from its own configuration), or
/// that point at files and addresses it owns: overriding them breaks it.
pub(crate) const PATRONI_PARAMETERS: &[&str] = &[
    "archive_command",
    "cluster_name",
    "config_file",
    "data_directory",
    "hba_file",
    "ident_file",
    "listen_addresses",
    "port",
    "primary_conninfo",
    "primary_slot_name",
    "recovery_target",
    "recovery_target_action",
    "recovery_target_inclusive",
    "recovery_target_lsn",
    "recovery_target_name",
    "recovery_target_time",
    "recovery_target_timeline",
    "recovery_target_xid",
    "restore_command",
    "synchronous_standby_names",
    "unix_socket_directories",
];

/// How users may override parameter `name` (any case): `None` when postgres-ha does
/// not set it.
#[must_use]
pub(crate) fn parameter_override(name: &str) -> Option<Override> {
    let name = name.to_ascii_lowercase();
    if PATRONI_PARAMETERS.contains(&name.as_str()) {
        return Some(Override::Never);
    }
    GENERATED_PARAMETERS
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.user)
}

/// Parameters Patroni gets: the generated ones, then the user's (under PostgreSQL's
/// own spelling of each name, so `WAL_LEVEL` cannot sit beside `wal_level`).
fn parameters(values: &Values) -> Map<String, Value> {
    let mut parameters = Map::new();
    for generated in GENERATED_PARAMETERS {
        parameters.insert(generated.name.into(), (generated.value)(values));
    }
    for (key, value) in &values.postgres.parameters {
        let value = match value {
            ParameterValue::Bool(b) => json!(if *b { "on" } else { "off" }),
            ParameterValue::Number(n) => json!(n),
            ParameterValue::String(s) => json!(s),
        };
        let name = crate::pg_parameters::canonical_name(key).unwrap_or(key);
        parameters.insert(name.to_owned(), value);
    }
    parameters
}

/// `pg_hba.conf`: SCRAM everywhere; no `trust`, no `md5`.
fn pg_hba(topology: &Topology) -> Vec<Value> {
    let mut lines = vec![
        json!(format!("local all all scram-sha-256")),
        json!(format!(
            "host replication {REPLICATION_USER} 127.0.0.1/32 scram-sha-256"
        )),
    ];
    for network in &topology.client_networks {
        lines.push(json!(format!(
            "host replication {REPLICATION_USER} {network} scram-sha-256"
        )));
    }
    lines.push(json!("host all all 127.0.0.1/32 scram-sha-256"));
    for network in &topology.client_networks {
        lines.push(json!(format!("host all all {network} scram-sha-256")));
    }
    lines
}

/// Patroni's dynamic configuration (kept in etcd) for the values: written at the
/// first bootstrap, and what `apply` compares a running cluster's `GET /config` with.
#[must_use]
pub(crate) fn dynamic_config(values: &Values) -> Value {
    let timing = values.patroni.timing.effective();
    json!({
        "ttl": timing.ttl,
        "loop_wait": timing.loop_wait,
        "retry_timeout": timing.retry_timeout,
        "maximum_lag_on_failover": values.patroni.maximum_lag_on_failover,
        "synchronous_mode": values.patroni.synchronous_mode,
        "synchronous_mode_strict": values.patroni.synchronous_mode_strict,
        // When etcd is unreachable the leader keeps accepting writes as long as every
        // member confirms it through the REST API, instead of demoting the whole
        // cluster for the length of an etcd outage.
        "failsafe_mode": true,
        // Slots of a member that left (scale-down) are dropped after 10 minutes, so
        // they stop pinning WAL; a restart is back well before.
        "member_slots_ttl": MEMBER_SLOTS_TTL,
        "postgresql": {
            "use_pg_rewind": true,
            "use_slots": true,
            "parameters": parameters(values),
        },
    })
}

/// The complete `patroni.yml` for one member.
#[must_use]
pub fn patroni_config(values: &Values, topology: &Topology) -> Value {
    let mut postgresql_params = Map::new();
    if let Some(socket) = &topology.socket_dir {
        postgresql_params.insert("unix_socket_directories".into(), json!(socket));
    }
    let mut postgresql = json!({
        "listen": topology.postgres_listen,
        "connect_address": topology.postgres_connect,
        "data_dir": topology.data_dir,
        "pgpass": topology.pgpass,
        "authentication": {
            "superuser": {"username": SUPERUSER},
            "replication": {"username": REPLICATION_USER},
            "rewind": {"username": REWIND_USER},
        },
        "parameters": postgresql_params,
        "pg_hba": pg_hba(topology),
        // A new replica copies the primary right away instead of waiting for a
        // spread checkpoint, which can take minutes after heavy writes.
        "basebackup": [{"checkpoint": "fast"}],
        "use_unix_socket": topology.socket_dir.is_some(),
    });
    if let Some(bin_dir) = &topology.bin_dir {
        postgresql["bin_dir"] = json!(bin_dir);
    }
    if let Some(before_stop) = &topology.before_stop {
        postgresql["before_stop"] = json!(before_stop);
    }
    json!({
        "scope": topology.scope,
        "namespace": super::etcd::NAMESPACE,
        "name": topology.name,
        "restapi": {
            "listen": topology.restapi_listen,
            "connect_address": topology.restapi_connect,
            // Unsafe endpoints (switchover, restart, config) need these credentials;
            // health endpoints stay open for probes and the proxy.
            "authentication": {"username": RESTAPI_USER},
        },
        "etcd3": {"hosts": topology.etcd_hosts},
        "bootstrap": {
            "dcs": dynamic_config(values),
            "initdb": [
                {"encoding": "UTF8"},
                {"locale": "C.UTF-8"},
                "data-checksums",
            ],
            "post_bootstrap": topology.post_bootstrap,
        },
        "postgresql": postgresql,
        "watchdog": {"mode": "off"},
        "tags": {"nofailover": false, "noloadbalance": false, "clonefrom": false, "nosync": false},
    })
}

#[cfg(test)]
mod slot_tests {
    use super::slot_name;

    #[test]
    fn slot_names_follow_patroni() {
        assert_eq!(slot_name("db-pg1"), "db_pg1");
        assert_eq!(slot_name("DB.x"), "db_x");
        assert_eq!(slot_name("a+b"), "au0043b");
        assert_eq!(slot_name(&"a".repeat(80)).len(), 63);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology() -> Topology {
        Topology {
            scope: "db".into(),
            name: "db-postgres-0".into(),
            restapi_listen: "0.0.0.0:8008".into(),
            restapi_connect: "replica-0.db-postgres:8008".into(),
            postgres_listen: "0.0.0.0:5432".into(),
            postgres_connect: "replica-0.db-postgres:5432".into(),
            etcd_hosts: vec!["e0:2379".into(), "e1:2379".into(), "e2:2379".into()],
            data_dir: "/data/pgdata".into(),
            bin_dir: None,
            pgpass: "/tmp/pgpass".into(),
            socket_dir: None,
            client_networks: vec!["0.0.0.0/0".into(), "::/0".into()],
            post_bootstrap: "/etc/postgres-ha/post-bootstrap.sh".into(),
            before_stop: None,
        }
    }

    #[test]
    fn follows_the_values() {
        let mut values = Values::default();
        values.patroni.timing.ttl = Some(40);
        values.patroni.synchronous_mode = false;
        let config = patroni_config(&values, &topology());
        assert_eq!(config["bootstrap"]["dcs"]["ttl"], 40);
        assert_eq!(config["bootstrap"]["dcs"]["loop_wait"], 5);
        assert_eq!(config["bootstrap"]["dcs"]["synchronous_mode"], false);
        assert_eq!(config["etcd3"]["hosts"].as_array().unwrap().len(), 3);
        assert!(config["etcd3"].get("host").is_none());
    }

    #[test]
    fn holds_no_password_and_no_weak_auth() {
        let mut values = Values::default();
        values.postgres.password = "Distinctive-Pw-123".into();
        let config = patroni_config(&values, &topology());
        let text = config.to_string();
        assert!(!text.contains("password\""), "{text}");
        assert!(!text.contains("Distinctive-Pw-123"));
        for line in config["postgresql"]["pg_hba"].as_array().unwrap() {
            let line = line.as_str().unwrap();
            assert!(line.ends_with("scram-sha-256"), "{line}");
        }
    }

    #[test]
    fn user_parameters_are_rendered_as_postgres_expects() {
        let mut values = Values::default();
        values
            .postgres
            .parameters
            .insert("jit".into(), ParameterValue::Bool(false));
        values
            .postgres
            .parameters
            .insert("max_connections".into(), ParameterValue::Number(200.into()));
        let config = patroni_config(&values, &topology());
        let params = &config["bootstrap"]["dcs"]["postgresql"]["parameters"];
        assert_eq!(params["jit"], "off");
        assert_eq!(params["max_connections"], 200);
        assert_eq!(params["wal_level"], "replica");
    }
}
