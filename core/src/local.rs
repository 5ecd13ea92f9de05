//! Planning of the local cluster: where each member listens and keeps its files, as
//! data. The CLI's supervisor starts the processes; the Patroni configuration comes
//! from the same generator as on Control Plane, with only the [`Topology`] differing.

use serde::{Deserialize, Serialize};

use crate::render::etcd::{EtcdMember, LOOPBACK_TIMERS, member_flags};
use crate::render::patroni::Topology;
use crate::values::Values;

/// Ports of one local cluster, chosen free at first start and kept afterwards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ports {
    /// `(client, peer)` per etcd member.
    pub etcd: Vec<(u16, u16)>,
    /// `(postgres, rest_api)` per PostgreSQL member.
    pub members: Vec<(u16, u16)>,
}

/// The `before_stop` hook's file in the cluster directory.
pub const BEFORE_STOP_SCRIPT: &str = "before-stop.sh";

/// The short name of PostgreSQL member `index` (`pg0`): its directory and log in the
/// cluster directory, and the suffix of its member name.
#[must_use]
pub fn member_short(index: usize) -> String {
    format!("pg{index}")
}

/// The short name of etcd member `index` (`etcd0`), as [`member_short`].
#[must_use]
pub fn etcd_short(index: usize) -> String {
    format!("etcd{index}")
}

/// Name of PostgreSQL member `index`.
#[must_use]
pub fn member_name(cluster: &str, index: usize) -> String {
    format!("{cluster}-{}", member_short(index))
}

/// Name of etcd member `index`.
#[must_use]
pub fn etcd_name(cluster: &str, index: usize) -> String {
    format!("{cluster}-{}", etcd_short(index))
}

/// The member index a name (`db-pg1`, or the short `pg1`) refers to.
#[must_use]
pub fn member_index(cluster: &str, name: &str) -> Option<usize> {
    let short = name
        .strip_prefix(cluster)
        .and_then(|rest| rest.strip_prefix('-'))
        .unwrap_or(name);
    let digits = short.strip_prefix("pg")?;
    if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    digits.parse().ok()
}

/// The Patroni topology of local member `index`: loopback addresses, files under
/// `dir/pgN`, binaries from `pg_bin`.
#[must_use]
pub fn member_topology(
    cluster: &str,
    dir: &str,
    pg_bin: &str,
    index: usize,
    ports: &Ports,
) -> Topology {
    let (postgres, api) = ports.members[index];
    let home = format!("{dir}/{}", member_short(index));
    Topology {
        scope: cluster.to_owned(),
        name: member_name(cluster, index),
        restapi_listen: format!("127.0.0.1:{api}"),
        restapi_connect: format!("127.0.0.1:{api}"),
        postgres_listen: format!("127.0.0.1:{postgres}"),
        postgres_connect: format!("127.0.0.1:{postgres}"),
        etcd_hosts: ports
            .etcd
            .iter()
            .map(|(client, _)| format!("127.0.0.1:{client}"))
            .collect(),
        data_dir: format!("{home}/data"),
        bin_dir: Some(pg_bin.to_owned()),
        pgpass: format!("{home}/pgpass"),
        socket_dir: Some(home.clone()),
        client_networks: vec!["127.0.0.1/32".into()],
        post_bootstrap: format!("/bin/bash {dir}/post-bootstrap.sh"),
        before_stop: Some(format!(
            "/bin/bash {dir}/{BEFORE_STOP_SCRIPT} {home} {} {home}/data",
            member_name(cluster, index)
        )),
    }
}

/// Command-line arguments of local etcd member `index`, data under `dir/etcdN`.
#[must_use]
pub fn etcd_args(
    cluster: &str,
    dir: &str,
    index: usize,
    ports: &Ports,
    values: &Values,
) -> Vec<String> {
    let (client, peer) = ports.etcd[index];
    let initial = ports
        .etcd
        .iter()
        .enumerate()
        .map(|(i, (_, peer))| format!("{}=http://127.0.0.1:{peer}", etcd_name(cluster, i)))
        .collect::<Vec<_>>()
        .join(",");
    let member = EtcdMember {
        name: etcd_name(cluster, index),
        data_dir: format!("{dir}/{}", etcd_short(index)),
        client_listen: format!("http://127.0.0.1:{client}"),
        client_advertise: format!("http://127.0.0.1:{client}"),
        peer_listen: format!("http://127.0.0.1:{peer}"),
        peer_advertise: format!("http://127.0.0.1:{peer}"),
        initial_cluster: initial,
        token: cluster.to_owned(),
    };
    member_flags(&member, LOOPBACK_TIMERS, values)
        .into_iter()
        .map(|(flag, value)| format!("{flag}={value}"))
        .collect()
}

/// Which members a connection string reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// The member that accepts writes, wherever it is.
    Leader,
    /// A replica, spread at random; any member when no replica is up.
    Replica,
    /// Any member, spread at random.
    Any,
}

