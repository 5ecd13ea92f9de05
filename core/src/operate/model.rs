//! Patroni's view of a cluster (`GET /cluster`), typed.

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

/// A member's role, as Patroni reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Leader,
    /// The leader of a standby cluster (replicates from elsewhere).
    StandbyLeader,
    /// A replica that commits wait for in synchronous mode.
    SyncStandby,
    /// A replica that takes part in quorum commit.
    QuorumStandby,
    Replica,
    /// A role this version of postgres-ha does not know.
    Unknown,
}

impl Role {
    fn parse(text: &str) -> Self {
        match text {
            "leader" | "master" | "primary" => Self::Leader,
            "standby_leader" => Self::StandbyLeader,
            "sync_standby" => Self::SyncStandby,
            "quorum_standby" => Self::QuorumStandby,
            "replica" => Self::Replica,
            _ => Self::Unknown,
        }
    }

    /// Patroni's word for the role.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Leader => "leader",
            Self::StandbyLeader => "standby_leader",
            Self::SyncStandby => "sync_standby",
            Self::QuorumStandby => "quorum_standby",
            Self::Replica => "replica",
            Self::Unknown => "unknown",
        }
    }

    /// Whether the member holds the leader key.
    #[must_use]
    pub fn leads(self) -> bool {
        matches!(self, Self::Leader | Self::StandbyLeader)
    }

    /// Whether commits wait for this member (it may be promoted in synchronous mode).
    #[must_use]
    pub fn is_synchronous(self) -> bool {
        matches!(self, Self::SyncStandby | Self::QuorumStandby)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A member's state, as Patroni reports it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// PostgreSQL runs (a leader, or a replica not yet streaming).
    Running,
    /// A replica receiving WAL from its upstream.
    Streaming,
    /// A replica replaying WAL from the archive.
    InArchiveRecovery,
    Starting,
    Stopping,
    Stopped,
    Restarting,
    Crashed,
    /// Start, stop, restart or bootstrap failed.
    Failed(String),
    /// `pg_basebackup` or another method builds the member.
    CreatingReplica,
    /// The first member runs initdb.
    Initializing,
    /// A state this version of postgres-ha does not know, kept as Patroni wrote it.
    Other(String),
}

impl State {
    fn parse(text: &str) -> Self {
        match text {
            "running" => Self::Running,
            "streaming" => Self::Streaming,
            "in archive recovery" => Self::InArchiveRecovery,
            "starting" | "starting after custom bootstrap" => Self::Starting,
            "stopping" => Self::Stopping,
            "stopped" => Self::Stopped,
            "restarting" => Self::Restarting,
            "crashed" => Self::Crashed,
            "creating replica" => Self::CreatingReplica,
            "initializing new cluster" | "running custom bootstrap script" => Self::Initializing,
            failed if failed.ends_with("failed") => Self::Failed(failed.to_owned()),
            other => Self::Other(other.to_owned()),
        }
    }

    /// Patroni's words for the state.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Running => "running",
            Self::Streaming => "streaming",
            Self::InArchiveRecovery => "in archive recovery",
            Self::Starting => "starting",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Restarting => "restarting",
            Self::Crashed => "crashed",
            Self::CreatingReplica => "creating replica",
            Self::Initializing => "initializing new cluster",
            Self::Failed(text) | Self::Other(text) => text,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How far a replica is behind its leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lag {
    /// The member leads: nothing to catch up.
    None,
    Bytes(u64),
    /// Patroni cannot tell (the member is not replicating).
    Unknown,
}

impl Lag {
    /// Bytes behind, when known (0 for the leader).
    #[must_use]
    pub fn bytes(self) -> Option<u64> {
        match self {
            Self::None => Some(0),
            Self::Bytes(bytes) => Some(bytes),
            Self::Unknown => None,
        }
    }
}

/// One member of the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub role: Role,
    pub state: State,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub api_url: Option<String>,
    pub timeline: Option<u64>,
    pub lag: Lag,
    /// A changed setting waits for a restart of this member.
    pub pending_restart: bool,
    /// Tagged `nofailover`: never promoted.
    pub nofailover: bool,
}

impl Member {
    /// Whether the member runs PostgreSQL as a leader that accepts writes.
    #[must_use]
    pub fn is_healthy_leader(&self) -> bool {
        self.role == Role::Leader && self.state == State::Running
    }

    /// Whether the member is a replica receiving WAL.
    #[must_use]
    pub fn is_streaming(&self) -> bool {
        !self.role.leads() && self.state == State::Streaming
    }
}

