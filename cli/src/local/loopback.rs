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
use postgres_ha_core::operate::{Answer, Method, Request, Sql};
use postgres_ha_core::render::patroni::{CredentialKey, RESTAPI_USER, SUPERUSER};

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
    restapi_password: String,
    superuser_password: String,
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
            restapi_password: password(CredentialKey::RestApi),
            superuser_password: password(CredentialKey::Superuser),
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

    fn refresh(&self) -> anyhow::Result<()> {
        let file = self.cluster.load()?;
        if let Ok(mut members) = self.members.write() {
            *members = local_members(&self.cluster, &file);
        }
        Ok(())
    }
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

    fn patroni(&self, member: &str, request: &Request) -> anyhow::Result<Answer> {
        let target = self.member(member)?;
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
        if request.needs_credentials() {
            builder = builder.basic_auth(RESTAPI_USER, Some(&self.restapi_password));
        }
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        let response = builder
            .send()
            .with_context(|| format!("{member}'s Patroni did not answer {request}"))?;
        let status = response.status().as_u16();
        let body = response.text().unwrap_or_default();
        Ok(Answer { status, body })
    }

    fn sql(&self, member: &str, sql: &Sql) -> anyhow::Result<String> {
        let target = self.member(member)?;
        // Values reach psql through its environment (`\getenv`), which only this user
        // can read, never through its command line.
        let mut script = String::new();
        let mut command = Command::new(self.pg_bin.join("psql"));
        for (name, value) in &sql.variables {
            let variable = format!("PGHA_VAR_{name}");
            let _ = writeln!(script, "\\getenv {name} {variable}");
            command.env(variable, value);
        }
        script.push_str(sql.text);
        script.push_str(";\n");
        let mut child = command
            .arg(format!(
                "host=127.0.0.1 port={} user={SUPERUSER} dbname=postgres connect_timeout=3",
                target.postgres
            ))
            .args(["--no-psqlrc", "--no-align", "--tuples-only", "--quiet"])
            .args(["-v", "ON_ERROR_STOP=1"])
            .env("PGPASSWORD", &self.superuser_password)
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
                anyhow::bail!("`{sql}` on {member} did not finish in {SQL_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let output = child.wait_with_output()?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        anyhow::ensure!(
            output.status.success(),
            "`{sql}` on {member} failed: {}",
            stderr.trim()
        );
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
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
