//! The values model: one file describes one highly available PostgreSQL 17 cluster.
//!
//! Doc comments here become the `description` of each key in `values.schema.json`;
//! the `Default` impls are the documented defaults. Constraints that JSON Schema can
//! express live here too (as schemars attributes) so that editors and
//! `check-jsonschema` reach the same verdict as `validate` wherever they can.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::quantity::{CpuQuantity, MemoryQuantity};
use crate::render::patroni::{REPLICATION_USER, REWIND_USER, SUPERUSER};

/// Pattern of a Control Plane workload link accepted by `internal_access.workloads`.
pub const WORKLOAD_LINK_PATTERN: &str =
    "^//gvc/[a-z]([-a-z0-9]*[a-z0-9])?/workload/[a-z]([-a-z0-9]*[a-z0-9])?$";

/// Text PostgreSQL can store: anything but a NUL (names are also at most 63 bytes,
/// which JSON Schema cannot count; a rule checks that).
pub const NO_NUL_PATTERN: &str = "^[^\\u0000]*$";

/// Longest role or database name, in bytes (PostgreSQL's NAMEDATALEN - 1).
pub const MAX_IDENTIFIER_BYTES: usize = 63;

/// Values of one postgres-ha release: a Patroni-managed PostgreSQL 17 cluster with its
/// own etcd cluster for leader election.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[schemars(title = "postgres-ha values")]
pub struct Values {
    /// Number of PostgreSQL members (one primary, the rest streaming replicas). Use 3
    /// for automatic failover with a synchronous standby to spare; at most 6, since
    /// each member needs its own address on Control Plane.
    #[schemars(range(min = 1, max = crate::limits::MAX_REPLICA_DIRECT))]
    #[serde(deserialize_with = "whole::number")]
    pub replicas: u32,
    /// CPU and memory of each PostgreSQL member.
    pub resources: Resources,
    /// Database, application role and its password.
    pub postgres: Postgres,
    /// Persistent volume of each PostgreSQL member.
    pub volumeset: VolumeSet,
    /// Which workloads may connect to PostgreSQL.
    pub internal_access: InternalAccess,
    /// The etcd cluster Patroni uses for leader election and configuration.
    pub etcd: Etcd,
    /// Patroni failover timing and replication mode.
    pub patroni: Patroni,
    /// Leader-routing endpoint: one stable address that always reaches the primary.
    pub proxy: Proxy,
    /// Container images; override to use a mirror or a pinned digest.
    pub images: Images,
}

impl Default for Values {
    fn default() -> Self {
        Self {
            replicas: 3,
            resources: Resources {
                cpu: CpuQuantity::new("1"),
                memory: MemoryQuantity::new("2Gi"),
            },
            postgres: Postgres::default(),
            volumeset: VolumeSet::default(),
            internal_access: InternalAccess::default(),
            etcd: Etcd::default(),
            patroni: Patroni::default(),
            proxy: Proxy::default(),
            images: Images::default(),
        }
    }
}

/// CPU and memory of each member, as Kubernetes-style quantities.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// CPU per member: cores (`"1"`, `"0.5"`) or millicores (`"500m"`). At least `25m`.
    pub cpu: CpuQuantity,
    /// Memory per member (`"512Mi"`, `"2Gi"`). At least `32Mi`, and at most 8 MiB per
    /// millicore of `cpu`.
    pub memory: MemoryQuantity,
}

