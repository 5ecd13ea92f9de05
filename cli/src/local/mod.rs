//! The local cluster: state on disk, the processes, and the supervisor that plays the
//! platform's role (restart, fence, hand over leadership).

pub(crate) mod api;
pub(crate) mod lifecycle;
pub(crate) mod loopback;
pub(crate) mod process;
pub(crate) mod scale;
pub(crate) mod state;
pub(crate) mod supervisor;
