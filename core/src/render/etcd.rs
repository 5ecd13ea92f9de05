//! etcd as Patroni uses it: where a cluster's keys live, and the authentication that
//! keeps everyone else out of them. One plan, two executions: the local supervisor
//! sends each step to etcd's v3 HTTP gateway, the Control Plane etcd start-up script
//! runs the same steps with `etcdctl`.

use base64::Engine as _;
use serde_json::{Value, json};

/// Patroni's namespace: every cluster's keys live under `/postgres-ha/SCOPE/`.
pub(crate) const NAMESPACE: &str = "/postgres-ha/";
/// etcd's administrative user (etcd requires one, with its built-in `root` role,
/// before authentication can be enabled).
pub const ROOT_USER: &str = "root";
/// The user Patroni (and the supervisor, for the leader key) connects as.
pub const PATRONI_USER: &str = "patroni";
/// The role that may read and write the cluster's keys, and nothing else.
pub(crate) const PATRONI_ROLE: &str = "patroni";

/// The prefix of every key of cluster `scope`.
#[must_use]
pub(crate) fn key_prefix(scope: &str) -> String {
    format!("{NAMESPACE}{scope}/")
}

/// The key of one member's registration (removed when it leaves the cluster).
#[must_use]
pub fn member_key(scope: &str, member: &str) -> String {
    format!("{}members/{member}", key_prefix(scope))
}

/// The key holding the Patroni leader's member name.
#[must_use]
pub fn leader_key(scope: &str) -> String {
    format!("{}leader", key_prefix(scope))
}

/// Where one etcd member keeps its data, listens and finds its peers: all that differs
/// between the local cluster and Control Plane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EtcdMember {
    pub name: String,
    pub data_dir: String,
    pub client_listen: String,
    pub client_advertise: String,
    pub peer_listen: String,
    pub peer_advertise: String,
    /// `name=peer-url,…` for every member.
    pub initial_cluster: String,
    pub token: String,
}

/// Raft timers, in milliseconds, for the network the members share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EtcdTimers {
    pub heartbeat: u32,
    pub election: u32,
}

/// Loopback round trips are microseconds: short timers keep elections fast.
pub(crate) const LOOPBACK_TIMERS: EtcdTimers = EtcdTimers {
    heartbeat: 100,
    election: 1000,
};
/// Between machines and zones: tolerant of a slow round trip.
pub(crate) const PLATFORM_TIMERS: EtcdTimers = EtcdTimers {
    heartbeat: 500,
    election: 5000,
};

/// Backend quota: 2 GiB, etcd's own default, stated so both targets agree.
const QUOTA_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Every flag of one etcd member, in order, as `(flag, value)`: the one list the
/// local supervisor passes as arguments and the Control Plane start-up script writes.
#[must_use]
pub(crate) fn member_flags(
    member: &EtcdMember,
    timers: EtcdTimers,
    values: &crate::values::Values,
) -> Vec<(&'static str, String)> {
    let mode = match values.etcd.compaction.mode {
        crate::values::CompactionMode::Periodic => "periodic",
        crate::values::CompactionMode::Revision => "revision",
    };
    vec![
        ("--name", member.name.clone()),
        ("--data-dir", member.data_dir.clone()),
        ("--listen-client-urls", member.client_listen.clone()),
        ("--advertise-client-urls", member.client_advertise.clone()),
        ("--listen-peer-urls", member.peer_listen.clone()),
        (
            "--initial-advertise-peer-urls",
            member.peer_advertise.clone(),
        ),
        // Ignored once the data directory exists.
        ("--initial-cluster", member.initial_cluster.clone()),
        ("--initial-cluster-token", member.token.clone()),
        ("--initial-cluster-state", "new".into()),
        ("--heartbeat-interval", timers.heartbeat.to_string()),
        ("--election-timeout", timers.election.to_string()),
        ("--auto-compaction-mode", mode.into()),
        (
            "--auto-compaction-retention",
            values.etcd.compaction.retention.clone(),
        ),
        ("--quota-backend-bytes", QUOTA_BYTES.to_string()),
    ]
}

/// Whose password a step needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EtcdUser {
    Root,
    Patroni,
}

impl EtcdUser {
    /// Where this user's password is kept.
    #[must_use]
    pub fn credential_key(self) -> super::patroni::CredentialKey {
        match self {
            Self::Root => super::patroni::CredentialKey::EtcdRoot,
            Self::Patroni => super::patroni::CredentialKey::EtcdPatroni,
        }
    }

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Root => ROOT_USER,
            Self::Patroni => PATRONI_USER,
        }
    }
}

