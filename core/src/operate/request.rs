//! What a step sends: requests to Patroni's REST API and SQL for PostgreSQL, as data.
//! The transports (loopback HTTP and `psql` now, the Control Plane exec later) only
//! carry them.

use std::fmt;

use serde_json::{Value, json};

/// An HTTP method Patroni's API uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Patch,
}

impl Method {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Patch => "PATCH",
        }
    }
}

/// One request to a member's Patroni REST API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub path: &'static str,
    pub body: Option<Value>,
}

impl Request {
    const fn get(path: &'static str) -> Self {
        Self {
            method: Method::Get,
            path,
            body: None,
        }
    }

    fn post(path: &'static str, body: Value) -> Self {
        Self {
            method: Method::Post,
            path,
            body: Some(body),
        }
    }

    /// The cluster view (`ClusterView::from_json` reads the answer).
    #[must_use]
    pub const fn cluster() -> Self {
        Self::get("/cluster")
    }

    /// The member's own status (`MemberStatus::from_json` reads the answer).
    #[must_use]
    pub const fn member_status() -> Self {
        Self::get("/patroni")
    }

    /// The dynamic configuration kept in etcd.
    #[must_use]
    pub const fn config() -> Self {
        Self::get("/config")
    }

    /// A planned switchover from `leader` to `candidate` (Patroni picks when `None`),
    /// now or at `scheduled` (ISO 8601 with a zone).
    #[must_use]
    pub fn switchover(leader: &str, candidate: Option<&str>, scheduled: Option<&str>) -> Self {
        let mut body = json!({"leader": leader});
        if let Some(candidate) = candidate {
            body["candidate"] = json!(candidate);
        }
        if let Some(at) = scheduled {
            body["scheduled_at"] = json!(at);
        }
        Self::post("/switchover", body)
    }

    /// Promotes `candidate` whatever the leader's state.
    #[must_use]
    pub fn failover(candidate: &str) -> Self {
        Self::post("/failover", json!({"candidate": candidate}))
    }

    /// Restarts PostgreSQL on the member the request is sent to.
    #[must_use]
    pub fn restart() -> Self {
        Self::post("/restart", json!({}))
    }

    /// Re-reads the member's configuration file and reloads PostgreSQL.
    #[must_use]
    pub fn reload() -> Self {
        Self::post("/reload", json!({}))
    }

    /// Rebuilds the member from the leader (its data directory is replaced).
    #[must_use]
    pub fn reinitialize() -> Self {
        Self::post("/reinitialize", json!({"force": true}))
    }

    /// Turns automatic failover off (`true`) or back on.
    #[must_use]
    pub fn pause(paused: bool) -> Self {
        Self::patch_config(json!({"pause": paused}))
    }

    /// Merges `patch` into the dynamic configuration (`null` removes a key).
    #[must_use]
    pub fn patch_config(patch: Value) -> Self {
        Self {
            method: Method::Patch,
            path: "/config",
            body: Some(patch),
        }
    }

    /// Whether Patroni wants the REST API credentials for it (every request that
    /// changes something).
    #[must_use]
    pub fn needs_credentials(&self) -> bool {
        self.method != Method::Get
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method.as_str(), self.path)?;
        match &self.body {
            Some(body) if body.as_object().is_some_and(|o| !o.is_empty()) => {
                write!(f, " {body}")
            }
            _ => Ok(()),
        }
    }
}

/// Patroni's answer to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// What an answer to a switchover or failover means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandoverAnswer {
    /// Done, or scheduled.
    Accepted(String),
    /// Patroni lost track while the old leader stopped (503 "status unknown"); the
    /// outcome shows in the cluster view.
    Unknown,
    /// Refused: why, and what to do.
    Refused { reason: String, fix: String },
}

