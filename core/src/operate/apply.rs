//! `apply`: the difference between a values file and a running cluster, and what
//! carries each part out — Patroni's dynamic configuration (`PATCH /config`; a
//! rolling restart for settings PostgreSQL reads only at start), a password rotation,
//! a scale. What cannot change on a running cluster is refused, all or nothing.

use std::fmt;

use serde_json::{Map, Value, json};

use crate::render::patroni::dynamic_config;
use crate::values::Values;

/// How a change takes effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Patroni applies it and reloads PostgreSQL.
    Reload,
    /// PostgreSQL reads it only at start: a rolling restart.
    Restart,
    /// A password rotation.
    Rotation,
    /// A change in the number of members.
    Scale,
    /// Nothing on this target (Control Plane resources on a local cluster).
    None,
}

impl Effect {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Reload => "reload",
            Effect::Restart => "restart",
            Effect::Rotation => "password rotation",
            Effect::Scale => "scale",
            Effect::None => "no effect here",
        }
    }
}

/// One difference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Where, in the values' or Patroni's terms.
    pub what: String,
    pub from: String,
    pub to: String,
    pub effect: Effect,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} → {} ({})",
            self.what,
            self.from,
            self.to,
            self.effect.as_str()
        )
    }
}

/// Everything `apply` would do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    pub changes: Vec<Change>,
    /// The merge patch for `PATCH /config` (`null` removes a key).
    pub patch: Option<Value>,
    /// A changed setting needs PostgreSQL restarted.
    pub restart: bool,
    /// The application password changes (the new one is in the values; never shown).
    pub password: bool,
    /// The new member count.
    pub replicas: Option<usize>,
    /// Changes a running cluster cannot take, with the reason.
    pub refused: Vec<String>,
}

impl Diff {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.changes.iter().all(|c| c.effect == Effect::None) && self.refused.is_empty()
    }
}

/// Parameters `apply` never lowers below the running value: scale raises them for
/// more members, and lowering them under the members' needs breaks replication.
const NEVER_LOWERED: [&str; 2] = ["max_wal_senders", "max_replication_slots"];

/// A setting's value as text, for comparing Patroni's JSON with the generator's
/// (`7` and `"7"` are the same setting).
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "(unset)".to_owned(),
        other => other.to_string(),
    }
}

