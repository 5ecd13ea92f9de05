//! Control Plane's limits, each defined once: the schema, the HA rules, the renderer
//! and its lint all read them from here.

/// Longest workload name.
pub const MAX_WORKLOAD_NAME: usize = 49;
/// Longest volume set name.
pub(crate) const MAX_VOLUMESET_NAME: usize = 64;
/// Longest name of other resources (secrets, identities, policies, GVCs, orgs).
pub(crate) const MAX_NAME: usize = 63;
/// Most replicas of a workload with per-replica addresses (replica-direct), which
/// every PostgreSQL and etcd member needs.
pub const MAX_REPLICA_DIRECT: u32 = 6;
/// Most etcd members: odd, within [`MAX_REPLICA_DIRECT`].
pub(crate) const MAX_ETCD_MEMBERS: u32 = MAX_REPLICA_DIRECT - 1 + MAX_REPLICA_DIRECT % 2;
/// Volume set capacity range, GiB.
pub(crate) const MIN_VOLUME_GIB: u32 = 10;
pub(crate) const MAX_VOLUME_GIB: u32 = 65_536;
/// Largest `failureThreshold` of a probe.
pub(crate) const MAX_PROBE_FAILURES: u32 = 20;
/// Smallest CPU a container may ask for, in millicores.
pub(crate) const MIN_CPU_MILLICORES: f64 = 25.0;
/// Smallest memory a container may ask for, in MiB.
pub(crate) const MIN_MEMORY_MIB: f64 = 32.0;
/// Most memory per millicore of CPU, in MiB.
pub(crate) const MAX_MIB_PER_MILLICORE: f64 = 8.0;

// The etcd cap is the largest odd count within the replica cap.
const _: () = assert!(MAX_ETCD_MEMBERS % 2 == 1 && MAX_ETCD_MEMBERS <= MAX_REPLICA_DIRECT);
const _: () = assert!(MAX_ETCD_MEMBERS + 2 > MAX_REPLICA_DIRECT);
