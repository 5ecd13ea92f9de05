//! The planning of day-2 operations: preconditions checked against the cluster view,
//! then the steps, as data. The CLI prints them (`--dry-run`) or carries them out
//! through a transport.

use std::fmt;

use super::model::{ClusterView, Member, State};
use super::request::{Request, Sql};
use super::wait::{Condition, all_streaming, leader_is};
use crate::render::patroni::{MEMBER_SLOTS_TTL, slot_name};

/// Why an operation is refused, and what to do instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub reason: String,
    pub fix: String,
}

impl Refusal {
    fn new(reason: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; {}", self.reason, self.fix)
    }
}

impl std::error::Error for Refusal {}

/// The cluster's settings that decide who may take over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Only a synchronous standby may be promoted.
    pub synchronous_mode: bool,
    /// A replica further behind than this (bytes) is not promoted
    /// (`maximum_lag_on_failover`).
    pub maximum_lag: u64,
}

/// The file a switchover leaves in the leader's directory so that the member's
/// `before_stop` hook stops PostgreSQL itself at once (see
/// `render::scripts::before_stop`), instead of Patroni polling for a second.
pub const FAST_DEMOTE_MARKER: &str = "fast-demote";
/// How long an armed marker stays valid: a switchover that did not happen by then
/// must not make a later, unrelated stop fast.
pub const FAST_DEMOTE_SECONDS: u64 = 30;

/// The marker's text: the member it was armed for and the Unix time it lapses at.
#[must_use]
pub fn fast_demote_marker(member: &str, now_epoch: u64) -> String {
    format!("{member} {}\n", now_epoch + FAST_DEMOTE_SECONDS)
}

/// Seconds a step may wait for its condition.
pub const HANDOVER_WAIT: u32 = 60;
pub const RESTART_WAIT: u32 = 180;
pub const REINIT_WAIT: u32 = 900;
/// The platform takes up to about 90 s to act on a replica stop, then starts it again.
pub const RECREATE_WAIT: u32 = 600;

/// Which member a step acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum On {
    Member(String),
    /// Whichever member leads when the step runs (earlier steps may move the lead).
    Leader,
}

impl From<&str> for On {
    fn from(member: &str) -> Self {
        On::Member(member.to_owned())
    }
}

impl fmt::Display for On {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            On::Member(name) => f.write_str(name),
            On::Leader => f.write_str("the leader"),
        }
    }
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// SQL on a member.
    Sql { on: On, sql: Sql },
    /// A request to a member's Patroni.
    Patroni { on: On, request: Request },
    /// A switchover away from `leader`: checkpoint, arm the fast demote, ask Patroni,
    /// wait until the candidate accepts writes. With no candidate, the best replica
    /// at the moment the step runs ([`choose_candidate`]).
    Switchover {
        leader: String,
        candidate: Option<String>,
        /// Only these members may take over (all when empty).
        among: Vec<String>,
        scheduled: Option<String>,
    },
    /// Rebuild a replica from the leader: Patroni answers at once and works in the
    /// background, so the step lasts until the member runs again, with a new
    /// postmaster, as a streaming replica.
    Reinitialize { member: String },
    /// Stop the member's processes so that they start afresh from what the target
    /// keeps (on Control Plane the platform recreates the replica, with the secret's
    /// current values in its environment), then wait until it streams again.
    Recreate { member: String },
    /// Add `count` members (the target gives them names, addresses and storage).
    AddMembers { count: usize },
    /// Stop these members cleanly, unregister them and forget them; delete their
    /// data too when `purge`.
    RemoveMembers { members: Vec<String>, purge: bool },
    /// Wait until the cluster view shows `until`, at most `seconds`.
    Wait { until: Condition, seconds: u32 },
    /// Give Patroni this long (a loop and a second) to take up a configuration
    /// change that shows nowhere in the cluster view.
    Settle { seconds: u32 },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Sql { on, sql } => write!(f, "on {on}: {sql}"),
            Step::Patroni { on, request } => write!(f, "on {on}: {request}"),
            Step::Switchover {
                leader,
                candidate,
                among,
                scheduled,
            } => {
                match (candidate, among.is_empty()) {
                    (Some(candidate), _) => write!(f, "switch over from {leader} to {candidate}")?,
                    (None, true) => write!(
                        f,
                        "switch over from {leader} to the healthiest replica at that moment"
                    )?,
                    (None, false) => write!(
                        f,
                        "switch over from {leader} to the healthiest of {} at that moment",
                        among.join(", ")
                    )?,
                }
                if let Some(at) = scheduled {
                    write!(f, " at {at}")?;
                }
                Ok(())
            }
            Step::Reinitialize { member } => write!(
                f,
                "on {member}: POST /reinitialize, then wait until it streams again (at most {REINIT_WAIT} s)"
            ),
            Step::Recreate { member } => write!(
                f,
                "on {member}: stop it so that it starts afresh (on Control Plane the platform \
                 recreates the replica with the secret's current values), then wait until it \
                 streams again (at most {RECREATE_WAIT} s)"
            ),
            Step::AddMembers { count } => write!(
                f,
                "add {count} member{}",
                if *count == 1 { "" } else { "s" }
            ),
            Step::RemoveMembers { members, purge } => write!(
                f,
                "stop and remove {}{}",
                members.join(", "),
                if *purge {
                    " and delete their data"
                } else {
                    " (their data is kept)"
                }
            ),
            Step::Wait { until, seconds } => write!(f, "wait until {until} (at most {seconds} s)"),
            Step::Settle { seconds } => write!(f, "give Patroni {seconds} s to take it up"),
        }
    }
}

