//! A local cluster for tests: one at a time, in its own state directory, purged and
//! stopped by PID when dropped; a writer that records every acknowledged id.

// Test helpers: every result is used by a test, and failing loudly is their job.
#![allow(clippy::must_use_candidate)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{Output, bin, root, run};

/// One cluster at a time: each runs nine server processes on two cores.
pub static SERIAL: Mutex<()> = Mutex::new(());

pub const PASSWORD: &str = "local-test-password-1";

#[must_use]
pub fn runtime() -> PathBuf {
    root().join(".tools/runtime")
}

/// A local cluster in its own state directory, purged when dropped.
pub struct Local {
    pub state: tempfile::TempDir,
    pub name: String,
    pub values: PathBuf,
}

impl Local {
    pub fn new(name: &str) -> Self {
        let state = tempfile::tempdir().unwrap();
        let values = state.path().join("values.yaml");
        std::fs::write(
            &values,
            format!("postgres:\n  username: app\n  database: app\n  password: {PASSWORD}\npatroni:\n  timing:\n    preset: fast\n"),
        )
        .unwrap();
        Self {
            state,
            name: name.to_owned(),
            values,
        }
    }

    pub fn cli(&self, args: &[&str], limit: u64) -> Output {
        let mut command = Command::new(bin());
        command
            .args(args)
            .env("CPLN_POSTGRES_HA_STATE", self.state.path())
            .env("CPLN_POSTGRES_HA_RUNTIME", runtime())
            .env_remove("NO_COLOR");
        run(&mut command, None, Duration::from_secs(limit))
    }

    pub fn up(&self) -> Output {
        self.cli(
            &[
                "local",
                "up",
                &self.name,
                "-f",
                self.values.to_str().unwrap(),
            ],
            180,
        )
    }

    /// Brings the cluster up and waits for a synchronous standby: synchronous mode
    /// promotes only that member, so a failover test needs one.
    pub fn up_with_sync_standby(&self) -> Value {
        let up = self.up();
        assert_eq!(up.code, Some(0), "{}{}", up.stdout, up.stderr);
        self.wait_for("a synchronous standby", Duration::from_secs(30), |s| {
            Self::member(s, "sync_standby").is_some_and(|m| m["state"] == "streaming")
        })
    }

    pub fn dir(&self) -> PathBuf {
        self.state.path().join(&self.name)
    }

    /// The cluster's internal passwords by secret key (`superuser-password`, …).
    pub fn credentials(&self) -> std::collections::BTreeMap<String, String> {
        std::fs::read_to_string(self.dir().join("credentials.yaml"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once(": "))
            .filter(|(k, _)| k.ends_with("-password"))
            .map(|(k, v)| (k.to_owned(), serde_json::from_str::<String>(v).unwrap()))
            .collect()
    }

    pub fn status(&self) -> Value {
        let out = self.cli(&["local", "status", &self.name, "-o", "json"], 30);
        serde_json::from_str(&out.stdout).unwrap_or_else(|_| panic!("{out:?}"))
    }

    pub fn member<'a>(status: &'a Value, role: &str) -> Option<&'a Value> {
        status["members"]
            .as_array()?
            .iter()
            .find(|m| m["role"] == role)
    }

    /// Waits until `check` holds for the cluster status.
    pub fn wait_for(&self, what: &str, limit: Duration, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let status = self.status();
            if check(&status) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {status:#}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn psql(port: u64, sql: &str) -> Output {
        Self::psql_as(port, "app", PASSWORD, sql)
    }

    pub fn psql_as(port: u64, user: &str, password: &str, sql: &str) -> Output {
        let pg = runtime().join("pg");
        run(
            Command::new(pg.join("bin/psql"))
                .arg(format!(
                    "host=127.0.0.1 port={port} user={user} dbname=app connect_timeout=3"
                ))
                .args(["-XtAc", sql])
                .env_clear()
                .env("LD_LIBRARY_PATH", pg.join("lib"))
                .env("PGPASSWORD", password),
            None,
            Duration::from_secs(30),
        )
    }

    /// Creates the `acked` table on `leader` and starts a writer on the read-write DSN
    /// for `seconds`, recording each acknowledged id and its time; returns once it has
    /// written for a few seconds.
    pub fn start_writer(&self, leader: &Value, seconds: u32) -> (std::process::Child, PathBuf) {
        let create = Self::psql(
            leader["port"].as_u64().unwrap(),
            "create table acked (id int primary key)",
        );
        assert_eq!(create.code, Some(0), "{}", create.stderr);
        let dsn = self
            .cli(&["local", "dsn", &self.name], 30)
            .stdout
            .trim()
            .to_owned();
        let acked_file = self.state.path().join("acked.txt");
        let writer = Command::new(runtime().join("venv/bin/python"))
            .args(["-c", WRITER, &dsn, PASSWORD, &seconds.to_string()])
            .arg(&acked_file)
            .env("LD_LIBRARY_PATH", runtime().join("pg/lib"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs(3));
        (writer, acked_file)
    }

    /// After a failure: the end of every server log (`local logs`), for the test's
    /// output (the state directory is purged on drop).
    #[allow(clippy::print_stderr)] // the harness shows a failed test's stderr
    fn show_logs(&self) {
        let logs = self.cli(&["local", "logs", &self.name], 60);
        eprintln!("{}{}", logs.stdout, logs.stderr);
    }

    pub fn recorded_pids(&self) -> Vec<u32> {
        let text = std::fs::read_to_string(self.dir().join("pids.json")).unwrap_or_default();
        let pids: Value = serde_json::from_str(&text).unwrap_or_default();
        let mut all = vec![pids["supervisor"].as_u64()];
        for kind in ["etcd", "patroni"] {
            all.extend(
                pids[kind]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(Value::as_u64),
            );
        }
        all.into_iter()
            .flatten()
            .filter(|p| *p > 0)
            .map(|p| p as u32)
            .collect()
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.show_logs();
        }
        let pids = self.recorded_pids();
        let _ = self.cli(&["local", "down", &self.name, "--purge"], 120);
        for pid in pids.into_iter().filter(|p| alive(u64::from(*p))) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

#[must_use]
pub fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next())
            != Some("Z")
    })
}

