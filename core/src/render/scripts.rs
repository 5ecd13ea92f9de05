//! Scripts and configuration files the workloads run, as text.
//!
//! None contains a secret. Passwords arrive as environment variables and are only ever
//! expanded inside double quotes, or handed to psql as variables that psql itself
//! quotes (`:'literal'`, `:"identifier"`), so any byte sequence survives.

use std::fmt::Write;

/// The data directory inside the PostgreSQL volume.
pub const PGDATA: &str = "/var/lib/postgresql/data/pgdata";
/// A member's own writable directory on Control Plane (its volume's root), where the
/// `before_stop` hook looks for this tool's fast-demote marker.
pub const MEMBER_HOME: &str = "/var/lib/postgresql/data";
/// Where the rendered scripts are mounted in the PostgreSQL container.
pub(crate) const POSTGRES_DIR: &str = "/etc/postgres-ha";

/// `post_bootstrap`: creates the application role and its database, once, on the
/// first primary. Patroni passes a connection URL as `$1` and sets `PGPASSFILE`.
#[must_use]
pub fn post_bootstrap() -> String {
    r#"#!/bin/bash
# Runs once, when Patroni bootstraps the cluster: creates the application role and
# the database it owns. Values come from the environment and reach SQL only as psql
# variables, which psql quotes (:'literal', :"identifier"), so any byte survives.
set -euo pipefail
psql "$1" --no-psqlrc --quiet -v ON_ERROR_STOP=1 \
  -v app_user="$APP_USERNAME" -v app_password="$APP_PASSWORD" -v app_database="$APP_DATABASE" <<'SQL'
CREATE ROLE :"app_user" LOGIN PASSWORD :'app_password';
CREATE DATABASE :"app_database" OWNER :"app_user";
REVOKE ALL ON DATABASE :"app_database" FROM PUBLIC;
SQL
"#
    .to_owned()
}

/// Patroni's `before_stop` hook, called as `before-stop.sh HOME MEMBER DATA_DIR`.
///
/// Patroni's own switchover stops PostgreSQL, then polls for a second before it hands
/// the leader key over: a second in which no member accepts writes. A switchover run
/// by this tool arms the hook with a marker naming the member (and a deadline); the
/// hook then stops PostgreSQL itself and waits until the postmaster is gone, so
/// Patroni finds it stopped and releases the key at once. The fast shutdown still
/// sends every WAL record to the streaming replicas before it ends. Any other stop
/// finds no marker, or a lapsed or foreign one, and changes nothing.
#[must_use]
pub fn before_stop() -> String {
    let marker = crate::operate::FAST_DEMOTE_MARKER;
    format!(
        r#"#!/bin/bash
# Patroni's before_stop hook (see postgres-ha's render::scripts::before_stop).
home="$1" member="$2" data="$3"
marker="$home/{marker}"
[ -f "$marker" ] || exit 0
read -r armed deadline < "$marker" || true
rm -f "$marker"
[ "$armed" = "$member" ] || exit 0
case "$deadline" in ''|*[!0-9]*) exit 0 ;; esac
[ "$(date +%s)" -le "$deadline" ] || exit 0
pid="$(head -n 1 "$data/postmaster.pid" 2>/dev/null)" || exit 0
case "$pid" in ''|*[!0-9]*) exit 0 ;; esac
pg_ctl stop -D "$data" -m fast -w -t 10 >/dev/null 2>&1 || exit 0
# Patroni counts the postmaster as running until it is reaped, not only exited.
for _ in $(seq 100); do
  [ -e "/proc/$pid" ] || break
  sleep 0.01
done
exit 0
"#
    )
}