/// An operation's steps, and what it does in a sentence.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub summary: String,
    pub steps: Vec<Step>,
}

impl Plan {
    /// A plan with nothing to do.
    fn nothing(summary: impl Into<String>) -> Self {
        Self {
            summary: summary.into(),
            steps: Vec::new(),
        }
    }
}

fn require_leader(view: &ClusterView) -> Result<&Member, Refusal> {
    view.healthy_leader().ok_or_else(|| {
        Refusal::new(
            match view.leader() {
                Some(leader) => format!("the leader {} is {}", leader.name, leader.state),
                None => "no member leads the cluster".to_owned(),
            },
            "wait for Patroni to elect one, or promote a replica with `failover --candidate MEMBER`",
        )
    })
}

fn require_member<'a>(view: &'a ClusterView, name: &str) -> Result<&'a Member, Refusal> {
    view.member(name).ok_or_else(|| {
        let names: Vec<&str> = view.members.iter().map(|m| m.name.as_str()).collect();
        Refusal::new(
            format!("the cluster has no member {name}"),
            format!("its members are {}", names.join(", ")),
        )
    })
}

/// Why `member` cannot take over from the current leader, if it cannot.
fn unfit(member: &Member, leader: &Member, policy: &Policy) -> Option<String> {
    if member.nofailover {
        return Some("is tagged nofailover".into());
    }
    if !member.is_streaming() {
        return Some(format!("is {}, not streaming", member.state));
    }
    if member.timeline != leader.timeline {
        return Some("is on another timeline than the leader".into());
    }
    match member.lag.bytes() {
        None => return Some("has an unknown lag".into()),
        Some(lag) if lag > policy.maximum_lag => {
            return Some(format!(
                "is {lag} bytes behind (more than maximum_lag_on_failover, {})",
                policy.maximum_lag
            ));
        }
        Some(_) => {}
    }
    if policy.synchronous_mode && !member.role.is_synchronous() {
        return Some(
            "is not a synchronous standby (in synchronous mode only one may take over)".into(),
        );
    }
    None
}

