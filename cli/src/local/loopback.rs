//! The local cluster's transport: Patroni's REST API over HTTP and `psql` on
//! 127.0.0.1, files in the members' directories.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use anyhow::Context;
use postgres_ha_core::local::member_name;
use postgres_ha_core::operate::{Answer, Login, Method, Pickup, Request, Sql};
use postgres_ha_core::render::{CredentialKey, RESTAPI_USER, SUPERUSER};
use postgres_ha_core::replace_scalar;

use super::process::hand_over;
use super::state::{Cluster, ClusterFile};
use crate::transport::Transport;

/// Longest a request that changes something may take: Patroni answers a switchover
/// or a restart only once it is done.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(150);
/// Longest a read may take.
const READ_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest one SQL statement may run.
const SQL_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone)]
struct LocalMember {
    name: String,
    postgres: u16,
    api: u16,
    home: PathBuf,
}

pub(crate) struct Loopback {
    cluster: Cluster,
    /// Re-read after a scale.
    members: RwLock<Vec<LocalMember>>,
    read: reqwest::blocking::Client,
    change: reqwest::blocking::Client,
    /// Passwords to try, the likeliest first (a rotation adds the new one).
    restapi: RwLock<Vec<String>>,
    superuser: RwLock<Vec<String>>,
    pg_bin: PathBuf,
    pg_lib: PathBuf,
}

impl Loopback {
    pub(crate) fn new(cluster: &Cluster, file: &ClusterFile) -> anyhow::Result<Self> {
        let credentials = cluster.load_credentials()?;
        let password = |key| credentials.get(key).unwrap_or_default().to_owned();
        let client = |timeout| {
            reqwest::blocking::Client::builder()
                .timeout(timeout)
                .no_proxy()
                .build()
                .context("cannot set up an HTTP client")
        };
        Ok(Self {
            cluster: cluster.clone(),
            members: RwLock::new(local_members(cluster, file)),
            read: client(READ_TIMEOUT)?,
            change: client(CHANGE_TIMEOUT)?,
            restapi: RwLock::new(vec![password(CredentialKey::RestApi)]),
            superuser: RwLock::new(vec![password(CredentialKey::Superuser)]),
            pg_bin: file.runtime.join("pg/bin"),
            pg_lib: file.runtime.join("pg/lib"),
        })
    }

    fn member(&self, name: &str) -> anyhow::Result<LocalMember> {
        self.members
            .read()
            .map_err(|_| anyhow::anyhow!("member list poisoned"))?
            .iter()
            .find(|m| m.name == name)
            .cloned()
            .with_context(|| format!("the cluster has no member {name}"))
    }

    fn send(
        &self,
        target: &LocalMember,
        request: &Request,
        password: Option<&str>,
    ) -> anyhow::Result<Answer> {
        let url = format!("http://127.0.0.1:{}{}", target.api, request.path);
        let client = if request.needs_credentials() {
            &self.change
        } else {
            &self.read
        };
        let mut builder = match request.method {
            Method::Get => client.get(&url),
            Method::Post => client.post(&url),
            Method::Patch => client.patch(&url),
        };
        if let Some(password) = password {
            builder = builder.basic_auth(RESTAPI_USER, Some(password));
        }
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        let response = builder
            .send()
            .with_context(|| format!("{}'s Patroni did not answer {request}", target.name))?;
        let status = response.status().as_u16();
        let body = response.text().unwrap_or_default();
        Ok(Answer { status, body })
    }

    /// Runs `script` with psql on `target` as `user`; the password and the variables
    /// go through psql's environment.
    fn psql(
        &self,
        target: &LocalMember,
        user: &str,
        extra: &str,
        password: &str,
        script: &str,
        variables: &[(String, &str)],
    ) -> anyhow::Result<Psql> {
        let mut command = Command::new(self.pg_bin.join("psql"));
        for (name, value) in variables {
            command.env(name, value);
        }
        let mut child = command
            .arg(format!(
                "host=127.0.0.1 port={} user={} dbname=postgres connect_timeout=3 {extra}",
                target.postgres,
                postgres_ha_core::local::conninfo_value(user)
            ))
            .args(["--no-psqlrc", "--no-align", "--tuples-only", "--quiet"])
            .args(["-v", "ON_ERROR_STOP=1"])
            .env("PGPASSWORD", password)
            .env("LD_LIBRARY_PATH", &self.pg_lib)
            .env("PGAPPNAME", "cpln-postgres-ha")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot run psql")?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(script.as_bytes())?;
        }
        let deadline = Instant::now() + SQL_TIMEOUT;
        while child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                anyhow::bail!("psql on {} did not finish in {SQL_TIMEOUT:?}", target.name);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let output = child.wait_with_output()?;
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        Ok(if output.status.success() {
            Psql::Done(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        } else if stderr.contains("password authentication failed") {
            Psql::Refused(stderr)
        } else {
            Psql::Failed(stderr)
        })
    }