/// The PostgreSQL container's command on Control Plane: derives this member's name and
/// addresses, runs Patroni, and fences PostgreSQL if Patroni exits.
#[must_use]
pub(crate) fn postgres_start(workload: &str, hang_bound: u32, stopping_bound: u32) -> String {
    format!(
        r#"#!/bin/bash
# postgres-ha member start-up (workload {workload}).
set -euo pipefail
INDEX="${{HOSTNAME##*-}}"
LOCATION="$(basename "$CPLN_LOCATION")"
# Replica names and the location are only known here; they contain only [a-z0-9-].
sed -e "s/@INDEX@/$INDEX/g" -e "s/@LOCATION@/$LOCATION/g" \
  {POSTGRES_DIR}/patroni.yml > /tmp/patroni.yml
mkdir -p "$(dirname "{PGDATA}")"
chown postgres:postgres /tmp/patroni.yml "$(dirname "{PGDATA}")"
chmod 600 /tmp/patroni.yml

fence() {{
  # Patroni is gone: a PostgreSQL left running could still be a primary that nobody
  # supervises (split brain). Kill it and its backends at once.
  if [ -f "{PGDATA}/postmaster.pid" ]; then
    pid="$(head -n 1 "{PGDATA}/postmaster.pid")"
    pkill -KILL -P "$pid" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
  fi
}}
gosu postgres patroni /tmp/patroni.yml &
PATRONI=$!

# Watchdog: a Patroni that stops answering (a hung process, a frozen VM) is fenced
# within {hang_bound} s, before its leader lease can expire and another member promote,
# so no second primary appears. Until its first answer it gets a minute to start;
# once asked to stop it gets {stopping_bound} s (it stops answering before PostgreSQL is
# down), still inside the lease.
STOPPING=/tmp/postgres-ha-stopping
rm -f "$STOPPING"
watch() {{
  local last_ok=$SECONDS limit=60 line
  while kill -0 "$PATRONI" 2>/dev/null; do
    if [[ -e "$STOPPING" ]]; then
      limit={stopping_bound}
    fi
    line=""
    if {{ exec 3<>/dev/tcp/127.0.0.1/8008; }} 2>/dev/null; then
      printf 'GET /liveness HTTP/1.0\r\n\r\n' >&3 || true
      read -r -t 2 line <&3 || true
      exec 3<&- 3>&-
    fi
    if [[ "$line" == *" 200"* ]]; then
      last_ok=$SECONDS
      limit={hang_bound}
    elif (( SECONDS - last_ok > limit )); then
      echo "watchdog: Patroni has not answered for $limit s; fencing this member" >&2
      kill -KILL "$PATRONI" 2>/dev/null || true
      fence
      return 0
    fi
    sleep 1
  done
}}
watch &
# Stop requests go to Patroni, which shuts PostgreSQL down cleanly.
trap 'touch "$STOPPING"; kill -TERM "$PATRONI" 2>/dev/null || true' TERM INT
status=0
# `wait` returns early when a trapped signal arrives; keep waiting for Patroni itself.
while kill -0 "$PATRONI" 2>/dev/null; do
  wait "$PATRONI" || status=$?
done
fence
exit "$status"
"#
    )
}

/// preStop: a leader hands over before it is stopped, so a rolling restart costs a
/// switchover (seconds) instead of a failover (ttl). The REST password is read from the
/// environment inside Python, never placed on a command line.
#[must_use]
pub(crate) fn postgres_pre_stop(workload: &str) -> String {
    format!(
        r#"#!/bin/bash
# Hand over leadership before this member stops (workload {workload}).
exec python3 - "{workload}-${{HOSTNAME##*-}}" <<'PY'
import base64, json, os, sys, urllib.request

api = "http://127.0.0.1:8008"
try:
    with urllib.request.urlopen(api + "/patroni", timeout=2) as response:
        role = json.load(response).get("role")
except Exception:
    sys.exit(0)
if role not in ("primary", "master"):
    sys.exit(0)
token = base64.b64encode(("patroni:" + os.environ["PATRONI_RESTAPI_PASSWORD"]).encode()).decode()
request = urllib.request.Request(
    api + "/switchover",
    data=json.dumps({{"leader": sys.argv[1]}}).encode(),
    headers={{"Authorization": "Basic " + token, "Content-Type": "application/json"}},
    method="POST",
)
try:
    urllib.request.urlopen(request, timeout=30).read()
except Exception as error:
    print("switchover before stop failed:", error, file=sys.stderr)
PY
"#
    )
}

/// The environment variable an etcd member reads a user's password from.
fn etcd_password_var(user: super::etcd::EtcdUser) -> &'static str {
    use super::patroni::{CredentialKey, ETCD_PASSWORD_ENV};
    let key = match user {
        super::etcd::EtcdUser::Root => CredentialKey::EtcdRoot,
        super::etcd::EtcdUser::Patroni => CredentialKey::EtcdPatroni,
    };
    ETCD_PASSWORD_ENV
        .iter()
        .find(|(_, k)| *k == key)
        .map_or("", |(var, _)| var)
}