/// A libpq multi-host connection string over every member: libpq tries them in turn
/// and keeps the first that fits `reach`. The password only when given.
#[must_use]
pub fn dsn(values: &Values, ports: &Ports, reach: Reach, password: Option<&str>) -> String {
    let hosts: Vec<(String, u16)> = ports
        .members
        .iter()
        .map(|(postgres, _)| ("127.0.0.1".to_owned(), *postgres))
        .collect();
    connection_string(
        &hosts,
        &values.postgres.database,
        &values.postgres.username,
        reach,
        password,
    )
}

/// A libpq connection string over `hosts` (host and port each) that keeps the first
/// fitting `reach`; both targets build theirs with it. The password only when given.
#[must_use]
pub fn connection_string(
    hosts: &[(String, u16)],
    database: &str,
    username: &str,
    reach: Reach,
    password: Option<&str>,
) -> String {
    let port_list = hosts
        .iter()
        .map(|(_, port)| port.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let hosts = hosts
        .iter()
        .map(|(host, _)| host.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let attributes = match reach {
        Reach::Leader => "target_session_attrs=read-write",
        Reach::Replica => "target_session_attrs=prefer-standby load_balance_hosts=random",
        Reach::Any => "target_session_attrs=any load_balance_hosts=random",
    };
    let mut text = format!(
        "host={hosts} port={port_list} dbname={} user={} {attributes} connect_timeout=2",
        conninfo_value(database),
        conninfo_value(username)
    );
    if let Some(password) = password {
        text.push_str(" password=");
        text.push_str(&conninfo_value(password));
    }
    text
}

/// A value in libpq's `key=value` syntax: as is when it is plain, else single-quoted
/// with `\` and `'` escaped (names may hold any character but NUL).
#[must_use]
pub fn conninfo_value(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| !c.is_whitespace() && c != '\'' && c != '\\');
    if plain {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports() -> Ports {
        Ports {
            etcd: vec![(2379, 2380), (2479, 2480), (2579, 2580)],
            members: vec![(5432, 8008), (5433, 8009), (5434, 8010)],
        }
    }

    #[test]
    fn members_differ_only_in_addresses_and_paths() {
        let a = member_topology("c", "/s/c", "/r/pg/bin", 0, &ports());
        let b = member_topology("c", "/s/c", "/r/pg/bin", 1, &ports());
        assert_eq!(
            a.etcd_hosts,
            ["127.0.0.1:2379", "127.0.0.1:2479", "127.0.0.1:2579"]
        );
        assert_eq!(a.etcd_hosts, b.etcd_hosts);
        assert_eq!(
            (a.postgres_listen.as_str(), b.postgres_listen.as_str()),
            ("127.0.0.1:5432", "127.0.0.1:5433")
        );
        assert_eq!(b.data_dir, "/s/c/pg1/data");
        assert_eq!(a.name, "c-pg0");
    }

    #[test]
    fn etcd_members_share_the_initial_cluster() {
        let args = etcd_args("c", "/s/c", 2, &ports(), &Values::default());
        assert!(args.contains(&"--initial-cluster=c-etcd0=http://127.0.0.1:2380,c-etcd1=http://127.0.0.1:2480,c-etcd2=http://127.0.0.1:2580".to_owned()));
        assert!(args.contains(&"--listen-client-urls=http://127.0.0.1:2579".to_owned()));
        assert!(args.contains(&"--auto-compaction-retention=1h".to_owned()));
    }

    #[test]
    fn member_names_resolve_to_indexes() {
        assert_eq!(member_index("db", "db-pg1"), Some(1));
        assert_eq!(member_index("db", "pg12"), Some(12));
        assert_eq!(member_index("db", "db-pg01"), None);
        assert_eq!(member_index("db", "other-pg1"), None);
        assert_eq!(member_index("db", "pg"), None);
    }

    #[test]
    fn conninfo_values_are_quoted_when_they_need_it() {
        assert_eq!(conninfo_value("svc-App"), "svc-App");
        assert_eq!(conninfo_value("my app"), "'my app'");
        assert_eq!(conninfo_value("a'b\\c"), r"'a\'b\\c'");
        assert_eq!(conninfo_value(""), "''");
    }

    #[test]
    fn dsn_targets_the_writable_member() {
        assert_eq!(
            dsn(&Values::default(), &ports(), Reach::Leader, None),
            "host=127.0.0.1,127.0.0.1,127.0.0.1 port=5432,5433,5434 dbname=test user=username target_session_attrs=read-write connect_timeout=2"
        );
        let replica = dsn(&Values::default(), &ports(), Reach::Replica, Some("it's"));
        assert!(replica.contains("target_session_attrs=prefer-standby load_balance_hosts=random"));
        assert!(replica.ends_with(r" password='it\'s'"), "{replica}");
    }
}