/// The application database and the role that owns it. Superuser, replication and
/// rewind roles are separate and get their own generated passwords.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Postgres {
    /// Application role; owns `database`. Any name PostgreSQL accepts (1 to 63 bytes;
    /// it is quoted everywhere), except the internal roles, `public`, `none` and names
    /// starting with `pg_`.
    #[schemars(regex(pattern = NO_NUL_PATTERN), length(min = 1, max = 63))]
    #[schemars(extend("not" = {"anyOf": [
        {"enum": [SUPERUSER, REPLICATION_USER, REWIND_USER, "public", "none"]},
        {"pattern": "^pg_"}
    ]}))]
    pub username: String,
    /// Password of `username`. Stored only in a Control Plane secret; never printed.
    /// Leave it out and `deploy` generates a strong one (kept only in that secret).
    #[schemars(regex(pattern = NO_NUL_PATTERN), length(min = 1, max = 1000))]
    pub password: String,
    /// Application database, created at bootstrap and owned by `username`. Any name
    /// PostgreSQL accepts (1 to 63 bytes), except `postgres`, `template0`, `template1`.
    #[schemars(regex(pattern = NO_NUL_PATTERN), length(min = 1, max = 63))]
    #[schemars(extend("not" = {"enum": ["postgres", "template0", "template1"]}))]
    pub database: String,
    /// Extra `postgresql.conf` parameters, applied through Patroni. Parameters Patroni
    /// manages itself (replication, ports, addresses) are rejected.
    pub parameters: BTreeMap<String, ParameterValue>,
}

impl Default for Postgres {
    fn default() -> Self {
        Self {
            username: "username".into(),
            password: "password".into(),
            database: "test".into(),
            parameters: BTreeMap::new(),
        }
    }
}

/// A `postgresql.conf` value: a string, a number or a boolean.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum ParameterValue {
    /// Booleans are written as `on` / `off`.
    Bool(bool),
    /// Integers and reals are written as they are.
    Number(serde_json::Number),
    /// Strings are written quoted.
    String(String),
}

/// A persistent volume per member (a Control Plane volume set).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VolumeSet {
    /// Initial capacity of each member's volume, in GiB (10 to 65536).
    #[schemars(range(min = crate::limits::MIN_VOLUME_GIB, max = crate::limits::MAX_VOLUME_GIB))]
    #[serde(deserialize_with = "whole::number")]
    pub capacity: u32,
}

impl Default for VolumeSet {
    fn default() -> Self {
        Self { capacity: 10 }
    }
}

/// Who may connect: every workload of the GVC, of the org, or only listed workloads.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
#[schemars(extend(
    "if" = {"properties": {"type": {"const": "workload-list"}}, "required": ["type"]},
    "then" = {"required": ["workloads"], "properties": {"workloads": {"type": "array", "minItems": 1}}}
))]
pub struct InternalAccess {
    /// `same-gvc`: workloads of this GVC; `same-org`: workloads of any GVC in the org;
    /// `workload-list`: only the workloads in `workloads`.
    #[serde(rename = "type")]
    pub access_type: AccessType,
    /// Workload links `//gvc/GVC/workload/NAME`. Required with `workload-list`; also
    /// allowed with `same-gvc` (adds workloads of other GVCs); ignored with `same-org`.
    #[schemars(inner(regex(pattern = WORKLOAD_LINK_PATTERN)))]
    pub workloads: Option<Vec<String>>,
}

/// Access scope: `same-gvc`, `same-org` or `workload-list`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AccessType {
    #[default]
    SameGvc,
    SameOrg,
    WorkloadList,
}

/// The etcd cluster (the distributed configuration store Patroni elects leaders in).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Etcd {
    /// Number of etcd members. Must be odd: 3 tolerates one failure, 5 tolerates two
    /// (at most 5: each member needs its own address on Control Plane).
    #[schemars(range(min = 1, max = crate::limits::MAX_ETCD_MEMBERS))]
    #[schemars(extend("not" = {"type": "integer", "multipleOf": 2}))]
    #[serde(deserialize_with = "whole::number")]
    pub replicas: u32,
    /// CPU and memory of each etcd member.
    pub resources: Resources,
    /// Persistent volume of each etcd member.
    pub volumeset: VolumeSet,
    /// Which workloads may reach etcd. The release's PostgreSQL and etcd workloads are
    /// always admitted; by default nothing else is.
    pub internal_access: EtcdAccess,
    /// Automatic compaction of etcd's history. Without it every Patroni heartbeat adds
    /// a revision until the backend quota is reached and etcd turns read-only.
    pub compaction: Compaction,
}