    fn refresh(&self) -> anyhow::Result<()> {
        let file = self.cluster.load()?;
        if let Ok(mut members) = self.members.write() {
            *members = local_members(&self.cluster, &file);
        }
        Ok(())
    }
}

/// How a psql run ended.
enum Psql {
    Done(String),
    /// The password was refused.
    Refused(String),
    Failed(String),
}

/// The passwords to try, in order.
fn candidates(list: &RwLock<Vec<String>>) -> Vec<String> {
    list.read().map(|l| l.clone()).unwrap_or_default()
}

fn local_members(cluster: &Cluster, file: &ClusterFile) -> Vec<LocalMember> {
    file.ports
        .members
        .iter()
        .enumerate()
        .map(|(i, (postgres, api))| LocalMember {
            name: member_name(&cluster.name, i),
            postgres: *postgres,
            api: *api,
            home: cluster.member_home(i),
        })
        .collect()
}

impl Transport for Loopback {
    fn members(&self) -> Vec<String> {
        self.members
            .read()
            .map(|m| m.iter().map(|m| m.name.clone()).collect())
            .unwrap_or_default()
    }

    fn add_members(&self, count: usize) -> anyhow::Result<Vec<String>> {
        let added = super::scale::grow(&self.cluster, count)?;
        self.refresh()?;
        Ok(added)
    }

    fn remove_members(&self, members: &[String], purge: bool) -> anyhow::Result<()> {
        super::scale::shrink(&self.cluster, members, purge)?;
        self.refresh()
    }

    fn recreate(&self, member: &str) -> anyhow::Result<()> {
        self.member(member)?;
        let index = postgres_ha_core::local::member_index(&self.cluster.name, member)
            .with_context(|| format!("{member} is not a member name of this cluster"))?;
        anyhow::ensure!(
            !self.cluster.load_held().contains(&index),
            "{member} is held down by `local stop`; `local start` it first"
        );
        // A clean stop (Patroni hands over or stops its PostgreSQL), then a start.
        super::lifecycle::hold_members(&self.cluster, &[index], true)?;
        super::lifecycle::hold_members(&self.cluster, &[index], false)
    }

    fn pickup(&self) -> Pickup {
        // Patroni reads the passwords from its configuration file (see
        // `write_member_config`), and a reload re-reads it.
        Pickup::Reload
    }

    fn patroni(&self, member: &str, request: &Request) -> anyhow::Result<Answer> {
        let target = self.member(member)?;
        if !request.needs_credentials() {
            return self.send(&target, request, None);
        }
        // During a rotation some members know the new password and some the old.
        let candidates = candidates(&self.restapi);
        let mut answer = None;
        for password in &candidates {
            let this = self.send(&target, request, Some(password))?;
            let refused = this.status == 401;
            answer = Some(this);
            if !refused {
                break;
            }
        }
        answer.context("no REST API password is known")
    }

    fn sql(&self, member: &str, sql: &Sql) -> anyhow::Result<String> {
        let target = self.member(member)?;
        // Values reach psql through its environment (`\getenv`), which only this user
        // can read, never through its command line.
        let mut script = String::new();
        let mut variables = Vec::new();
        for (name, value) in &sql.variables {
            let variable = format!("PGHA_VAR_{name}");
            let _ = writeln!(script, "\\getenv {name} {variable}");
            variables.push((variable, value.as_str()));
        }
        script.push_str(sql.text);
        script.push_str(";\n");
        let mut last = None;
        for password in candidates(&self.superuser) {
            let outcome = self.psql(&target, SUPERUSER, "", &password, &script, &variables)?;
            match outcome {
                Psql::Done(output) => return Ok(output),
                Psql::Refused(message) => last = Some(message),
                Psql::Failed(message) => anyhow::bail!("`{sql}` on {member} failed: {message}"),
            }
        }
        anyhow::bail!(
            "`{sql}` on {member} failed: {}",
            last.unwrap_or_else(|| "no superuser password is known".into())
        )
    }

