//! The Control Plane REST API as data: resource kinds and their paths, requests,
//! error bodies and which failures a client retries. No I/O: the CLI sends what this
//! builds.

use std::fmt;

use serde_json::Value;

/// The kinds a release consists of, in the order `cpln apply` applies them (deletion
/// runs in reverse).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Secret,
    Identity,
    VolumeSet,
    Policy,
    Workload,
}

impl Kind {
    /// Apply order.
    pub const ALL: [Self; 5] = [
        Self::Secret,
        Self::Identity,
        Self::VolumeSet,
        Self::Policy,
        Self::Workload,
    ];

    /// The API's word for the kind (`kind:` in a manifest, a path segment).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::Identity => "identity",
            Self::VolumeSet => "volumeset",
            Self::Policy => "policy",
            Self::Workload => "workload",
        }
    }

    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Whether resources of this kind live in a GVC (else in the org: secret and
    /// policy names are org-wide).
    #[must_use]
    pub fn in_gvc(self) -> bool {
        matches!(self, Self::Identity | Self::VolumeSet | Self::Workload)
    }

    /// Whether the API removes resources of this kind some time after the DELETE
    /// (the cpln CLI waits for them between kinds): a volume set stays busy until its
    /// workload is gone.
    #[must_use]
    pub fn deleted_later(self) -> bool {
        matches!(self, Self::Workload | Self::VolumeSet)
    }

    /// `/org/ORG[/gvc/GVC]/KIND`: list, and PUT-upsert as `cpln apply` does.
    #[must_use]
    pub fn collection(self, at: &Place) -> String {
        if self.in_gvc() {
            format!("/org/{}/gvc/{}/{}", at.org, at.gvc, self.as_str())
        } else {
            format!("/org/{}/{}", at.org, self.as_str())
        }
    }

    /// `…/KIND/NAME`: GET, PATCH, DELETE.
    #[must_use]
    pub fn item(self, at: &Place, name: &str) -> String {
        format!("{}/{name}", self.collection(at))
    }

    /// What reads a resource whole: the item, or for a secret its `-reveal` (a plain
    /// GET of a secret leaves its data out).
    #[must_use]
    pub fn read(self, at: &Place, name: &str) -> String {
        match self {
            Self::Secret => format!("{}/-reveal", self.item(at, name)),
            _ => self.item(at, name),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a release lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub org: String,
    pub gvc: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Put,
    Patch,
    Delete,
    /// Commands (`-command`): not idempotent.
    Post,
}

impl Method {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Post => "POST",
        }
    }

    /// Whether the request changes something (a dry run sends none of these).
    #[must_use]
    pub fn mutates(self) -> bool {
        self != Self::Get
    }
}

/// One API call, relative to the endpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiRequest {
    pub method: Method,
    pub path: String,
    pub body: Option<Value>,
}

impl ApiRequest {
    #[must_use]
    pub fn get(path: String) -> Self {
        Self {
            method: Method::Get,
            path,
            body: None,
        }
    }
}

/// The API's error body: `{status, message, code}`, kept for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub code: Option<String>,
}

impl ApiError {
    /// From a response: the body's fields when it has them, the status alone when not.
    #[must_use]
    pub fn from_response(status: u16, body: &str) -> Self {
        let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let text = |key: &str| parsed[key].as_str().map(str::to_owned);
        Self {
            status,
            message: text("message").unwrap_or_else(|| {
                // Not the API's JSON (a proxy's page, say): a short, printable excerpt.
                body.chars().filter(|c| !c.is_control()).take(200).collect()
            }),
            code: text("code"),
        }
    }

    /// A 429 that a quota caused: waiting does not help.
    #[must_use]
    pub fn is_quota(&self) -> bool {
        self.status == 429 && self.message.to_lowercase().contains("quota")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.status)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

/// Whether a failed call is worth repeating after a pause, as the cpln CLI decides:
/// network errors, 5xx and 429 (not a quota's), and a DELETE the API found busy (409).
#[must_use]
pub fn retryable(method: Method, failure: Option<&ApiError>) -> bool {
    match failure {
        // No answer: the network. A command may have run; it is not sent twice.
        None => method != Method::Post,
        Some(error) => match error.status {
            500 | 502 | 503 | 504 => true,
            429 => !error.is_quota(),
            409 => method == Method::Delete,
            _ => false,
        },
    }
}

/// The PATCH that sets a workload's fixed member count (`metric: disabled` keeps the
/// scale at min = max).
#[must_use]
pub fn scale_request(at: &Place, workload: &str, members: u32) -> ApiRequest {
    ApiRequest {
        method: Method::Patch,
        path: Kind::Workload.item(at, workload),
        body: Some(
            serde_json::json!({"spec": {"defaultOptions": {"autoscaling": {
                "minScale": members,
                "maxScale": members,
            }}}}),
        ),
    }
}

/// The command that deletes the volume of member `index` of a volume set in
/// `location` (scaling down keeps volumes otherwise).
#[must_use]
pub fn delete_volume_request(
    at: &Place,
    volume_set: &str,
    location: &str,
    index: usize,
) -> ApiRequest {
    ApiRequest {
        method: Method::Post,
        path: format!("{}/-command", Kind::VolumeSet.item(at, volume_set)),
        body: Some(serde_json::json!({
            "type": "deleteVolume",
            "spec": {"location": location, "volumeIndex": index},
        })),
    }
}

/// The command that stops one replica of a workload; the platform starts it again,
/// with the secrets' current values in its environment.
#[must_use]
pub fn stop_replica_request(
    at: &Place,
    workload: &str,
    replica: &str,
    location: &str,
) -> ApiRequest {
    ApiRequest {
        method: Method::Post,
        path: format!("{}/-command", Kind::Workload.item(at, workload)),
        body: Some(serde_json::json!({
            "type": "stopReplica",
            "spec": {"replica": replica, "location": location},
        })),
    }
}

/// Where a workload or volume set command stands (`lifecycleStage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandStage {
    /// Pending or running: wait.
    Underway,
    Completed,
    /// Failed or cancelled.
    Ended,
}