/// The whole cluster as one member's Patroni sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterView {
    pub members: Vec<Member>,
    /// Automatic failover is off (`pause`).
    pub paused: bool,
    /// A switchover waits for its time.
    pub scheduled_switchover: Option<String>,
}

/// `GET /cluster`'s body was not what Patroni sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Patroni's cluster view could not be read: {}", self.0)
    }
}

impl std::error::Error for ParseError {}

/// One member's own account of itself (`GET /patroni` on that member): unlike the
/// cluster view, which members refresh in etcd once per loop, it is current.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberStatus {
    pub state: State,
    pub role: Role,
    /// When its PostgreSQL started: a rebuilt or restarted member has a new one.
    pub postmaster_start_time: Option<String>,
    /// `streaming` once a replica receives WAL.
    pub replication_state: Option<String>,
    /// Where its WAL stands now: the leader's write position, or the furthest a
    /// replica has received (or replayed).
    pub wal_position: Option<u64>,
}

impl MemberStatus {
    /// Reads Patroni's `GET /patroni` body.
    pub fn from_json(body: &str) -> Result<Self, ParseError> {
        let raw: Value = serde_json::from_str(body).map_err(|e| ParseError(e.to_string()))?;
        let text = |key: &str| raw[key].as_str().map(str::to_owned);
        Ok(Self {
            state: State::parse(raw["state"].as_str().unwrap_or_default()),
            role: Role::parse(raw["role"].as_str().unwrap_or_default()),
            postmaster_start_time: text("postmaster_start_time"),
            replication_state: text("replication_state"),
            wal_position: ["location", "received_location", "replayed_location"]
                .iter()
                .filter_map(|key| raw["xlog"][key].as_u64())
                .max(),
        })
    }

    /// Whether it runs as a replica that receives WAL.
    #[must_use]
    pub fn is_streaming_replica(&self) -> bool {
        self.state == State::Running
            && !self.role.leads()
            && self.replication_state.as_deref() == Some("streaming")
    }
}

#[derive(Deserialize)]
struct RawView {
    #[serde(default)]
    members: Vec<RawMember>,
    #[serde(default)]
    pause: bool,
    #[serde(default)]
    scheduled_switchover: Option<Value>,
}

#[derive(Deserialize)]
struct RawMember {
    name: String,
    role: String,
    #[serde(default)]
    state: String,
    host: Option<String>,
    port: Option<u16>,
    api_url: Option<String>,
    timeline: Option<u64>,
    lag: Option<Value>,
    #[serde(default)]
    pending_restart: bool,
    #[serde(default)]
    tags: Option<Value>,
}

impl ClusterView {
    /// Reads Patroni's `GET /cluster` body.
    pub fn from_json(body: &str) -> Result<Self, ParseError> {
        let raw: RawView = serde_json::from_str(body).map_err(|e| ParseError(e.to_string()))?;
        let members = raw
            .members
            .into_iter()
            .map(|m| {
                let role = Role::parse(&m.role);
                let lag = if role.leads() {
                    Lag::None
                } else {
                    m.lag
                        .as_ref()
                        .and_then(Value::as_u64)
                        .map_or(Lag::Unknown, Lag::Bytes)
                };
                Member {
                    name: m.name,
                    role,
                    state: State::parse(&m.state),
                    host: m.host,
                    port: m.port,
                    api_url: m.api_url,
                    timeline: m.timeline,
                    lag,
                    pending_restart: m.pending_restart,
                    nofailover: m
                        .tags
                        .as_ref()
                        .is_some_and(|t| t["nofailover"] == Value::Bool(true)),
                }
            })
            .collect();
        Ok(Self {
            members,
            paused: raw.pause,
            scheduled_switchover: raw.scheduled_switchover.map(|s| {
                s["at"]
                    .as_str()
                    .map_or_else(|| s.to_string(), str::to_owned)
            }),
        })
    }

    /// The member holding the leader key, whatever its state.
    #[must_use]
    pub fn leader(&self) -> Option<&Member> {
        self.members.iter().find(|m| m.role.leads())
    }

    /// The leader when it runs and accepts writes.
    #[must_use]
    pub fn healthy_leader(&self) -> Option<&Member> {
        self.members.iter().find(|m| m.is_healthy_leader())
    }