impl Default for Etcd {
    fn default() -> Self {
        Self {
            replicas: 3,
            resources: Resources {
                cpu: CpuQuantity::new("500m"),
                memory: MemoryQuantity::new("1Gi"),
            },
            volumeset: VolumeSet::default(),
            internal_access: EtcdAccess::default(),
            compaction: Compaction::default(),
        }
    }
}

/// Who may reach etcd besides the release's own workloads.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EtcdAccess {
    /// `workload-list` (default): only PostgreSQL and the links in `workloads`;
    /// `same-gvc` / `same-org`: every workload of the GVC / org.
    #[serde(rename = "type")]
    pub access_type: AccessType,
    /// Extra workload links `//gvc/GVC/workload/NAME` admitted to etcd.
    #[schemars(inner(regex(pattern = WORKLOAD_LINK_PATTERN)))]
    pub workloads: Option<Vec<String>>,
}

impl Default for EtcdAccess {
    fn default() -> Self {
        Self {
            access_type: AccessType::WorkloadList,
            workloads: None,
        }
    }
}

/// etcd auto-compaction settings.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[schemars(extend(
    "if" = {"properties": {"mode": {"const": "revision"}}, "required": ["mode"]},
    "then" = {"properties": {"retention": {"pattern": "^[1-9][0-9]*$"}}},
    "else" = {"properties": {"retention": {"pattern": "^[1-9][0-9]*(s|m|h)$"}}}
))]
pub struct Compaction {
    /// `periodic`: keep `retention` of history (a duration); `revision`: keep
    /// `retention` revisions (a count).
    pub mode: CompactionMode,
    /// With `periodic`, a duration with its unit (`30m`, `1h`, `24h`; etcd reads a bare
    /// number as hours, so a unit is required); with `revision`, a whole number of
    /// revisions.
    pub retention: String,
}

impl Default for Compaction {
    fn default() -> Self {
        Self {
            mode: CompactionMode::Periodic,
            retention: "1h".into(),
        }
    }
}

/// Compaction mode: `periodic` or `revision`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CompactionMode {
    Periodic,
    Revision,
}

/// Patroni settings that decide how failover behaves.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Patroni {
    /// How fast a dead primary is replaced, and how tolerant Patroni is of slow etcd.
    pub timing: Timing,
    /// Commit on the primary waits until a standby has the WAL, so a failover loses
    /// no acknowledged write. Patroni only promotes the synchronous standby.
    pub synchronous_mode: bool,
    /// With `synchronous_mode`, refuse writes when no standby is available instead of
    /// falling back to asynchronous replication. Safer for data, worse for uptime.
    pub synchronous_mode_strict: bool,
    /// A replica lagging more than this many bytes is never promoted (asynchronous
    /// mode only; the synchronous standby is never behind).
    #[schemars(range(min = 0))]
    #[serde(deserialize_with = "whole::number")]
    pub maximum_lag_on_failover: u64,
}

impl Default for Patroni {
    fn default() -> Self {
        Self {
            timing: Timing::default(),
            synchronous_mode: true,
            synchronous_mode_strict: false,
            maximum_lag_on_failover: 1_048_576,
        }
    }
}

/// Patroni's leader-lease timers. Start from a `preset`; set `ttl`, `loop_wait` or
/// `retry_timeout` to override one. They must satisfy `loop_wait + 2 × retry_timeout ≤ ttl`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Timing {
    /// Named timing preset.
    pub preset: TimingPreset,
    /// Seconds the leader lease lives without renewal (≥ 20). Default: from the preset.
    #[schemars(range(min = 20, max = 3600))]
    #[serde(deserialize_with = "whole::optional")]
    pub ttl: Option<u32>,
    /// Seconds between Patroni's checks (≥ 1). Default: from the preset.
    #[schemars(range(min = 1, max = 600))]
    #[serde(deserialize_with = "whole::optional")]
    pub loop_wait: Option<u32>,
    /// Seconds Patroni retries etcd and PostgreSQL before demoting (≥ 3). Default:
    /// from the preset.
    #[schemars(range(min = 3, max = 1200))]
    #[serde(deserialize_with = "whole::optional")]
    pub retry_timeout: Option<u32>,
}

