//! The Control Plane transport: Patroni's REST API and psql reached inside each
//! member's container through the exec websocket, with the scripts core writes.
//! Members are the PostgreSQL workload's replicas, whose names are Patroni's.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use postgres_ha_core::cpln::exec::{
    login_accepted, login_input, login_script, patroni_answer, patroni_input, patroni_script,
    psql_input, psql_script,
};
use postgres_ha_core::cpln::{
    ApiRequest, CommandStage, Kind, Method, delete_volume_request, scale_request,
    stop_replica_request,
};
use postgres_ha_core::local::Reach;
use postgres_ha_core::operate::{Answer, Login, Pickup, RECREATE_WAIT, Request, Sql};
use postgres_ha_core::render::{
    CredentialKey, MEMBER_HOME, Names, POSTGRES_PORT, replica_host, service_host,
};
use serde_json::Value;

use super::{Connection, exec};
use crate::transport::Transport;

/// Longest a Patroni request that changes something may take (a switchover or a
/// restart answers once done), and a read.
const CHANGE_SECONDS: u64 = 150;
const READ_SECONDS: u64 = 10;
/// Longest one SQL statement may run.
const SQL_TIMEOUT: Duration = Duration::from_secs(120);
/// What the exec round trip itself may add.
const EXEC_MARGIN: Duration = Duration::from_secs(20);
/// Tries of an exec that did not start, and the pause between them.
const EXEC_ATTEMPTS: u32 = 4;
const EXEC_RETRY_PAUSE: Duration = Duration::from_secs(1);
/// Longest the platform may take to start or remove members after a scale (a new
/// member's volume is provisioned first).
const SCALE_WAIT: Duration = Duration::from_secs(600);

pub(crate) struct ControlPlane {
    conn: Connection,
    names: Names,
    /// The location the members run in, and its exec and replica-list host.
    location: String,
    remote: String,
    /// The replicas, in index order; re-read after a scale.
    members: RwLock<Vec<String>>,
    /// A superuser password to try before the container's own (a rotation's new one,
    /// which members not restarted yet do not have).
    superuser_first: RwLock<Option<String>>,
}

/// The replicas the platform lists for `workload`, in index order.
fn replicas(conn: &Connection, remote: &str, workload: &str) -> anyhow::Result<Vec<String>> {
    let url = format!(
        "{}/replicas/org/{}/gvc/{}/workload/{workload}",
        remote.trim_end_matches('/'),
        conn.place.org,
        conn.place.gvc,
    );
    let list = conn.api.get_url(&url)?.unwrap_or(Value::Null);
    let mut members: Vec<String> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i.as_str().map(str::to_owned))
        .collect();
    // Replica names end in their index: order by it, not as text (10 after 9).
    members.sort_by_key(|m| (index_of(m).and_then(|i| i.parse::<u32>().ok()), m.clone()));
    Ok(members)
}