    #[must_use]
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }

    /// Replicas currently receiving WAL.
    pub fn streaming(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.is_streaming())
    }

    /// Replaces each replica's lag by one from current positions. Members write their
    /// positions to etcd once per loop, at different moments, so under writes the
    /// view's lag is off by up to a loop's worth of WAL; the members' own accounts,
    /// asked the leader first, bound the true lag from above. Members without a
    /// current position keep the view's figure.
    pub fn refresh_lag(&mut self, leader_position: u64, replicas: &[(String, u64)]) {
        for member in &mut self.members {
            if member.role.leads() {
                continue;
            }
            if let Some((_, position)) = replicas.iter().find(|(name, _)| *name == member.name) {
                member.lag = Lag::Bytes(leader_position.saturating_sub(*position));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"members": [
        {"name": "db-pg0", "role": "replica", "state": "streaming", "api_url": "http://127.0.0.1:8009/patroni", "host": "127.0.0.1", "port": 5433, "timeline": 2, "lag": 16, "pending_restart": true},
        {"name": "db-pg1", "role": "leader", "state": "running", "host": "127.0.0.1", "port": 5434, "timeline": 2},
        {"name": "db-pg2", "role": "sync_standby", "state": "streaming", "timeline": 2, "lag": 0, "tags": {"nofailover": true}},
        {"name": "db-pg3", "role": "replica", "state": "start failed", "lag": "unknown"}
    ], "scope": "db", "pause": true, "scheduled_switchover": {"at": "2026-12-01T10:00:00+00:00", "from": "db-pg1"}}"#;

    #[test]
    fn reads_patronis_cluster_view() {
        let view = ClusterView::from_json(BODY).unwrap();
        assert!(view.paused);
        assert_eq!(
            view.scheduled_switchover.as_deref(),
            Some("2026-12-01T10:00:00+00:00")
        );
        assert_eq!(view.healthy_leader().unwrap().name, "db-pg1");
        assert_eq!(view.leader().unwrap().lag, Lag::None);
        let pg0 = view.member("db-pg0").unwrap();
        assert_eq!(
            (pg0.role, pg0.lag, pg0.pending_restart),
            (Role::Replica, Lag::Bytes(16), true)
        );
        let pg2 = view.member("db-pg2").unwrap();
        assert!(pg2.role.is_synchronous() && pg2.nofailover);
        let pg3 = view.member("db-pg3").unwrap();
        assert_eq!(pg3.state, State::Failed("start failed".into()));
        assert_eq!(pg3.lag, Lag::Unknown);
        assert_eq!(view.streaming().count(), 2);
    }

    #[test]
    fn reads_a_members_own_status() {
        let status = MemberStatus::from_json(
            r#"{"state": "running", "postmaster_start_time": "2026-12-01 09:13:46.220193+00:00", "role": "replica", "replication_state": "streaming", "timeline": 1}"#,
        )
        .unwrap();
        assert!(status.is_streaming_replica());
        assert_eq!(
            status.postmaster_start_time.as_deref(),
            Some("2026-12-01 09:13:46.220193+00:00")
        );
        assert_eq!(status.wal_position, None);
        let leader = MemberStatus::from_json(
            r#"{"state": "running", "role": "primary", "xlog": {"location": 83886080}}"#,
        )
        .unwrap();
        assert!(!leader.is_streaming_replica());
        assert_eq!(leader.wal_position, Some(83_886_080));
        let replica = MemberStatus::from_json(
            r#"{"state": "running", "role": "replica", "xlog": {"received_location": 83886000, "replayed_location": 83885000, "paused": false}}"#,
        )
        .unwrap();
        assert_eq!(replica.wal_position, Some(83_886_000));
    }

    #[test]
    fn current_positions_replace_the_views_lag() {
        let mut view = ClusterView::from_json(BODY).unwrap();
        // Ahead of the leader's sample (it streamed on meanwhile): no lag, not a wrap.
        view.refresh_lag(1000, &[("db-pg0".into(), 900), ("db-pg2".into(), 1200)]);
        assert_eq!(view.member("db-pg0").unwrap().lag, Lag::Bytes(100));
        assert_eq!(view.member("db-pg2").unwrap().lag, Lag::Bytes(0));
        assert_eq!(view.member("db-pg3").unwrap().lag, Lag::Unknown);
        assert_eq!(view.leader().unwrap().lag, Lag::None);
    }

    #[test]
    fn unknown_words_are_kept_not_guessed() {
        let view = ClusterView::from_json(
            r#"{"members": [{"name": "a", "role": "witness", "state": "dreaming"}]}"#,
        )
        .unwrap();
        assert_eq!(view.members[0].role, Role::Unknown);
        assert_eq!(view.members[0].state.as_str(), "dreaming");
        assert!(ClusterView::from_json("<html>").is_err());
    }
}