/// The member a switchover hands the lead to: `requested` when it is fit, else the
/// fittest replica — a synchronous standby first, then the least lag, then the name.
pub fn choose_candidate<'a>(
    view: &'a ClusterView,
    requested: Option<&str>,
    policy: &Policy,
) -> Result<&'a Member, Refusal> {
    let leader = require_leader(view)?;
    if let Some(name) = requested {
        let member = require_member(view, name)?;
        if member.name == leader.name {
            return Err(Refusal::new(
                format!("{name} already leads"),
                "name another member with --candidate, or leave it out",
            ));
        }
        return match unfit(member, leader, policy) {
            None => Ok(member),
            Some(why) => Err(Refusal::new(
                format!("{name} cannot take over: it {why}"),
                "wait until it streams and catches up (`status`), or name another member",
            )),
        };
    }
    let mut fit: Vec<&Member> = view
        .members
        .iter()
        .filter(|m| m.name != leader.name && unfit(m, leader, policy).is_none())
        .collect();
    fit.sort_by_key(|m| (!m.role.is_synchronous(), m.lag.bytes(), m.name.clone()));
    fit.first().copied().ok_or_else(|| {
        let reasons: Vec<String> = view
            .members
            .iter()
            .filter(|m| m.name != leader.name)
            .filter_map(|m| unfit(m, leader, policy).map(|why| format!("{} {why}", m.name)))
            .collect();
        Refusal::new(
            if reasons.is_empty() {
                "no replica can take over: the leader is the only member".to_owned()
            } else {
                format!("no replica can take over: {}", reasons.join("; "))
            },
            "wait until a replica streams and catches up (`status`)",
        )
    })
}

/// `switchover [--candidate M] [--scheduled T]`.
pub fn plan_switchover(
    view: &ClusterView,
    requested: Option<&str>,
    scheduled: Option<&str>,
    policy: &Policy,
) -> Result<Plan, Refusal> {
    let leader = require_leader(view)?;
    let candidate = choose_candidate(view, requested, policy)?;
    let mut steps = vec![Step::Switchover {
        leader: leader.name.clone(),
        candidate: Some(candidate.name.clone()),
        among: Vec::new(),
        scheduled: scheduled.map(str::to_owned),
    }];
    if scheduled.is_none() {
        steps.push(Step::Wait {
            until: leader_is(&candidate.name),
            seconds: HANDOVER_WAIT,
        });
    }
    Ok(Plan {
        summary: match scheduled {
            Some(at) => format!(
                "switch over from {} to {} at {at}",
                leader.name, candidate.name
            ),
            None => format!("switch over from {} to {}", leader.name, candidate.name),
        },
        steps,
    })
}

/// `failover --candidate M`: for a cluster whose leader is gone or broken.
/// `leader_writable` is what a probe of the leader found: Patroni may still report
/// a leader whose PostgreSQL died (while paused, for one).
pub fn plan_failover(
    view: &ClusterView,
    candidate: &str,
    leader_writable: bool,
) -> Result<Plan, Refusal> {
    if let Some(leader) = view.healthy_leader().filter(|_| leader_writable) {
        return Err(Refusal::new(
            format!("{} leads and accepts writes", leader.name),
            "use `switchover` for a healthy cluster: it hands over without losing writes",
        ));
    }
    let member = require_member(view, candidate)?;
    if member.nofailover {
        return Err(Refusal::new(
            format!("{candidate} is tagged nofailover"),
            "name another member",
        ));
    }
    if !matches!(member.state, State::Running | State::Streaming) {
        return Err(Refusal::new(
            format!(
                "{candidate} is {}: its PostgreSQL does not run",
                member.state
            ),
            "name a member whose state is running or streaming (`status`)",
        ));
    }
    Ok(Plan {
        summary: format!("promote {candidate} (failover)"),
        steps: vec![
            Step::Patroni {
                on: candidate.into(),
                request: Request::failover(candidate),
            },
            Step::Wait {
                until: leader_is(candidate),
                seconds: HANDOVER_WAIT,
            },
        ],
    })
}