impl ControlPlane {
    /// Finds release `name`'s PostgreSQL workload, its location's remote and its
    /// replicas.
    pub(crate) fn open(conn: Connection, name: &str) -> anyhow::Result<Self> {
        let names = Names::new(name);
        let workload = Kind::Workload.item(&conn.place, &names.postgres);
        let deployments = conn
            .api
            .get(&format!("{workload}/deployment"))?
            .with_context(|| {
                format!(
                    "release {name} has no workload {} in GVC {} (`deploy` creates it)",
                    names.postgres, conn.place.gvc
                )
            })?;
        let (location, remote) = deployments["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|d| {
                let remote = d["status"]["remote"].as_str()?;
                Some((d["name"].as_str()?.to_owned(), remote.to_owned()))
            })
            .with_context(|| format!("{} is not deployed in any location yet", names.postgres))?;
        let members = replicas(&conn, &remote, &names.postgres)?;
        anyhow::ensure!(
            !members.is_empty(),
            "{} has no running replicas",
            names.postgres
        );
        Ok(Self {
            conn,
            names,
            location,
            remote,
            members: RwLock::new(members),
            superuser_first: RwLock::new(None),
        })
    }

    /// Sets the member count and waits until the platform lists exactly that many
    /// replicas; the list it then has.
    fn scale_to(&self, count: usize) -> anyhow::Result<Vec<String>> {
        let members = u32::try_from(count)?;
        self.conn.api.send(&scale_request(
            &self.conn.place,
            &self.names.postgres,
            members,
        ))?;
        let deadline = Instant::now() + SCALE_WAIT;
        loop {
            let listed = replicas(&self.conn, &self.remote, &self.names.postgres)?;
            if listed.len() == count {
                if let Ok(mut known) = self.members.write() {
                    known.clone_from(&listed);
                }
                return Ok(listed);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} lists {} replicas, not {count}, after {} s",
                self.names.postgres,
                listed.len(),
                SCALE_WAIT.as_secs()
            );
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    fn known(&self) -> Vec<String> {
        self.members.read().map(|m| m.clone()).unwrap_or_default()
    }

    /// Where the release is.
    pub(crate) fn place(&self) -> &postgres_ha_core::cpln::Place {
        &self.conn.place
    }

    /// How clients inside the GVC reach the release, by `reach`: the leader-routing
    /// proxy's service for the leader when the release has one, else every member's
    /// own address (libpq picks).
    pub(crate) fn client_hosts(&self, reach: Reach) -> anyhow::Result<Vec<(String, u16)>> {
        let proxy = Kind::Workload.item(&self.conn.place, &self.names.proxy);
        if reach == Reach::Leader && self.conn.api.get(&proxy)?.is_some() {
            return Ok(vec![(
                service_host(&self.names.proxy, &self.conn.place.gvc),
                POSTGRES_PORT,
            )]);
        }
        Ok(self
            .known()
            .iter()
            .map(|member| {
                let index = index_of(member).unwrap_or_default();
                let host = replica_host(
                    index,
                    &self.names.postgres,
                    &self.location,
                    &self.conn.place.gvc,
                );
                (host, POSTGRES_PORT)
            })
            .collect())
    }

    /// The release's credentials secret's data, revealed.
    fn credentials(&self) -> anyhow::Result<Value> {
        let path = Kind::Secret.read(&self.conn.place, &self.names.credentials);
        let secret = self
            .conn
            .api
            .get(&path)?
            .with_context(|| format!("the release has no secret {}", self.names.credentials))?;
        // Its passwords are now in this process: mask them in every message.
        let keys = std::iter::once(CredentialKey::App).chain(CredentialKey::INTERNAL);
        self.conn.api.hide(
            keys.filter_map(|key| secret["data"][key.secret_key()].as_str().map(str::to_owned)),
        );
        Ok(secret["data"].clone())
    }

    /// Runs `script` in `member`'s container. An exec that did not start (the
    /// socket, or a container starting or stopping) is tried again while the time
    /// allows; one that started is never repeated.
    fn exec(
        &self,
        member: &str,
        script: &str,
        input: Option<&str>,
        timeout: Duration,
    ) -> anyhow::Result<(String, i32)> {
        let deadline = Instant::now() + timeout;
        let mut attempt = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match exec::run(
                &self.conn.api,
                &self.remote,
                &self.conn.place,
                member,
                script,
                input,
                left.max(Duration::from_secs(1)),
            ) {
                Err(error)
                    if error.downcast_ref::<exec::NotStarted>().is_some()
                        && attempt + 1 < EXEC_ATTEMPTS
                        && left > EXEC_RETRY_PAUSE =>
                {
                    attempt += 1;
                    std::thread::sleep(EXEC_RETRY_PAUSE);
                }
                result => return result,
            }
        }
    }

    fn member(&self, name: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.known().iter().any(|m| m == name),
            "the cluster has no member {name} (members: {})",
            self.known().join(", ")
        );
        Ok(())
    }
}