/// The shell function that turns etcd authentication on for cluster `scope`, from the
/// same steps the local supervisor sends to etcd's gateway. Idempotent: once `root`
/// can log in, authentication is on and nothing is done; an interrupted set-up is
/// run again (a user or role that exists already is not an error).
#[must_use]
pub(crate) fn etcd_enable_auth(scope: &str) -> String {
    let mut steps = String::new();
    for step in super::etcd::auth_steps(scope) {
        if step != super::etcd::AuthStep::Enable {
            // A step done before ("already exists", "already granted") is success;
            // any other failure leaves authentication off and the loop tries again.
            let _ = writeln!(
                steps,
                "      out=$({} 2>&1) || [[ \"$out\" == *already* ]] || ok=false",
                step.etcdctl(&etcd_password_var)
            );
        }
    }
    let root = etcd_password_var(super::etcd::EtcdUser::Root);
    format!(
        r#"enable_auth() {{
  export ETCDCTL_API=3 ETCDCTL_ENDPOINTS=http://127.0.0.1:2379
  local out ok
  # Done when anonymous clients are refused and root logs in (etcdctl with a user
  # also works while authentication is off, so the refusal is what proves it on).
  until ! etcdctl get {namespace} >/dev/null 2>&1 &&
    ETCDCTL_USER="{root_user}:${root}" etcdctl user get {root_user} >/dev/null 2>&1; do
    if etcdctl get {namespace} >/dev/null 2>&1; then
      ok=true
{steps}      if $ok; then etcdctl auth enable >/dev/null 2>&1 || true; fi
    fi
    sleep 2
  done
}}
"#,
        root_user = super::etcd::ROOT_USER,
        namespace = super::etcd::NAMESPACE,
    )
}

/// The etcd container's command: every member derives the same initial cluster from the
/// replica DNS names; member 0 turns authentication on once the cluster answers.
#[must_use]
pub(crate) fn etcd_start(
    workload: &str,
    scope: &str,
    gvc: &str,
    members: u32,
    values: &crate::values::Values,
) -> String {
    let mut cluster = String::new();
    for i in 0..members {
        if i > 0 {
            cluster.push(',');
        }
        let _ = write!(
            cluster,
            "{workload}-{i}=http://{}:2380",
            super::replica_host(&i.to_string(), workload, "${LOCATION}", gvc)
        );
    }
    let member = super::etcd::EtcdMember {
        name: format!("{workload}-$INDEX"),
        data_dir: "/var/lib/etcd/data".into(),
        client_listen: "http://0.0.0.0:2379".into(),
        client_advertise: "http://$SELF:2379".into(),
        peer_listen: "http://0.0.0.0:2380".into(),
        peer_advertise: "http://$SELF:2380".into(),
        initial_cluster: cluster,
        token: workload.to_owned(),
    };
    // Values hold only names, URLs, numbers and `$VARIABLES` to expand: double quotes.
    let flags: String = super::etcd::member_flags(&member, super::etcd::PLATFORM_TIMERS, values)
        .iter()
        .fold(String::new(), |mut out, (flag, value)| {
            let _ = write!(out, " \\\n  {flag} \"{value}\"");
            out
        });
    format!(
        r#"#!/bin/bash
# etcd member start-up (workload {workload}, {members} members).
set -euo pipefail
INDEX="${{HOSTNAME##*-}}"
LOCATION="$(basename "$CPLN_LOCATION")"
SELF="{own_host}"
{enable_auth}etcd{flags} &
ETCD=$!
trap 'kill -TERM "$ETCD" 2>/dev/null || true' TERM INT
# Only Patroni's user may touch the cluster's keys, and only root may change that.
if [ "$INDEX" = 0 ]; then
  enable_auth &
fi
status=0
while kill -0 "$ETCD" 2>/dev/null; do
  wait "$ETCD" || status=$?
done
exit "$status"
"#,
        enable_auth = etcd_enable_auth(scope),
        own_host = super::replica_host("$INDEX", workload, "$LOCATION", gvc),
    )
}