pub fn lock() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Inserts ids in a loop on the read-write DSN, reconnecting after an error; writes
/// each acknowledged id and its time to OUT, the time of each failed insert on an
/// open connection (a failed client transaction) to OUT.failed, and each connection
/// and error, timed, to OUT.events (read by [`writer_events`] when a test fails).
pub const WRITER: &str = r#"
import sys, time, psycopg
dsn, password, seconds, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
end = time.time() + seconds
conn, i = None, 0
with open(out, "w") as acked, open(out + ".failed", "w") as failed, open(out + ".events", "w") as events:
    while time.time() < end:
        i += 1
        started = time.time()
        try:
            if conn is None:
                conn = psycopg.connect(dsn, password=password, autocommit=True)
                events.write(f"{started:.3f} {time.time():.3f} connected to port {conn.info.port}\n")
                events.flush()
        except Exception as e:
            events.write(f"{started:.3f} {time.time():.3f} connect failed: {e!r}\n")
            events.flush()
            time.sleep(0.02)
            continue
        try:
            started = time.time()
            conn.execute("insert into acked (id) values (%s)", (i,))
            done = time.time()
            acked.write(f"{i} {done:.3f}\n")
            acked.flush()
            if done - started > 1:
                events.write(f"{started:.3f} {done:.3f} slow insert {i}\n")
                events.flush()
        except Exception as e:
            failed.write(f"{time.time():.3f}\n")
            failed.flush()
            events.write(f"{started:.3f} {time.time():.3f} insert {i} failed: {e!r}\n")
            events.flush()
            conn = None
            time.sleep(0.02)
"#;

/// The writer's acknowledged ids with the time of each acknowledgement.
#[must_use]
pub fn read_acked(path: &std::path::Path) -> Vec<(u64, f64)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (id, at) = l.split_once(' ')?;
            Some((id.parse().ok()?, at.parse().ok()?))
        })
        .collect()
}

/// How many inserts failed on an open connection.
pub fn failed_writes(acked: &std::path::Path) -> usize {
    let mut path = acked.as_os_str().to_owned();
    path.push(".failed");
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

/// The writer's connections, errors and slow inserts, timed (for failure messages).
pub fn writer_events(acked: &std::path::Path) -> String {
    let mut path = acked.as_os_str().to_owned();
    path.push(".events");
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Members that accept read-write sessions right now.
#[must_use]
pub fn primaries(ports: &[u64]) -> Vec<u64> {
    primaries_as(ports, PASSWORD)
}

/// [`primaries`], logging in with the application password `password`.
#[must_use]
pub fn primaries_as(ports: &[u64], password: &str) -> Vec<u64> {
    ports
        .iter()
        .copied()
        .filter(|port| {
            let out = Local::psql_as(*port, "app", password, "select pg_is_in_recovery()");
            out.code == Some(0) && out.stdout.trim() == "f"
        })
        .collect()
}

/// Stops the writer, then checks the end state every HA scenario must reach: exactly
/// one member (of `ports`) accepts writes, and it stores every acknowledged id. The
/// application logs in with `password`. Returns that member's port and the number of
/// acknowledged writes.
pub fn stop_writer_and_check(
    writer: &mut std::process::Child,
    acked_file: &std::path::Path,
    ports: &[u64],
    password: &str,
) -> (u64, usize) {
    let _ = writer.kill();
    let _ = writer.wait();
    let primary = primaries_as(ports, password);
    assert_eq!(
        primary.len(),
        1,
        "not exactly one member accepts writes: {primary:?}"
    );
    let acked: Vec<u64> = read_acked(acked_file)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let stored = Local::psql_as(
        primary[0],
        "app",
        password,
        "select id from acked order by id",
    );
    assert_eq!(stored.code, Some(0), "{}", stored.stderr);
    let stored: std::collections::BTreeSet<u64> = stored
        .stdout
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect();
    let lost: Vec<&u64> = acked.iter().filter(|id| !stored.contains(id)).collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    (primary[0], acked.len())
}