/// One step of turning authentication on, in order. Each is idempotent as run: a
/// user, role or grant that exists already is not an error, so an interrupted setup
/// can run again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthStep {
    AddUser(EtcdUser),
    AddRole(&'static str),
    /// Read and write on every key with this prefix.
    GrantPrefix {
        role: &'static str,
        prefix: String,
    },
    GrantRole {
        user: EtcdUser,
        role: &'static str,
    },
    Enable,
}

/// The steps that leave etcd accepting only `root` and `patroni`, the latter limited
/// to cluster `scope`'s keys.
#[must_use]
pub fn auth_steps(scope: &str) -> Vec<AuthStep> {
    vec![
        AuthStep::AddUser(EtcdUser::Root),
        AuthStep::GrantRole {
            user: EtcdUser::Root,
            role: "root",
        },
        AuthStep::AddRole(PATRONI_ROLE),
        AuthStep::GrantPrefix {
            role: PATRONI_ROLE,
            prefix: key_prefix(scope),
        },
        AuthStep::AddUser(EtcdUser::Patroni),
        AuthStep::GrantRole {
            user: EtcdUser::Patroni,
            role: PATRONI_ROLE,
        },
        AuthStep::Enable,
    ]
}

/// The end of a prefix range: the prefix with its last byte incremented.
fn range_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl AuthStep {
    /// The v3 HTTP gateway request: path and JSON body (`password` fills in the
    /// user's password where the step needs one).
    #[must_use]
    pub fn request(&self, password: &dyn Fn(EtcdUser) -> String) -> (&'static str, Value) {
        match self {
            Self::AddUser(user) => (
                "/v3/auth/user/add",
                json!({"name": user.name(), "password": password(*user)}),
            ),
            Self::AddRole(role) => ("/v3/auth/role/add", json!({"name": role})),
            Self::GrantPrefix { role, prefix } => (
                "/v3/auth/role/grant",
                json!({"name": role, "perm": {
                    "permType": "READWRITE",
                    "key": b64(prefix.as_bytes()),
                    "range_end": b64(&range_end(prefix)),
                }}),
            ),
            Self::GrantRole { user, role } => (
                "/v3/auth/user/grant",
                json!({"user": user.name(), "role": role}),
            ),
            Self::Enable => ("/v3/auth/enable", json!({})),
        }
    }

    /// The same step as an `etcdctl` (v3) shell command. Passwords come from the
    /// environment variable `password_var` names and reach etcdctl on standard input,
    /// never on a command line.
    #[must_use]
    pub fn etcdctl(&self, password_var: &dyn Fn(EtcdUser) -> &'static str) -> String {
        match self {
            Self::AddUser(user) => format!(
                "printf '%s' \"${}\" | etcdctl user add {} --interactive=false",
                password_var(*user),
                user.name()
            ),
            Self::AddRole(role) => format!("etcdctl role add {role}"),
            Self::GrantPrefix { role, prefix } => {
                format!("etcdctl role grant-permission {role} --prefix=true readwrite '{prefix}'")
            }
            Self::GrantRole { user, role } => {
                format!("etcdctl user grant-role {} {role}", user.name())
            }
            Self::Enable => "etcdctl auth enable".to_owned(),
        }
    }
}

/// Whether an etcd error body says the step had been done already.
#[must_use]
pub fn already_done(error: &str) -> bool {
    error.contains("already exists") || error.contains("already granted")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patroni_is_limited_to_its_clusters_prefix() {
        let steps = auth_steps("db");
        let (path, body) = steps[3].request(&|_| String::new());
        assert_eq!(path, "/v3/auth/role/grant");
        assert_eq!(body["perm"]["key"], b64(b"/postgres-ha/db/"));
        assert_eq!(body["perm"]["range_end"], b64(b"/postgres-ha/db0"));
        assert_eq!(steps.last(), Some(&AuthStep::Enable));
        assert_eq!(leader_key("db"), "/postgres-ha/db/leader");
    }

    #[test]
    fn etcdctl_steps_keep_passwords_off_the_command_line() {
        let line = AuthStep::AddUser(EtcdUser::Patroni).etcdctl(&|_| "PATRONI_ETCD3_PASSWORD");
        assert_eq!(
            line,
            "printf '%s' \"$PATRONI_ETCD3_PASSWORD\" | etcdctl user add patroni --interactive=false"
        );
    }
}