/// `fast` (ttl 20 / loop 5 / retry 5), `normal` (30 / 5 / 10), `safe` (60 / 10 / 20)
/// or `wide` (120 / 20 / 30): faster failover against tolerance of slow networks.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TimingPreset {
    Fast,
    #[default]
    Normal,
    Safe,
    Wide,
}

/// Effective Patroni timers, after the preset and overrides are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EffectiveTiming {
    pub ttl: u32,
    pub loop_wait: u32,
    pub retry_timeout: u32,
}

/// Seconds a watchdog needs to notice a hang: one poll plus one request timeout.
pub const HANG_DETECTION_SLACK: u32 = 2;

impl EffectiveTiming {
    /// Seconds a member's Patroni may go without answering its REST API before the
    /// platform fences it (kills its PostgreSQL and Patroni): the local supervisor, or
    /// on Control Plane the member's start-up script and its liveness probe.
    ///
    /// Why it is safe: a Patroni that answered until it hung had renewed the leader
    /// lease at most `loop_wait` earlier, so the lease lives at least
    /// `ttl − loop_wait` past the last answer. Half of that, less the time it takes
    /// to notice, leaves the other half as margin: the old primary is dead before its
    /// lease can expire and another member promote, so no two primaries overlap.
    #[must_use]
    pub fn hang_bound(self) -> u32 {
        (self.ttl.saturating_sub(self.loop_wait) / 2).max(3)
    }

    /// The longest a Patroni asked to stop may go without answering before it is fenced
    /// anyway: Patroni stops answering before its PostgreSQL has shut down, and a
    /// shutdown checkpoint can take longer than the hang bound. Still 1 s inside the
    /// lease, by the argument of [`Self::hang_bound`].
    #[must_use]
    pub fn stopping_bound(self) -> u32 {
        (self
            .ttl
            .saturating_sub(self.loop_wait + HANG_DETECTION_SLACK + 1))
        .max(self.hang_bound())
    }

    /// Seconds between the fence and the earliest moment the lease could expire.
    #[must_use]
    pub fn hang_margin(self) -> i64 {
        i64::from(self.ttl)
            - i64::from(self.loop_wait)
            - i64::from(self.hang_bound())
            - i64::from(HANG_DETECTION_SLACK)
    }

    /// The liveness probe for the Control Plane workload, as `(period, timeout,
    /// failures)` in seconds: a hung Patroni is detected within [`Self::hang_bound`].
    #[must_use]
    pub fn liveness_probe(self) -> (u32, u32, u32) {
        // Two-second probes where the bound allows (Patroni answers slowly under
        // load), one-second ones for the tightest timings.
        let bound = self.hang_bound();
        let step = if bound >= 6 { 2 } else { 1 };
        let failures =
            (bound.saturating_sub(step) / step).clamp(1, crate::limits::MAX_PROBE_FAILURES);
        (step, step, failures)
    }
}

impl TimingPreset {
    /// The preset's `(ttl, loop_wait, retry_timeout)`.
    #[must_use]
    pub fn timers(self) -> EffectiveTiming {
        let (ttl, loop_wait, retry_timeout) = match self {
            Self::Fast => (20, 5, 5),
            Self::Normal => (30, 5, 10),
            Self::Safe => (60, 10, 20),
            Self::Wide => (120, 20, 30),
        };
        EffectiveTiming {
            ttl,
            loop_wait,
            retry_timeout,
        }
    }
}

impl Timing {
    /// The timers Patroni will run with.
    #[must_use]
    pub fn effective(&self) -> EffectiveTiming {
        let base = self.preset.timers();
        EffectiveTiming {
            ttl: self.ttl.unwrap_or(base.ttl),
            loop_wait: self.loop_wait.unwrap_or(base.loop_wait),
            retry_timeout: self.retry_timeout.unwrap_or(base.retry_timeout),
        }
    }
}