/// `restart [--member M]`: replicas one at a time, then one switchover, then the old
/// leader, so clients see a single short write gap instead of a restart's.
pub fn plan_restart(view: &ClusterView, only: Option<&str>) -> Result<Plan, Refusal> {
    let targets = match only {
        Some(name) => vec![require_member(view, name)?.name.clone()],
        None => view.members.iter().map(|m| m.name.clone()).collect(),
    };
    let leader = require_leader(view)?.name.clone();
    let restart = |name: &str| {
        vec![
            Step::Patroni {
                on: name.into(),
                request: Request::restart(),
            },
            Step::Wait {
                until: Condition::Restarted(name.to_owned()),
                seconds: RESTART_WAIT,
            },
        ]
    };
    // The old leader finishes its demotion and follows the new one before Patroni
    // takes another request for it.
    let handed = Condition::LeaderIsNot(leader.clone()).and(Condition::Streaming(leader.clone()));
    let steps = rolling(view, &targets, restart, handed)?;
    Ok(Plan {
        summary: match only {
            Some(name) if *name == leader => {
                format!("restart the leader {name} after a switchover")
            }
            Some(name) => format!("restart {name}"),
            None => format!(
                "rolling restart of {} members, the leader last",
                view.members.len()
            ),
        },
        steps,
    })
}

/// `restart --recreate`, and a rotation where members read passwords from their
/// environment: the `targets` (every member when empty) stopped and started afresh in
/// the rolling order, the leader after a switchover.
pub fn plan_recreate(view: &ClusterView, targets: &[String]) -> Result<Plan, Refusal> {
    for name in targets {
        require_member(view, name)?;
    }
    let targets: Vec<String> = if targets.is_empty() {
        view.members.iter().map(|m| m.name.clone()).collect()
    } else {
        targets.to_vec()
    };
    let leader = require_leader(view)?.name.clone();
    let recreate = |name: &str| {
        vec![Step::Recreate {
            member: name.to_owned(),
        }]
    };
    // Once another member leads, the old leader is recreated at once: with a rotated
    // replication password it could not follow the new leader before.
    let handed = Condition::LeaderIsNot(leader);
    let steps = rolling(view, &targets, recreate, handed)?;
    Ok(Plan {
        summary: format!(
            "stop and start afresh {}, the leader last",
            if targets.len() == view.members.len() {
                format!("all {} members", targets.len())
            } else {
                targets.join(", ")
            }
        ),
        steps,
    })
}

/// The rolling order both restarts share: each replica among `targets` (`each` gives
/// its steps), then, if the leader is a target, a switchover, a wait until `handed`,
/// and the old leader's own steps; last, a wait until every member streams.
fn rolling(
    view: &ClusterView,
    targets: &[String],
    each: impl Fn(&str) -> Vec<Step>,
    handed: Condition,
) -> Result<Vec<Step>, Refusal> {
    let leader = require_leader(view)?;
    let count = view.members.len();
    let mut steps = Vec::new();
    for name in targets.iter().filter(|n| **n != leader.name) {
        steps.extend(each(name));
    }
    if targets.contains(&leader.name) {
        if count < 2 {
            return Err(Refusal::new(
                "the leader is the only member: restarting it stops writes for the whole restart",
                "scale to two or more members first",
            ));
        }
        steps.push(Step::Switchover {
            leader: leader.name.clone(),
            candidate: None,
            among: Vec::new(),
            scheduled: None,
        });
        steps.push(Step::Wait {
            until: handed,
            seconds: RESTART_WAIT,
        });
        steps.extend(each(&leader.name));
    }
    steps.push(Step::Wait {
        until: all_streaming(count),
        seconds: RESTART_WAIT,
    });
    Ok(steps)
}

/// What `scale` needs besides the cluster view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScaleInput<'a> {
    /// Every member in the target's order: a scale-down removes the last ones (as a
    /// stateful workload removes its highest replicas).
    pub ordered: &'a [String],
    pub target: usize,
    /// The running `max_wal_senders` (and `max_replication_slots`, its twin).
    pub max_wal_senders: u64,
    /// Delete removed members' data.
    pub purge: bool,
    /// The running `synchronous_node_count`.
    pub synchronous_node_count: u64,
}