/// A replica's index: the digits its name ends in (`db-postgres-2` → `2`).
fn index_of(member: &str) -> Option<&str> {
    let digits = member.len() - member.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    (digits > 0).then(|| &member[member.len() - digits..])
}

impl Transport for ControlPlane {
    fn members(&self) -> Vec<String> {
        self.known()
    }

    fn patroni(&self, member: &str, request: &Request) -> anyhow::Result<Answer> {
        self.member(member)?;
        let seconds = if request.needs_credentials() {
            CHANGE_SECONDS
        } else {
            READ_SECONDS
        };
        let input = patroni_input(request);
        let (output, status) = self.exec(
            member,
            &patroni_script(request, seconds),
            input.as_deref(),
            Duration::from_secs(seconds) + EXEC_MARGIN,
        )?;
        anyhow::ensure!(
            status == 0,
            "{member}'s Patroni did not answer {request}: {}",
            self.conn.api.redact(output.trim())
        );
        patroni_answer(&output)
            .with_context(|| format!("{member}'s Patroni gave no status for {request}"))
    }

    fn sql(&self, member: &str, sql: &Sql) -> anyhow::Result<String> {
        self.member(member)?;
        let first = self.superuser_first.read().ok().and_then(|p| p.clone());
        let (output, status) = self.exec(
            member,
            &psql_script(),
            Some(&psql_input(sql, first.as_deref())),
            SQL_TIMEOUT + EXEC_MARGIN,
        )?;
        anyhow::ensure!(
            status == 0,
            "`{sql}` on {member} failed: {}",
            self.conn.api.redact(output.trim())
        );
        Ok(output.trim().to_owned())
    }

    fn put_file(&self, member: &str, name: &str, text: &str) -> anyhow::Result<()> {
        self.member(member)?;
        let script = format!("cat > '{MEMBER_HOME}/{name}'");
        let (output, status) = self.exec(member, &script, Some(text), EXEC_MARGIN)?;
        anyhow::ensure!(
            status == 0,
            "cannot write {name} on {member}: {}",
            output.trim()
        );
        Ok(())
    }

    fn remove_file(&self, member: &str, name: &str) -> anyhow::Result<()> {
        self.member(member)?;
        let script = format!("rm -f '{MEMBER_HOME}/{name}'");
        let (output, status) = self.exec(member, &script, None, EXEC_MARGIN)?;
        anyhow::ensure!(
            status == 0,
            "cannot remove {name} on {member}: {}",
            output.trim()
        );
        Ok(())
    }

    fn add_members(&self, count: usize) -> anyhow::Result<Vec<String>> {
        let before = self.known();
        let after = self.scale_to(before.len() + count)?;
        Ok(after.into_iter().filter(|m| !before.contains(m)).collect())
    }

    fn remove_members(&self, members: &[String], purge: bool) -> anyhow::Result<()> {
        let before = self.known();
        let keep = before.len().saturating_sub(members.len());
        // The platform removes the highest indexes: the plan must have chosen those.
        anyhow::ensure!(
            before[keep..] == *members,
            "Control Plane removes the last members ({}), not {}",
            before[keep..].join(", "),
            members.join(", ")
        );
        self.scale_to(keep)?;
        if purge {
            for member in members {
                let index = index_of(member)
                    .and_then(|i| i.parse::<usize>().ok())
                    .with_context(|| format!("{member} has no index"))?;
                self.conn.api.send(&delete_volume_request(
                    &self.conn.place,
                    &self.names.postgres_volumes,
                    &self.location,
                    index,
                ))?;
            }
        }
        Ok(())
    }