impl Answer {
    /// Reads the answer to a switchover or failover request.
    #[must_use]
    pub fn handover(&self) -> HandoverAnswer {
        let text = self.body.trim().to_owned();
        match self.status {
            200..=299 => HandoverAnswer::Accepted(text),
            503 => HandoverAnswer::Unknown,
            412 => HandoverAnswer::Refused {
                fix: explain_412(&text),
                reason: text,
            },
            401 | 403 => HandoverAnswer::Refused {
                reason: format!("Patroni refused the REST API credentials ({})", self.status),
                fix: "the REST API password this tool holds no longer matches the cluster's; \
                      check the credentials file"
                    .into(),
            },
            status => HandoverAnswer::Refused {
                reason: format!("Patroni answered {status}: {text}"),
                fix: "see the member's log for details".into(),
            },
        }
    }
}

/// What to do about a 412 (Precondition Failed): Patroni's words name the check.
fn explain_412(text: &str) -> String {
    let text = text.to_ascii_lowercase();
    if text.contains("sync_standby") || text.contains("synchronous") {
        "in synchronous mode only a synchronous standby can take over; pick one \
         (`status` marks it sync_standby) or leave --candidate out"
            .into()
    } else if text.contains("leader name does not match") {
        "the leader changed meanwhile; run the command again".into()
    } else if text.contains("no good candidates") || text.contains("does not have members") {
        "no replica is healthy enough to take over; wait until one streams (`status`)".into()
    } else if text.contains("candidate name does not match") || text.contains("not a member") {
        "the candidate is not a member of the cluster; `status` lists them".into()
    } else if text.contains("nofailover") {
        "the candidate is tagged nofailover and is never promoted".into()
    } else if text.contains("maintenance mode") || text.contains("pause") {
        "the cluster is paused: name a --candidate, or `resume` it first".into()
    } else {
        "Patroni's precondition failed; `status` shows the members' health".into()
    }
}

/// One SQL statement a step runs on a member as the superuser. Values go in as
/// `psql` variables (`:'name'`), never spliced into the text, and secret ones are
/// fed on standard input, never on a command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sql {
    pub text: &'static str,
    /// `psql` variables: name and value.
    pub variables: Vec<(&'static str, String)>,
}

impl Sql {
    const fn plain(text: &'static str) -> Self {
        Self {
            text,
            variables: Vec::new(),
        }
    }

    /// Flushes dirty pages now, so the checkpoint of a following shutdown is short.
    #[must_use]
    pub const fn checkpoint() -> Self {
        Self::plain("CHECKPOINT")
    }

    /// Drops the named replication slots (comma-separated) that no member uses.
    #[must_use]
    pub fn drop_slots(slots: String) -> Self {
        Self {
            text: "SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots \
                   WHERE slot_name = ANY(string_to_array(:'slots', ',')) AND NOT active",
            variables: vec![("slots", slots)],
        }
    }

    /// Whether the member accepts a write right now: `f` when it does (a primary
    /// whose `transaction_read_only` is off).
    #[must_use]
    pub const fn read_only() -> Self {
        Self::plain("SELECT pg_is_in_recovery() OR current_setting('transaction_read_only')::bool")
    }
}

impl fmt::Display for Sql {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_say_what_they_send() {
        let r = Request::switchover("db-pg0", Some("db-pg1"), None);
        assert_eq!(
            r.to_string(),
            r#"POST /switchover {"leader":"db-pg0","candidate":"db-pg1"}"#
        );
        assert!(r.needs_credentials());
        assert!(!Request::cluster().needs_credentials());
        assert_eq!(
            Request::pause(true).to_string(),
            r#"PATCH /config {"pause":true}"#
        );
        assert_eq!(Request::reload().to_string(), "POST /reload");
    }

    #[test]
    fn handover_answers_are_read() {
        let answer = |status, body: &str| {
            Answer {
                status,
                body: body.into(),
            }
            .handover()
        };
        assert_eq!(
            answer(200, "Successfully switched over to \"db-pg1\""),
            HandoverAnswer::Accepted("Successfully switched over to \"db-pg1\"".into())
        );
        assert_eq!(
            answer(503, "Switchover status unknown"),
            HandoverAnswer::Unknown
        );
        let HandoverAnswer::Refused { fix, .. } =
            answer(412, "candidate name does not match with sync_standby")
        else {
            panic!()
        };
        assert!(fix.contains("synchronous standby"), "{fix}");
        assert!(matches!(answer(401, ""), HandoverAnswer::Refused { .. }));
    }
}
