//! Day-2 operations, planned with no I/O: Patroni's cluster view as types, the
//! requests and SQL each step sends, the conditions a step waits for, and the plans
//! with their preconditions. The CLI's transports carry the steps out (loopback for
//! the local cluster; the Control Plane exec later), so both targets share this logic.

mod apply;
mod model;
mod plan;
mod request;
mod rotate;
mod wait;

pub use apply::{Change, Diff, Effect, diff_values};
pub use model::{ClusterView, Lag, Member, MemberStatus, ParseError, Role, State};
pub use plan::{
    FAST_DEMOTE_MARKER, FAST_DEMOTE_SECONDS, HANDOVER_WAIT, On, Plan, Policy, RECREATE_WAIT,
    REINIT_WAIT, RESTART_WAIT, Refusal, ScaleInput, Step, choose_candidate, fast_demote_marker,
    plan_failover, plan_pause, plan_recreate, plan_reinit, plan_reload, plan_restart, plan_scale,
    plan_switchover,
};
pub use request::{Answer, HandoverAnswer, Method, Request, Sql};
pub use rotate::{Journal, Login, Phase, Pickup, RotationUser};
pub use wait::{Condition, all_streaming, leader_is};
