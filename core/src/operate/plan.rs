//! The planning of day-2 operations: preconditions checked against the cluster view,
//! then the steps, as data. The CLI prints them (`--dry-run`) or carries them out
//! through a transport.

use std::fmt;

use super::model::{ClusterView, Member, State};
use super::request::{Request, Sql};
use super::wait::{Condition, all_streaming, leader_is};

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

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// SQL on a member.
    Sql { member: String, sql: Sql },
    /// A request to a member's Patroni.
    Patroni { member: String, request: Request },
    /// A switchover away from `leader`: checkpoint, arm the fast demote, ask Patroni,
    /// wait until the candidate accepts writes. With no candidate, the best replica
    /// at the moment the step runs ([`choose_candidate`]).
    Switchover {
        leader: String,
        candidate: Option<String>,
        scheduled: Option<String>,
    },
    /// Rebuild a replica from the leader: Patroni answers at once and works in the
    /// background, so the step lasts until the member runs again, with a new
    /// postmaster, as a streaming replica.
    Reinitialize { member: String },
    /// Wait until the cluster view shows `until`, at most `seconds`.
    Wait { until: Condition, seconds: u32 },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Sql { member, sql } => write!(f, "on {member}: {sql}"),
            Step::Patroni { member, request } => write!(f, "on {member}: {request}"),
            Step::Switchover {
                leader,
                candidate,
                scheduled,
            } => {
                write!(
                    f,
                    "switch over from {leader} to {}",
                    candidate
                        .as_deref()
                        .unwrap_or("the healthiest replica at that moment")
                )?;
                if let Some(at) = scheduled {
                    write!(f, " at {at}")?;
                }
                Ok(())
            }
            Step::Reinitialize { member } => write!(
                f,
                "on {member}: POST /reinitialize, then wait until it streams again (at most {REINIT_WAIT} s)"
            ),
            Step::Wait { until, seconds } => write!(f, "wait until {until} (at most {seconds} s)"),
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
                member: candidate.to_owned(),
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
    let leader = require_leader(view)?;
    let count = view.members.len();
    let restart = |name: &str| {
        [
            Step::Patroni {
                member: name.to_owned(),
                request: Request::restart(),
            },
            Step::Wait {
                until: Condition::Restarted(name.to_owned()),
                seconds: RESTART_WAIT,
            },
        ]
    };
    let mut steps = Vec::new();
    let targets: Vec<&str> = match only {
        Some(name) => vec![require_member(view, name)?.name.as_str()],
        None => view.members.iter().map(|m| m.name.as_str()).collect(),
    };
    for name in targets.iter().filter(|n| **n != leader.name) {
        steps.extend(restart(name));
    }
    if targets.contains(&leader.name.as_str()) {
        if count < 2 {
            return Err(Refusal::new(
                "the leader is the only member: restarting it stops writes for the whole restart",
                "scale to two or more members first",
            ));
        }
        steps.push(Step::Switchover {
            leader: leader.name.clone(),
            candidate: None,
            scheduled: None,
        });
        // The old leader finishes its demotion and follows the new one before
        // Patroni takes another request for it.
        steps.push(Step::Wait {
            until: Condition::LeaderIsNot(leader.name.clone())
                .and(Condition::Streaming(leader.name.clone())),
            seconds: RESTART_WAIT,
        });
        steps.extend(restart(&leader.name));
    }
    steps.push(Step::Wait {
        until: all_streaming(count),
        seconds: RESTART_WAIT,
    });
    Ok(Plan {
        summary: match only {
            Some(name) if *name == leader.name => {
                format!("restart the leader {name} after a switchover")
            }
            Some(name) => format!("restart {name}"),
            None => format!("rolling restart of {count} members, the leader last"),
        },
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
                member: m.name.clone(),
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
                member: member.name.clone(),
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
    fn the_marker_lapses() {
        assert_eq!(fast_demote_marker("db-pg0", 100), "db-pg0 130\n");
    }
}