/// `scale --replicas N`. Down: never removes the leader (it first switches over to a
/// member that stays), drops the removed members' slots and registrations. Up: raises
/// `max_wal_senders` first when the new count needs it (with a rolling restart), then
/// waits until the new members stream.
pub fn plan_scale(
    view: &ClusterView,
    input: &ScaleInput<'_>,
    policy: &Policy,
) -> Result<Plan, Refusal> {
    let leader = require_leader(view)?;
    let current = input.ordered.len();
    let target = input.target;
    if target == 0 || target > crate::limits::MAX_REPLICA_DIRECT as usize {
        return Err(Refusal::new(
            format!("{target} members is out of range"),
            format!("scale to 1 … {}", crate::limits::MAX_REPLICA_DIRECT),
        ));
    }
    if target == current {
        return Ok(Plan::nothing(format!(
            "the cluster already has {current} members"
        )));
    }
    let mut steps = Vec::new();
    if target > current {
        // Each member streams over one sender and one slot; a base backup needs one
        // more, and the generator's `replicas + 4` leaves room for it.
        let needed = target as u64 + 2;
        if input.max_wal_senders < needed {
            let raised = target as u64 + 4;
            steps.push(Step::Patroni {
                on: On::Leader,
                request: Request::patch_config(serde_json::json!({"postgresql": {"parameters": {
                    "max_wal_senders": raised,
                    "max_replication_slots": raised,
                }}})),
            });
            steps.extend(plan_restart(view, None)?.steps);
        }
        steps.push(Step::AddMembers {
            count: target - current,
        });
        steps.push(Step::Wait {
            until: all_streaming(target),
            seconds: REINIT_WAIT,
        });
        return Ok(Plan {
            summary: format!("scale from {current} to {target} members"),
            steps,
        });
    }
    let (staying, leaving) = input.ordered.split_at(target);
    if leaving.contains(&leader.name) {
        // Staying members must be able to take over (they may still be catching
        // up: the switchover waits for one to be fit).
        if staying
            .iter()
            .all(|m| view.member(m).is_none_or(|m| m.nofailover))
        {
            return Err(Refusal::new(
                format!(
                    "the leader {} would be removed, and no staying member may be promoted",
                    leader.name
                ),
                "scale to a count that keeps a promotable member",
            ));
        }
        // In synchronous mode the synchronous standby may be a leaving member: for
        // the handover every replica is made synchronous for a moment (commits wait
        // for all of them: slower, never less safe).
        let replicas = view.members.len() as u64 - 1;
        let widen = policy.synchronous_mode && input.synchronous_node_count < replicas;
        if widen {
            steps.push(Step::Patroni {
                on: On::Leader,
                request: Request::patch_config(
                    serde_json::json!({"synchronous_node_count": replicas}),
                ),
            });
        }
        steps.push(Step::Switchover {
            leader: leader.name.clone(),
            candidate: None,
            among: staying.to_vec(),
            scheduled: None,
        });
        steps.push(Step::Wait {
            until: Condition::LeaderIsNot(leader.name.clone()),
            seconds: HANDOVER_WAIT,
        });
        if widen {
            steps.push(Step::Patroni {
                on: On::Leader,
                request: Request::patch_config(
                    serde_json::json!({"synchronous_node_count": input.synchronous_node_count}),
                ),
            });
        }
    }
    let slots = leaving
        .iter()
        .map(|m| slot_name(m))
        .collect::<Vec<_>>()
        .join(",");
    // Patroni would keep the leaving members' slots (pinning WAL) for
    // `member_slots_ttl`; with 0 it drops them once they are unregistered.
    steps.push(Step::Patroni {
        on: On::Leader,
        request: Request::patch_config(serde_json::json!({"member_slots_ttl": 0})),
    });
    steps.push(Step::RemoveMembers {
        members: leaving.to_vec(),
        purge: input.purge,
    });
    steps.push(Step::Sql {
        on: On::Leader,
        sql: Sql::drop_slots(slots),
    });
    steps.push(Step::Patroni {
        on: On::Leader,
        request: Request::patch_config(serde_json::json!({"member_slots_ttl": MEMBER_SLOTS_TTL})),
    });
    let mut until = all_streaming(target);
    for member in leaving {
        until = until.and(Condition::Gone(member.clone()));
    }
    steps.push(Step::Wait {
        until,
        seconds: HANDOVER_WAIT,
    });
    Ok(Plan {
        summary: format!(
            "scale from {current} to {target} members, removing {}",
            leaving.join(", ")
        ),
        steps,
    })
}