    fn try_login(&self, member: &str, login: &Login, password: &str) -> anyhow::Result<bool> {
        self.member(member)?;
        let (output, status) = self.exec(
            member,
            &login_script(login),
            Some(&login_input(login, password)),
            EXEC_MARGIN,
        )?;
        match (status, login_accepted(&output)) {
            (0, Some(accepted)) => Ok(accepted),
            _ => anyhow::bail!(
                "trying a login on {member} failed: {}",
                self.conn.api.redact(output.trim())
            ),
        }
    }

    fn also_accept(&self, key: CredentialKey, password: &str) {
        self.conn.api.hide([password.to_owned()]);
        // Patroni requests use each container's own REST API password, which matches
        // its own Patroni; only SQL meets a database that already has the new one.
        if key == CredentialKey::Superuser
            && let Ok(mut first) = self.superuser_first.write()
        {
            *first = Some(password.to_owned());
        }
    }

    fn app_values(&self) -> anyhow::Result<Vec<u8>> {
        let data = self.credentials()?;
        let text = |key: &str| data[key].as_str().unwrap_or_default().to_owned();
        let values = serde_json::json!({
            "postgres": {"username": text("username"), "database": text("database")},
        });
        Ok(serde_json::to_vec_pretty(&values)?)
    }

    fn stored_password(&self, key: CredentialKey) -> anyhow::Result<String> {
        self.credentials()?[key.secret_key()]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("the release's secret has no {}", key.secret_key()))
    }

    fn store_password(&self, key: CredentialKey, password: &str) -> anyhow::Result<()> {
        // Members read the internal passwords from their environment at start: the
        // rotation then restarts each one (`pickup`).
        self.conn.api.hide([password.to_owned()]);
        let request = ApiRequest {
            method: Method::Patch,
            path: Kind::Secret.item(&self.conn.place, &self.names.credentials),
            body: Some(serde_json::json!({"data": {key.secret_key(): password}})),
        };
        self.conn.api.send(&request)?;
        Ok(())
    }

    fn recreate(&self, member: &str) -> anyhow::Result<()> {
        self.member(member)?;
        let workload = Kind::Workload.item(&self.conn.place, &self.names.postgres);
        let reply = self.conn.api.send(&stop_replica_request(
            &self.conn.place,
            &self.names.postgres,
            member,
            &self.location,
        ))?;
        // The command's own address: the Location header, else its id.
        let command = match (&reply.location, reply.body["id"].as_str()) {
            (Some(location), _) if location.starts_with("http") => location.clone(),
            (Some(path), _) => self.conn.api.url(path),
            (None, Some(id)) => self.conn.api.url(&format!("{workload}/-command/{id}")),
            (None, None) => anyhow::bail!("stopping {member}: the API did not say which command"),
        };
        // The platform acts on a stop within about 90 s; once the command completed,
        // the old container is gone and the member that answers is the new one.
        let deadline = Instant::now() + Duration::from_secs(u64::from(RECREATE_WAIT));
        loop {
            let state = self
                .conn
                .api
                .get_url(&command)?
                .with_context(|| format!("the command stopping {member} vanished"))?;
            match CommandStage::of(&state) {
                CommandStage::Completed => return Ok(()),
                CommandStage::Ended => anyhow::bail!(
                    "the platform did not stop {member}: the command is {}",
                    state["lifecycleStage"].as_str().unwrap_or("ended")
                ),
                CommandStage::Underway => {}
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the platform has not stopped {member} within {RECREATE_WAIT} s (`cpln workload \
                 get-deployments {}` shows why)",
                self.names.postgres
            );
            std::thread::sleep(Duration::from_secs(2));
        }
    }

    fn pickup(&self) -> Pickup {
        // The workload's environment refers to the secret; a container takes its
        // values when it starts.
        Pickup::Restart
    }
}

#[cfg(test)]
mod tests {
    use super::index_of;

    #[test]
    fn replica_indexes_are_the_trailing_digits() {
        assert_eq!(index_of("db-postgres-12"), Some("12"));
        assert_eq!(index_of("db-pg0"), Some("0"));
        assert_eq!(index_of("db-postgres"), None);
    }
}
