//! The Control Plane target without I/O: which org, endpoint and credential
//! (`context`), the API's resources, paths, errors and retry
//! rule (`api`), what a deploy or destroy sends, computed from the rendered release
//! and what the API returned (`deploy`), and the readiness rule (`readiness`). The CLI's client sends the requests.

mod api;
mod context;
mod deploy;
pub mod exec;
mod readiness;

pub use api::{
    ApiError, ApiRequest, CommandStage, Kind, Method, Place, backoff_ms, delete_volume_request,
    retryable, scale_request, stop_replica_request,
};
pub use context::{
    Asked, Context, ContextError, Credential, DEFAULT_ENDPOINT, Profile, REFRESH_MARGIN_SECONDS,
    Store, needs_refresh, resolve, service_account_org,
};
pub use deploy::{
    APPLIED_TAG, Change, PlanError, Step, leftovers, plan_deploy, plan_destroy, plan_prune, reads,
};
pub use readiness::{Readiness, readiness};