/// `reload`: every member re-reads its configuration.
#[must_use]
pub fn plan_reload(view: &ClusterView) -> Plan {
    Plan {
        summary: format!("reload the configuration of {} members", view.members.len()),
        steps: view
            .members
            .iter()
            .map(|m| Step::Patroni {
                on: m.name.as_str().into(),
                request: Request::reload(),
            })
            .collect(),
    }
}

/// `pause` (`true`) or `resume`.
pub fn plan_pause(view: &ClusterView, paused: bool) -> Result<Plan, Refusal> {
    if view.paused == paused {
        return Ok(Plan::nothing(if paused {
            "the cluster is already paused"
        } else {
            "the cluster is not paused"
        }));
    }
    let member = view
        .healthy_leader()
        .or_else(|| view.members.first())
        .ok_or_else(|| Refusal::new("no member answers", "check `status`"))?;
    Ok(Plan {
        summary: if paused {
            "pause automatic failover (Patroni keeps running; a failed leader is not replaced)"
                .into()
        } else {
            "resume automatic failover".into()
        },
        steps: vec![
            Step::Patroni {
                on: member.name.as_str().into(),
                request: Request::pause(paused),
            },
            Step::Wait {
                until: Condition::Paused(paused),
                seconds: HANDOVER_WAIT,
            },
        ],
    })
}

