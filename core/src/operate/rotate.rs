//! Password rotation as a journaled protocol: each phase is idempotent and the
//! intent (user, new password, last phase done) is recorded before acting, so an
//! interrupted run leaves a cluster that accepts the old or the new password and a
//! rerun completes it.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::request::Sql;
use crate::render::patroni::{CredentialKey, REPLICATION_USER, REWIND_USER, SUPERUSER};

/// Whose password changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RotationUser {
    /// The values' `postgres.username`.
    App,
    Superuser,
    Replication,
    Rewind,
    /// Patroni's REST API (no database role).
    RestApi,
}

impl RotationUser {
    /// The words `--user` accepts besides the application's user name.
    pub const WORDS: [&'static str; 4] = ["superuser", "replication", "rewind", "restapi"];

    /// Reads `--user`: the application's user name, one of [`Self::WORDS`], or the
    /// role name of an internal user.
    #[must_use]
    pub fn parse(text: &str, app_user: &str) -> Option<Self> {
        match text {
            "superuser" | SUPERUSER => Some(Self::Superuser),
            "replication" | REPLICATION_USER => Some(Self::Replication),
            "rewind" | REWIND_USER => Some(Self::Rewind),
            "restapi" => Some(Self::RestApi),
            user if user == app_user => Some(Self::App),
            _ => None,
        }
    }

    /// Where the password is kept.
    #[must_use]
    pub fn key(self) -> CredentialKey {
        match self {
            Self::App => CredentialKey::App,
            Self::Superuser => CredentialKey::Superuser,
            Self::Replication => CredentialKey::Replication,
            Self::Rewind => CredentialKey::Rewind,
            Self::RestApi => CredentialKey::RestApi,
        }
    }

    /// The database role whose password changes; none for the REST API.
    #[must_use]
    pub fn role(self, app_user: &str) -> Option<String> {
        match self {
            Self::App => Some(app_user.to_owned()),
            Self::Superuser => Some(SUPERUSER.to_owned()),
            Self::Replication => Some(REPLICATION_USER.to_owned()),
            Self::Rewind => Some(REWIND_USER.to_owned()),
            Self::RestApi => None,
        }
    }

    /// The journal's word for the user.
    #[must_use]
    pub fn word(self) -> &'static str {
        match self {
            Self::App => "application",
            Self::Superuser => "superuser",
            Self::Replication => "replication",
            Self::Rewind => "rewind",
            Self::RestApi => "restapi",
        }
    }

    /// How to check this user's password.
    #[must_use]
    pub fn login(self, app_user: &str) -> Login {
        match self.role(app_user) {
            Some(user) => Login::Database {
                user,
                replication: self == Self::Replication,
            },
            None => Login::RestApi,
        }
    }
}

/// A login a rotation checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Login {
    /// A database role; `replication` for a physical replication connection.
    Database { user: String, replication: bool },
    /// Patroni's REST API.
    RestApi,
}

/// How members take a changed internal password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pickup {
    /// From their configuration file, on a reload (the local cluster).
    Reload,
    /// From their environment, at start (Control Plane fills it from the secret): each
    /// member is stopped and started afresh, in the rolling order.
    Restart,
}

/// The phases in order; the journal records the last one done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// The cluster is healthy and the new password acceptable (nothing recorded).
    Preflight,
    /// The intent is recorded: user and new password.
    Prepare,
    /// The role's password is changed on the leader (it reaches replicas by WAL).
    Database,
    /// The password is stored, and every member has taken it (a reload, or a restart
    /// per [`Pickup`]).
    Members,
    /// The new password logs in, the old one is refused.
    Verify,
}

impl Phase {
    pub const ALL: [Phase; 5] = [
        Phase::Preflight,
        Phase::Prepare,
        Phase::Database,
        Phase::Members,
        Phase::Verify,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Preflight => "preflight",
            Phase::Prepare => "prepare",
            Phase::Database => "database",
            Phase::Members => "members",
            Phase::Verify => "verify",
        }
    }

    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// What the phase does, for the plan a user confirms.
    #[must_use]
    pub fn describe(self, user: RotationUser, pickup: Pickup) -> &'static str {
        match (self, user) {
            (Phase::Preflight, _) => "check the cluster is healthy and the new password acceptable",
            (Phase::Prepare, _) => "record the rotation (user, new password) before acting",
            (Phase::Database, RotationUser::RestApi) => "nothing in the database (no role)",
            (Phase::Database, _) => {
                "on the leader: ALTER ROLE … PASSWORD, with statement logging off"
            }
            (Phase::Members, RotationUser::App) => {
                "store the new password with the cluster's values"
            }
            (Phase::Members, _) => match pickup {
                Pickup::Reload => {
                    "store the new password, write it into every member's configuration, \
                     reload every Patroni and wait one loop for .pgpass"
                }
                Pickup::Restart => {
                    "store the new password in the release's secret, then stop and start \
                     afresh each member (the platform recreates it with the secret's values): \
                     replicas one at a time, then a switchover, then the old leader"
                }
            },
            (Phase::Verify, _) => "check the new password logs in and the old one is refused",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rotation in progress, recorded before each phase acts (a private file: it
/// holds the new password).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// [`RotationUser::word`].
    pub user: String,
    /// The last phase done.
    pub done: Phase,
    pub password: String,
    /// Members already restarted with the new password (with [`Pickup::Restart`]): a
    /// resumed rotation skips them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restarted: Vec<String>,
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal")
            .field("user", &self.user)
            .field("done", &self.done)
            .field("restarted", &self.restarted)
            .finish_non_exhaustive()
    }
}

impl Sql {
    /// Sets `role`'s password. Statement logging is turned off for the session first,
    /// so not even a failing statement puts the password into the server log.
    #[must_use]
    pub fn set_password(role: String, password: String) -> Self {
        Self {
            text: "SET log_min_error_statement = panic; SET log_statement = none; \
                   ALTER ROLE :\"role\" PASSWORD :'password'",
            variables: vec![("role", role), ("password", password)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_read_by_word_or_role() {
        assert_eq!(RotationUser::parse("app", "app"), Some(RotationUser::App));
        assert_eq!(
            RotationUser::parse("postgres", "app"),
            Some(RotationUser::Superuser)
        );
        assert_eq!(
            RotationUser::parse("replicator", "app"),
            Some(RotationUser::Replication)
        );
        assert_eq!(RotationUser::parse("nobody", "app"), None);
        assert_eq!(RotationUser::RestApi.role("app"), None);
    }

    #[test]
    fn the_journal_never_shows_the_password() {
        let journal = Journal {
            user: "superuser".into(),
            done: Phase::Prepare,
            password: "s3cret-s3cret-s3cret".into(),
            restarted: Vec::new(),
        };
        assert!(!format!("{journal:?}").contains("s3cret"));
        let text = serde_json::to_string(&journal).unwrap();
        assert!(text.contains(r#""done":"prepare""#));
        assert!(Phase::Database > Phase::Prepare);
        // A journal from before restarts were recorded still reads.
        let old: Journal =
            serde_json::from_str(r#"{"user":"superuser","done":"members","password":"x"}"#)
                .unwrap();
        assert!(old.restarted.is_empty());
    }

    #[test]
    fn the_statement_carries_no_password() {
        let sql = Sql::set_password("app".into(), "s3cret".into());
        assert!(!sql.to_string().contains("s3cret"));
    }
}