impl CommandStage {
    /// The stage of a command object as the API returns it.
    #[must_use]
    pub fn of(command: &serde_json::Value) -> Self {
        match command["lifecycleStage"].as_str() {
            Some("completed") => Self::Completed,
            Some("failed" | "cancelled") => Self::Ended,
            _ => Self::Underway,
        }
    }
}

/// The pause before retry `attempt` (0-based), in milliseconds: doubling from 1 s with
/// up to 1 s of jitter (`jitter` in 0..1000, the caller's randomness), at most 20 s.
#[must_use]
pub fn backoff_ms(attempt: u32, jitter: u64) -> u64 {
    let base = 1000u64.saturating_mul(1 << attempt.min(5));
    (base + jitter.min(999)).min(20_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_replica_is_a_command_whose_stage_says_when_it_is_done() {
        let at = Place {
            org: "o".into(),
            gvc: "g".into(),
        };
        let request = stop_replica_request(&at, "db-postgres", "db-postgres-1", "aws-us-east-2");
        assert_eq!(request.method, Method::Post);
        assert_eq!(request.path, "/org/o/gvc/g/workload/db-postgres/-command");
        assert_eq!(
            request.body.unwrap()["spec"],
            serde_json::json!({"replica": "db-postgres-1", "location": "aws-us-east-2"})
        );
        let stage = |s: &str| CommandStage::of(&serde_json::json!({"lifecycleStage": s}));
        assert_eq!(stage("pending"), CommandStage::Underway);
        assert_eq!(stage("running"), CommandStage::Underway);
        assert_eq!(stage("completed"), CommandStage::Completed);
        assert_eq!(stage("failed"), CommandStage::Ended);
        assert_eq!(stage("cancelled"), CommandStage::Ended);
    }

    #[test]
    fn paths_follow_each_kinds_scope() {
        let at = Place {
            org: "acme".into(),
            gvc: "prod".into(),
        };
        assert_eq!(Kind::Secret.collection(&at), "/org/acme/secret");
        assert_eq!(
            Kind::Workload.item(&at, "db-postgres"),
            "/org/acme/gvc/prod/workload/db-postgres"
        );
        assert_eq!(Kind::parse("volumeset"), Some(Kind::VolumeSet));
        assert_eq!(Kind::parse("gvc"), None);
    }

    #[test]
    fn failures_are_retried_as_the_cpln_cli_does() {
        let answer = |status, body: &str| ApiError::from_response(status, body);
        assert!(retryable(Method::Put, None));
        assert!(retryable(Method::Put, Some(&answer(503, ""))));
        assert!(retryable(
            Method::Put,
            Some(&answer(429, r#"{"message":"slow down"}"#))
        ));
        let quota = answer(
            429,
            r#"{"status":429,"message":"Quota exceeded: replicas","code":"quota"}"#,
        );
        assert!(quota.is_quota() && !retryable(Method::Put, Some(&quota)));
        assert!(retryable(Method::Delete, Some(&answer(409, "{}"))));
        assert!(!retryable(Method::Post, None));
        assert!(retryable(Method::Post, Some(&answer(503, ""))));
        assert!(!retryable(Method::Put, Some(&answer(409, "{}"))));
        assert!(!retryable(Method::Put, Some(&answer(400, "{}"))));
        assert_eq!(quota.to_string(), "429 quota: Quota exceeded: replicas");
        assert_eq!(
            answer(502, "<html>Bad\ngateway</html>").message,
            "<html>Badgateway</html>"
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_a_cap() {
        assert_eq!(backoff_ms(0, 0), 1000);
        assert_eq!(backoff_ms(2, 500), 4500);
        assert_eq!(backoff_ms(9, 999), 20_000);
        assert_eq!(backoff_ms(40, 5000), 20_000);
    }
}