/// What changes from `recorded` (the values the cluster runs with) to `new`, given
/// the running dynamic configuration and member count. Secrets are never shown.
#[must_use]
pub fn diff_values(recorded: &Values, new: &Values, running: &Value, members: usize) -> Diff {
    let mut diff = Diff::default();
    let desired = dynamic_config(new);
    let mut patch = Map::new();
    // Patroni's own settings.
    for (key, want) in desired.as_object().into_iter().flatten() {
        if key == "postgresql" {
            continue;
        }
        let have = running.get(key).unwrap_or(&Value::Null);
        if text(have) != text(want) {
            diff.changes.push(Change {
                what: format!("patroni {key}"),
                from: text(have),
                to: text(want),
                effect: Effect::Reload,
            });
            patch.insert(key.clone(), want.clone());
        }
    }
    // PostgreSQL parameters.
    let want_params = desired["postgresql"]["parameters"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let have_params = running["postgresql"]["parameters"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut params = Map::new();
    let mut names: Vec<&String> = want_params.keys().chain(have_params.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let want = want_params.get(name).unwrap_or(&Value::Null);
        let have = have_params.get(name).unwrap_or(&Value::Null);
        if text(want) == text(have) {
            continue;
        }
        if NEVER_LOWERED.contains(&name.as_str())
            && let (Ok(want), Ok(have)) = (text(want).parse::<u64>(), text(have).parse::<u64>())
            && want < have
        {
            continue;
        }
        let restart = crate::pg_parameters::lookup(name).is_some_and(|s| s.context == "postmaster");
        diff.restart |= restart;
        diff.changes.push(Change {
            what: format!("postgres.parameters.{name}"),
            from: text(have),
            to: text(want),
            effect: if restart {
                Effect::Restart
            } else {
                Effect::Reload
            },
        });
        params.insert(name.clone(), want.clone());
    }
    if !params.is_empty() {
        patch.insert("postgresql".into(), json!({"parameters": params}));
    }
    if !patch.is_empty() {
        diff.patch = Some(Value::Object(patch));
    }
    if recorded.postgres.password != new.postgres.password {
        diff.password = true;
        diff.changes.push(Change {
            what: "postgres.password".into(),
            from: "(hidden)".into(),
            to: "(hidden)".into(),
            effect: Effect::Rotation,
        });
    }
    if new.replicas as usize != members {
        diff.replicas = Some(new.replicas as usize);
        diff.changes.push(Change {
            what: "replicas".into(),
            from: members.to_string(),
            to: new.replicas.to_string(),
            effect: Effect::Scale,
        });
    }
    for (what, old, new) in [
        (
            "postgres.username",
            &recorded.postgres.username,
            &new.postgres.username,
        ),
        (
            "postgres.database",
            &recorded.postgres.database,
            &new.postgres.database,
        ),
    ] {
        if old != new {
            diff.refused.push(format!(
                "{what} changed ({old} → {new}): it takes effect only when a cluster is first \
                 created; create the role or database yourself, or recreate the cluster"
            ));
        }
    }
    if recorded.etcd != new.etcd {
        diff.refused.push(
            "etcd settings changed: a running cluster keeps its etcd members and flags; \
             recreate the cluster to change them"
                .into(),
        );
    }
    // The rest describes Control Plane resources.
    let (old, new) = (
        serde_json::to_value(recorded).unwrap_or_default(),
        serde_json::to_value(new).unwrap_or_default(),
    );
    for (key, value) in new.as_object().into_iter().flatten() {
        if matches!(key.as_str(), "replicas" | "postgres" | "patroni" | "etcd") {
            continue;
        }
        if old.get(key) != Some(value) {
            diff.changes.push(Change {
                what: key.clone(),
                from: "…".into(),
                to: "…".into(),
                effect: Effect::None,
            });
        }
    }
    diff
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(values: &Values) -> Value {
        dynamic_config(values)
    }

    #[test]
    fn the_same_values_change_nothing() {
        let values = Values::default();
        let diff = diff_values(&values, &values, &running(&values), 3);
        assert!(diff.is_empty(), "{diff:?}");
        assert!(diff.patch.is_none());
    }

    #[test]
    fn parameters_reload_or_restart_by_their_context() {
        let old = Values::default();
        let mut new = old.clone();
        new.postgres.parameters.insert(
            "work_mem".into(),
            crate::values::ParameterValue::String("8MB".into()),
        );
        new.postgres.parameters.insert(
            "max_connections".into(),
            crate::values::ParameterValue::Number(150.into()),
        );
        new.patroni.maximum_lag_on_failover = 2048;
        let diff = diff_values(&old, &new, &running(&old), 3);
        let lines: Vec<String> = diff.changes.iter().map(ToString::to_string).collect();
        assert!(
            lines.contains(&"postgres.parameters.work_mem: (unset) → 8MB (reload)".to_owned()),
            "{lines:?}"
        );
        assert!(
            lines.contains(
                &"postgres.parameters.max_connections: (unset) → 150 (restart)".to_owned()
            ),
            "{lines:?}"
        );
        assert!(diff.restart);
        let patch = diff.patch.unwrap();
        assert_eq!(patch["maximum_lag_on_failover"], 2048);
        assert_eq!(patch["postgresql"]["parameters"]["work_mem"], "8MB");
    }

    #[test]
    fn a_removed_parameter_is_unset_and_senders_are_never_lowered() {
        let mut old = Values::default();
        old.postgres.parameters.insert(
            "work_mem".into(),
            crate::values::ParameterValue::String("8MB".into()),
        );
        let new = Values::default();
        let mut live = running(&old);
        live["postgresql"]["parameters"]["max_wal_senders"] = json!(10);
        let diff = diff_values(&old, &new, &live, 3);
        let patch = diff.patch.unwrap();
        assert_eq!(patch["postgresql"]["parameters"]["work_mem"], Value::Null);
        assert!(
            patch["postgresql"]["parameters"]
                .get("max_wal_senders")
                .is_none()
        );
    }

    #[test]
    fn passwords_replicas_and_fixed_settings() {
        let old = Values::default();
        let mut new = old.clone();
        new.postgres.password = "another-Password-77".into();
        new.replicas = 5;
        new.postgres.username = "other".into();
        let diff = diff_values(&old, &new, &running(&old), 3);
        assert!(diff.password && diff.replicas == Some(5));
        assert_eq!(diff.refused.len(), 1);
        assert!(!format!("{diff:?}").contains("another-Password-77"));
    }
}
