//! Conditions a step waits for, checked against the cluster view and composed with
//! [`Condition::and`]: `leader_is("db-pg1").and(all_streaming(3))`.

use std::fmt;

use super::model::{ClusterView, State};

/// Something the cluster view must show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// This member leads and accepts writes.
    LeaderIs(String),
    /// Some member other than this one leads and accepts writes.
    LeaderIsNot(String),
    /// Some member leads and accepts writes.
    HealthyLeader,
    /// A healthy leader and this many members in all, every other one streaming.
    AllStreaming(usize),
    /// This member is a replica receiving WAL.
    Streaming(String),

    /// This member runs PostgreSQL (leader or replica) and no restart is pending.
    Restarted(String),
    /// A changed setting waits for a restart of this member.
    PendingRestart(String),
    /// Automatic failover is off (`true`) or on.
    Paused(bool),
    /// This member is no longer in the view.
    Gone(String),
    All(Vec<Condition>),
}

/// This member leads and accepts writes.
#[must_use]
pub fn leader_is(member: &str) -> Condition {
    Condition::LeaderIs(member.to_owned())
}

/// A healthy leader and `members` members in all, every other one streaming.
#[must_use]
pub fn all_streaming(members: usize) -> Condition {
    Condition::AllStreaming(members)
}

impl Condition {
    /// Both this and `other`.
    #[must_use]
    pub fn and(self, other: Condition) -> Condition {
        match self {
            Condition::All(mut all) => {
                all.push(other);
                Condition::All(all)
            }
            first => Condition::All(vec![first, other]),
        }
    }

    /// Whether `view` shows it.
    #[must_use]
    pub fn holds(&self, view: &ClusterView) -> bool {
        self.unmet(view).is_empty()
    }

    /// What `view` does not show yet, in words (empty when the condition holds).
    #[must_use]
    pub fn unmet(&self, view: &ClusterView) -> Vec<String> {
        let leader = view.healthy_leader();
        let met = match self {
            Condition::All(all) => return all.iter().flat_map(|c| c.unmet(view)).collect(),
            Condition::LeaderIs(name) => leader.is_some_and(|l| &l.name == name),
            Condition::LeaderIsNot(name) => leader.is_some_and(|l| &l.name != name),
            Condition::HealthyLeader => leader.is_some(),
            Condition::AllStreaming(count) => {
                leader.is_some()
                    && view.members.len() == *count
                    && view.streaming().count() + 1 == *count
            }
            Condition::Streaming(name) => view
                .member(name)
                .is_some_and(super::model::Member::is_streaming),
            Condition::Restarted(name) => view.member(name).is_some_and(|m| {
                !m.pending_restart
                    && (m.is_streaming() || (m.is_healthy_leader() && m.state == State::Running))
            }),
            Condition::PendingRestart(name) => view.member(name).is_some_and(|m| m.pending_restart),
            Condition::Paused(paused) => view.paused == *paused,
            Condition::Gone(name) => view.member(name).is_none(),
        };
        if met {
            Vec::new()
        } else {
            vec![self.to_string()]
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::LeaderIs(name) => write!(f, "{name} leads"),
            Condition::LeaderIsNot(name) => write!(f, "a member other than {name} leads"),
            Condition::HealthyLeader => f.write_str("a leader accepts writes"),
            Condition::AllStreaming(count) => {
                write!(f, "{count} members, every replica streaming")
            }
            Condition::Streaming(name) => write!(f, "{name} streams"),
            Condition::Restarted(name) => write!(f, "{name} runs with no restart pending"),
            Condition::PendingRestart(name) => write!(f, "{name} has a restart pending"),
            Condition::Paused(true) => f.write_str("the cluster is paused"),
            Condition::Paused(false) => f.write_str("the cluster is not paused"),
            Condition::Gone(name) => write!(f, "{name} has left the cluster"),
            Condition::All(all) => {
                let parts: Vec<String> = all.iter().map(ToString::to_string).collect();
                f.write_str(&parts.join(" and "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(body: &str) -> ClusterView {
        ClusterView::from_json(body).unwrap()
    }

    #[test]
    fn conditions_compose_and_say_what_is_missing() {
        let v = view(
            r#"{"members": [
            {"name": "a", "role": "leader", "state": "running"},
            {"name": "b", "role": "replica", "state": "streaming", "lag": 0},
            {"name": "c", "role": "replica", "state": "starting"}]}"#,
        );
        assert!(leader_is("a").holds(&v));
        assert!(!leader_is("b").holds(&v));
        let both = leader_is("a").and(all_streaming(3));
        assert_eq!(both.unmet(&v), ["3 members, every replica streaming"]);
        assert!(leader_is("a").and(all_streaming(2)).unmet(&v).len() == 1);
        assert!(Condition::Streaming("b".into()).holds(&v));
        assert!(Condition::Gone("d".into()).holds(&v));
        assert_eq!(
            both.to_string(),
            "a leads and 3 members, every replica streaming"
        );
    }

    #[test]
    fn a_stopped_leader_is_no_leader() {
        let v = view(r#"{"members": [{"name": "a", "role": "leader", "state": "stopping"}]}"#);
        assert!(!Condition::HealthyLeader.holds(&v));
        assert!(!Condition::LeaderIsNot("b".into()).holds(&v));
    }
}