/// `reinit --member M`: rebuild a replica from the leader.
pub fn plan_reinit(view: &ClusterView, member: &str) -> Result<Plan, Refusal> {
    let leader = require_leader(view)?;
    let target = require_member(view, member)?;
    if target.name == leader.name {
        return Err(Refusal::new(
            format!("{member} is the leader, and a leader cannot be rebuilt from itself"),
            "switch over first (`switchover`), then reinit it",
        ));
    }
    Ok(Plan {
        summary: format!(
            "rebuild {member} from the leader {} (its data is replaced)",
            leader.name
        ),
        steps: vec![
            Step::Reinitialize {
                member: member.to_owned(),
            },
            Step::Wait {
                until: Condition::Streaming(member.to_owned()),
                seconds: REINIT_WAIT,
            },
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(members: &[(&str, &str, &str, Option<u64>)]) -> ClusterView {
        let members: Vec<String> = members
            .iter()
            .map(|(name, role, state, lag)| {
                let lag = lag.map_or("\"unknown\"".to_owned(), |l| l.to_string());
                format!(
                    r#"{{"name": "{name}", "role": "{role}", "state": "{state}", "timeline": 1, "lag": {lag}}}"#
                )
            })
            .collect();
        ClusterView::from_json(&format!(r#"{{"members": [{}]}}"#, members.join(","))).unwrap()
    }

    const ASYNC: Policy = Policy {
        synchronous_mode: false,
        maximum_lag: 1024,
    };
    const SYNC: Policy = Policy {
        synchronous_mode: true,
        maximum_lag: 1024,
    };

    fn healthy() -> ClusterView {
        view(&[
            ("a", "leader", "running", None),
            ("b", "replica", "streaming", Some(10)),
            ("c", "sync_standby", "streaming", Some(20)),
        ])
    }

    #[test]
    fn the_candidate_is_a_synchronous_standby_first_then_the_least_behind() {
        assert_eq!(
            choose_candidate(&healthy(), None, &ASYNC).unwrap().name,
            "c"
        );
        let v = view(&[
            ("a", "leader", "running", None),
            ("b", "replica", "streaming", Some(10)),
            ("c", "replica", "streaming", Some(5)),
        ]);
        assert_eq!(choose_candidate(&v, None, &ASYNC).unwrap().name, "c");
    }

    #[test]
    fn unfit_candidates_are_refused_with_the_reason() {
        let v = view(&[
            ("a", "leader", "running", None),
            ("b", "replica", "streaming", Some(5000)),
            ("c", "replica", "starting", None),
            ("d", "sync_standby", "streaming", Some(0)),
        ]);
        let refusal = choose_candidate(&v, Some("b"), &ASYNC).unwrap_err();
        assert!(refusal.reason.contains("5000 bytes behind"), "{refusal}");
        let refusal = choose_candidate(&v, Some("c"), &ASYNC).unwrap_err();
        assert!(
            refusal.reason.contains("starting, not streaming"),
            "{refusal}"
        );
        let refusal = choose_candidate(&healthy(), Some("b"), &SYNC).unwrap_err();
        assert!(
            refusal.reason.contains("not a synchronous standby"),
            "{refusal}"
        );
        assert!(
            choose_candidate(&v, Some("a"), &ASYNC)
                .unwrap_err()
                .reason
                .contains("already leads")
        );
        assert!(
            choose_candidate(&v, Some("zz"), &ASYNC)
                .unwrap_err()
                .fix
                .contains("a, b, c, d")
        );
        let alone = view(&[
            ("a", "leader", "running", None),
            ("b", "replica", "stopped", None),
        ]);
        let refusal = choose_candidate(&alone, None, &ASYNC).unwrap_err();
        assert!(
            refusal.reason.contains("b is stopped, not streaming"),
            "{refusal}"
        );
    }

    #[test]
    fn switchover_needs_a_healthy_leader_and_failover_needs_its_absence() {
        let leaderless = view(&[
            ("a", "leader", "stopping", None),
            ("b", "replica", "streaming", Some(0)),
        ]);
        assert!(
            plan_switchover(&leaderless, None, None, &ASYNC)
                .unwrap_err()
                .fix
                .contains("failover")
        );
        let plan = plan_failover(&leaderless, "b", false).unwrap();
        assert_eq!(plan.steps.len(), 2);
        assert!(
            plan_failover(&healthy(), "b", true)
                .unwrap_err()
                .fix
                .contains("switchover")
        );
        // A leader Patroni still reports, but whose PostgreSQL refuses writes.
        assert!(plan_failover(&healthy(), "b", false).is_ok());
    }

    #[test]
    fn rolling_restart_does_replicas_then_one_switchover_then_the_old_leader() {
        let plan = plan_restart(&healthy(), None).unwrap();
        let lines: Vec<String> = plan.steps.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "on b: POST /restart",
                "wait until b runs with no restart pending (at most 180 s)",
                "on c: POST /restart",
                "wait until c runs with no restart pending (at most 180 s)",
                "switch over from a to the healthiest replica at that moment",
                "wait until a member other than a leads and a streams (at most 180 s)",
                "on a: POST /restart",
                "wait until a runs with no restart pending (at most 180 s)",
                "wait until 3 members, every replica streaming (at most 180 s)",
            ]
        );
        let one = plan_restart(&healthy(), Some("b")).unwrap();
        assert_eq!(one.steps.len(), 3);
    }

    #[test]
    fn recreating_does_replicas_then_the_old_leader_once_another_leads() {
        let plan = plan_recreate(&healthy(), &[]).unwrap();
        let kinds: Vec<String> = plan
            .steps
            .iter()
            .map(|s| match s {
                Step::Recreate { member } => format!("recreate {member}"),
                Step::Switchover { leader, .. } => format!("switchover {leader}"),
                Step::Wait { until, .. } => format!("wait {until}"),
                other => panic!("unexpected {other}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "recreate b",
                "recreate c",
                "switchover a",
                "wait a member other than a leads",
                "recreate a",
                "wait 3 members, every replica streaming",
            ]
        );
        assert_eq!(
            plan.summary,
            "stop and start afresh all 3 members, the leader last"
        );
        // A resumed rotation recreates only the members still to do.
        let rest = plan_recreate(&healthy(), &["a".to_owned()]).unwrap();
        assert_eq!(rest.steps.len(), 4);
        assert!(plan_recreate(&healthy(), &["zz".to_owned()]).is_err());
        let alone = view(&[("a", "leader", "running", None)]);
        assert!(plan_recreate(&alone, &[]).is_err());
        assert!(plan.steps[0].to_string().contains("at most 600 s"));
    }

    #[test]
    fn reinit_refuses_the_leader_and_pause_is_idempotent() {
        assert!(
            plan_reinit(&healthy(), "a")
                .unwrap_err()
                .fix
                .contains("switch over")
        );
        assert_eq!(plan_reinit(&healthy(), "b").unwrap().steps.len(), 2);
        assert_eq!(plan_pause(&healthy(), false).unwrap().steps.len(), 0);
        assert_eq!(plan_pause(&healthy(), true).unwrap().steps.len(), 2);
        assert_eq!(plan_reload(&healthy()).steps.len(), 3);
    }

    #[test]
    fn scale_down_moves_the_lead_off_a_leaving_member_first() {
        let v = view(&[
            ("a", "replica", "streaming", Some(0)),
            ("b", "sync_standby", "streaming", Some(0)),
            ("c", "leader", "running", None),
        ]);
        let ordered: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let input = ScaleInput {
            ordered: &ordered,
            target: 2,
            max_wal_senders: 7,
            purge: false,
            synchronous_node_count: 1,
        };
        let plan = plan_scale(&v, &input, &SYNC).unwrap();
        let lines: Vec<String> = plan.steps.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines[..4],
            [
                r#"on the leader: PATCH /config {"synchronous_node_count":2}"#,
                "switch over from c to the healthiest of a, b at that moment",
                "wait until a member other than c leads (at most 60 s)",
                r#"on the leader: PATCH /config {"synchronous_node_count":1}"#,
            ]
        );
        assert!(
            lines
                .iter()
                .any(|l| l == "stop and remove c (their data is kept)")
        );
        assert!(lines.iter().any(|l| l.contains("pg_drop_replication_slot")));
        assert!(lines.last().unwrap().contains("c has left the cluster"));
        // Up within the senders there are: no restart.
        let up = plan_scale(
            &v,
            &ScaleInput {
                target: 5,
                ..input.clone()
            },
            &SYNC,
        )
        .unwrap();
        assert_eq!(up.steps.len(), 2, "{:?}", up.steps);
        // Beyond them: raise, rolling restart, then add.
        let up = plan_scale(
            &v,
            &ScaleInput {
                target: 6,
                ..input.clone()
            },
            &SYNC,
        )
        .unwrap();
        assert!(up.steps[0].to_string().contains(r#""max_wal_senders":10"#));
        assert!(plan_scale(&v, &ScaleInput { target: 7, ..input }, &SYNC).is_err());
    }

    #[test]
    fn scale_down_widens_synchronous_mode_when_no_staying_member_is_synchronous() {
        let v = view(&[
            ("a", "replica", "streaming", Some(0)),
            ("b", "replica", "streaming", Some(0)),
            ("c", "leader", "running", None),
            ("d", "sync_standby", "streaming", Some(0)),
        ]);
        let ordered: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let input = ScaleInput {
            ordered: &ordered,
            target: 2,
            max_wal_senders: 7,
            purge: true,
            synchronous_node_count: 1,
        };
        let lines: Vec<String> = plan_scale(&v, &input, &SYNC)
            .unwrap()
            .steps
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines[..2],
            [
                r#"on the leader: PATCH /config {"synchronous_node_count":3}"#,
                "switch over from c to the healthiest of a, b at that moment",
            ]
        );
        assert!(lines.contains(&"stop and remove c, d and delete their data".to_owned()));
    }

    #[test]
    fn the_marker_lapses() {
        assert_eq!(fast_demote_marker("db-pg0", 100), "db-pg0 130\n");
    }
}