/// Leader-routing proxy (HAProxy checking Patroni's `/primary` endpoint).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Proxy {
    /// Render the proxy. Without it clients must list every member and ask for a
    /// read-write session (`target_session_attrs=read-write`).
    pub enabled: bool,
    /// Number of proxy replicas.
    #[schemars(range(min = 1, max = 10))]
    #[serde(deserialize_with = "whole::number")]
    pub replicas: u32,
    /// CPU and memory of each proxy replica.
    pub resources: Resources,
}

impl Default for Proxy {
    fn default() -> Self {
        Self {
            enabled: true,
            replicas: 2,
            resources: Resources {
                cpu: CpuQuantity::new("100m"),
                memory: MemoryQuantity::new("128Mi"),
            },
        }
    }
}

/// Container images.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Images {
    /// PostgreSQL 17 with Patroni.
    #[schemars(length(min = 1))]
    pub postgres: String,
    /// etcd, with `bash` (the member start-up script derives its addresses at boot).
    #[schemars(length(min = 1))]
    pub etcd: String,
    /// HAProxy for the leader-routing proxy.
    #[schemars(length(min = 1))]
    pub proxy: String,
}

impl Default for Images {
    fn default() -> Self {
        Self {
            postgres: "controlplanecorporation/patroni-postgres:0.7".into(),
            etcd: "controlplanecorporation/etcd:0.1".into(),
            proxy: "haproxy:2.9".into(),
        }
    }
}

/// Whole numbers written as `3` or `3.0`: JSON Schema calls both integers, so the
/// model must read both (the schema has already checked the range).
mod whole {
    use serde::{Deserialize, Deserializer, de::Error};

    fn whole<E: Error>(value: &serde_json::Number) -> Result<u64, E> {
        value
            .as_u64()
            .or_else(|| {
                // `3.0`: its decimal form without the fraction is a whole number.
                let f = value.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0)?;
                format!("{f:.0}").parse().ok()
            })
            .ok_or_else(|| E::custom(format!("{value} is not a whole number")))
    }

    pub(super) fn number<'de, D, T>(deserializer: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<u64>,
    {
        let n = whole(&serde_json::Number::deserialize(deserializer)?)?;
        T::try_from(n).map_err(|_| D::Error::custom(format!("{n} is too large")))
    }

    pub(super) fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<u64>,
    {
        Option::<serde_json::Number>::deserialize(deserializer)?
            .map(|n| {
                let n = whole(&n)?;
                T::try_from(n).map_err(|_| D::Error::custom(format!("{n} is too large")))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// For every timing P002 accepts, the fence lands before the lease can expire,
    /// and the probe detects a hang within the bound.
    #[test]
    fn hang_bound_leaves_a_margin_for_every_valid_timing() {
        for ttl in 20..=120 {
            for loop_wait in 1..=ttl {
                for retry_timeout in 3..=ttl {
                    if loop_wait + 2 * retry_timeout > ttl {
                        continue;
                    }
                    let timing = EffectiveTiming {
                        ttl,
                        loop_wait,
                        retry_timeout,
                    };
                    assert!(timing.hang_margin() >= 1, "{timing:?}");
                    let stopping = i64::from(timing.stopping_bound());
                    assert!(
                        stopping >= i64::from(timing.hang_bound())
                            && i64::from(ttl - loop_wait)
                                - stopping
                                - i64::from(HANG_DETECTION_SLACK)
                                >= 1,
                        "{timing:?}"
                    );
                    let (period, timeout, failures) = timing.liveness_probe();
                    assert!(
                        period * failures + timeout <= timing.hang_bound(),
                        "{timing:?}"
                    );
                }
            }
        }
        let normal = TimingPreset::Normal.timers();
        assert_eq!((normal.hang_bound(), normal.hang_margin()), (12, 11));
    }
}