/// HAProxy configuration: one frontend on 5432 that forwards to whichever member
/// answers 200 on Patroni's `/primary`.
#[must_use]
pub(crate) fn haproxy_config(postgres_workload: &str, gvc: &str) -> String {
    // Every index a member can have, not only today's: a scale then needs no proxy
    // change, and a member that does not exist is simply never the primary.
    let mut servers = String::new();
    for i in 0..crate::limits::MAX_REPLICA_DIRECT {
        let _ = writeln!(
            servers,
            "  server member-{i} \"{}:{}\" check port {} resolvers mesh init-addr last,libc,none",
            super::replica_host(&i.to_string(), postgres_workload, "${LOCATION}", gvc),
            super::POSTGRES_PORT,
            super::PATRONI_PORT
        );
    }
    format!(
        r"# Leader routing for {postgres_workload}: one stable write address.
global
  maxconn 2000

resolvers mesh
  parse-resolv-conf
  # Replica names may not resolve yet at start-up; keep retrying instead of pinning
  # whatever the first lookup returned.
  hold valid 5s
  hold nx 5s

defaults
  mode tcp
  timeout connect 5s
  timeout client 30m
  timeout server 30m
  timeout check 3s

frontend health
  mode http
  bind :8404
  monitor-uri /healthz
  monitor fail if {{ nbsrv(primary) lt 1 }}

frontend postgres
  bind :5432
  default_backend primary

backend primary
  option httpchk
  http-check send meth GET uri /primary
  http-check expect status 200
  default-server inter 2s fall 2 rise 1 on-marked-down shutdown-sessions
{servers}"
    )
}

/// The proxy container's command: HAProxy expands `${{LOCATION}}` from its environment.
#[must_use]
pub(crate) fn proxy_start() -> String {
    r#"#!/bin/sh
set -eu
LOCATION="$(basename "$CPLN_LOCATION")"
export LOCATION
exec haproxy -W -db -f /etc/postgres-ha/haproxy.cfg
"#
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_initial_cluster_lists_every_member() {
        let script = etcd_start(
            "db-etcd",
            "db",
            "prod",
            3,
            &crate::values::Values::default(),
        );
        assert!(script.contains(
            "db-etcd-0=http://replica-0.db-etcd.${LOCATION}.prod.cpln.local:2380,db-etcd-1="
        ));
        assert!(script.contains("db-etcd-2=http://replica-2."));
        assert!(!script.contains("db-etcd-3="));
        assert!(script.contains("--auto-compaction-retention \"1h\""));
        // The same flags as the local cluster, from one list.
        let local = crate::local::etcd_args(
            "c",
            "/s",
            0,
            &crate::local::Ports {
                etcd: vec![(1, 2)],
                members: vec![],
            },
            &crate::values::Values::default(),
        );
        for (flag, _) in super::super::etcd::member_flags(
            &super::super::etcd::EtcdMember {
                name: String::new(),
                data_dir: String::new(),
                client_listen: String::new(),
                client_advertise: String::new(),
                peer_listen: String::new(),
                peer_advertise: String::new(),
                initial_cluster: String::new(),
                token: String::new(),
            },
            super::super::etcd::PLATFORM_TIMERS,
            &crate::values::Values::default(),
        ) {
            assert!(script.contains(&format!("  {flag} ")), "{flag}");
            assert!(
                local.iter().any(|a| a.starts_with(&format!("{flag}="))),
                "{flag}"
            );
        }
    }

    #[test]
    fn haproxy_checks_every_member_for_the_primary() {
        let config = haproxy_config("db-postgres", "prod");
        assert_eq!(
            config.matches("check port 8008").count(),
            crate::limits::MAX_REPLICA_DIRECT as usize
        );
        assert!(config.contains("uri /primary"));
    }

    #[test]
    fn scripts_expand_secrets_only_inside_double_quotes() {
        for script in [
            post_bootstrap(),
            postgres_pre_stop("w"),
            postgres_start("w", 12, 22),
        ] {
            for var in [
                "APP_PASSWORD",
                "PATRONI_RESTAPI_PASSWORD",
                "APP_USERNAME",
                "APP_DATABASE",
            ] {
                for (at, _) in script.match_indices(&format!("${var}")) {
                    let line_start = script[..at].rfind('\n').map_or(0, |i| i + 1);
                    let before = &script[line_start..at];
                    assert_eq!(
                        before.matches('"').count() % 2,
                        1,
                        "unquoted ${var} in: {before}"
                    );
                }
            }
        }
    }
}