    fn try_login(&self, member: &str, login: &Login, password: &str) -> anyhow::Result<bool> {
        let target = self.member(member)?;
        match login {
            Login::Database { user, replication } => {
                let (extra, script) = if *replication {
                    ("replication=true", "IDENTIFY_SYSTEM;\n")
                } else {
                    ("", "SELECT 1;\n")
                };
                match self.psql(&target, user, extra, password, script, &[])? {
                    Psql::Done(_) => Ok(true),
                    Psql::Refused(_) => Ok(false),
                    Psql::Failed(message) => {
                        anyhow::bail!("logging in as {user} on {member} failed: {message}")
                    }
                }
            }
            Login::RestApi => {
                let answer = self.send(&target, &Request::reload(), Some(password))?;
                Ok(answer.status != 401)
            }
        }
    }

    fn also_accept(&self, key: CredentialKey, password: &str) {
        let list = match key {
            CredentialKey::RestApi => &self.restapi,
            CredentialKey::Superuser => &self.superuser,
            _ => return,
        };
        if let Ok(mut list) = list.write()
            && !list.iter().any(|p| p == password)
        {
            list.insert(0, password.to_owned());
        }
    }

    fn app_values(&self) -> anyhow::Result<Vec<u8>> {
        std::fs::read(self.cluster.values()).context("cannot read the cluster's recorded values")
    }

    fn stored_password(&self, key: CredentialKey) -> anyhow::Result<String> {
        if key == CredentialKey::App {
            let values = postgres_ha_core::check(&std::fs::read(self.cluster.values())?)
                .values
                .context("the cluster's recorded values no longer validate")?;
            return Ok(values.postgres.password);
        }
        self.cluster
            .load_credentials()?
            .get(key)
            .map(str::to_owned)
            .context("the cluster has no such password")
    }

    fn store_password(&self, key: CredentialKey, password: &str) -> anyhow::Result<()> {
        let _turn = self.cluster.lock()?;
        if key == CredentialKey::App {
            // The application's password lives in the cluster's copy of the values:
            // rewritten in place (comments and layout kept), then checked to hold
            // exactly the new password and nothing else changed.
            let text = std::fs::read_to_string(self.cluster.values())?;
            let before = postgres_ha_core::check(text.as_bytes())
                .values
                .context("the cluster's recorded values no longer validate")?;
            let changed = replace_scalar(&text, "/postgres/password", password).context(
                "the recorded values do not write postgres.password as a one-line scalar",
            )?;
            let mut expected = before;
            password.clone_into(&mut expected.postgres.password);
            let after = postgres_ha_core::check(changed.as_bytes()).values;
            anyhow::ensure!(
                after.as_ref() == Some(&expected),
                "rewriting postgres.password in the recorded values changed more than it"
            );
            crate::secrets::write_atomic(&self.cluster.values(), &changed, 0o600)?;
            return super::process::hand_over(&self.cluster.values());
        }
        let mut credentials = self.cluster.load_credentials()?;
        credentials.set(key, password.to_owned());
        self.cluster.save_credentials(&credentials)?;
        let file = self.cluster.load()?;
        let values = postgres_ha_core::check(&std::fs::read(self.cluster.values())?)
            .values
            .context("the cluster's recorded values no longer validate")?;
        for i in 0..file.ports.members.len() {
            self.cluster
                .write_member_config(&file, &values, &credentials, i)?;
        }
        Ok(())
    }

    fn put_file(&self, member: &str, name: &str, text: &str) -> anyhow::Result<()> {
        let path = self.member(member)?.home.join(name);
        crate::secrets::write_atomic(&path, text, 0o644)?;
        // The member's hooks run as the service user and delete it once read.
        hand_over(&path)
    }

    fn remove_file(&self, member: &str, name: &str) -> anyhow::Result<()> {
        let path = self.member(member)?.home.join(name);
        match std::fs::remove_file(&path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                Err(error).with_context(|| format!("cannot remove {}", path.display()))
            }
            _ => Ok(()),
        }
    }
}
