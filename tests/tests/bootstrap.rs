//! The rendered bootstrap script against a real PostgreSQL 17.11 (installed by
//! `scripts/install-runtime.sh`): the application role and database are created, and a
//! password made of quotes, `$`, backticks, backslashes, `;` and a newline logs in
//! byte for byte. The server listens on 127.0.0.1 only, runs as an unprivileged user,
//! is bounded in time and is stopped by PID.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use postgres_ha_core::render::{self, Credentials, Release};
use postgres_ha_core::values::Values;
use postgres_ha_tests::{Output, free_port, is_root, root, run};
use serde_json::Value;

const HOSTILE: &str = "p'q\"r$s`t\\u;v\nw $(id) %x {y} '; DROP ROLE postgres; --";
const SUPERUSER: &str = "super-secret-for-test";

fn runtime() -> PathBuf {
    let pg = root().join(".tools/runtime/pg");
    assert!(
        pg.join("bin/postgres").exists(),
        "PostgreSQL 17.11 is not installed; run scripts/install-test-tools.sh"
    );
    pg
}

/// Runs a PostgreSQL tool with a clean environment, as `nobody` when we are root
/// (PostgreSQL refuses to run as root).
fn pg_tool(tool: &str, args: &[&str], env: &[(&str, &str)], as_user: bool) -> Output {
    let pg = runtime();
    let program = pg.join("bin").join(tool);
    let mut command = if as_user && is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&program);
        c
    } else {
        Command::new(&program)
    };
    command
        .args(args)
        .env_clear()
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", pg.join("bin").display()),
        )
        .env("LD_LIBRARY_PATH", pg.join("lib"))
        .env("LANG", "C.UTF-8");
    for (key, value) in env {
        command.env(key, value);
    }
    run(&mut command, None, Duration::from_secs(60))
}

/// A PostgreSQL server in a temporary directory; stopped (and killed by PID if need
/// be) when dropped.
struct Server {
    dir: tempfile::TempDir,
    port: u16,
}

impl Server {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn start(initdb_options: &[String]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, SUPERUSER).unwrap();
        if is_root() {
            for path in [dir.path(), pwfile.as_path()] {
                std::os::unix::fs::chown(path, Some(65534), Some(65534)).unwrap();
            }
        }
        let data = dir.path().join("data");
        let mut args = vec![
            "-D".to_owned(),
            data.display().to_string(),
            "-U".into(),
            "postgres".into(),
            "--auth=scram-sha-256".into(),
            format!("--pwfile={}", pwfile.display()),
        ];
        args.extend(initdb_options.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let init = pg_tool("initdb", &args, &[], true);
        assert_eq!(init.code, Some(0), "initdb: {}{}", init.stdout, init.stderr);
        let port = free_port();
        let server = Self { dir, port };
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {}",
            server.dir.path().display()
        );
        let log = server.dir.path().join("log");
        let started = pg_tool(
            "pg_ctl",
            &[
                "-D",
                &data.display().to_string(),
                "-l",
                &log.display().to_string(),
                "-o",
                &options,
                "-w",
                "-t",
                "30",
                "start",
            ],
            &[],
            true,
        );
        assert_eq!(
            started.code,
            Some(0),
            "pg_ctl: {}{}",
            started.stdout,
            started.stderr
        );
        server
    }

    fn psql(&self, user: &str, database: &str, password: &str, sql: &str) -> Output {
        // libpq conninfo values in single quotes, with `\` and `'` escaped.
        let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
        let conninfo = format!(
            "host=127.0.0.1 port={} user={} dbname={} connect_timeout=5",
            self.port,
            quote(user),
            quote(database)
        );
        pg_tool(
            "psql",
            &[&conninfo, "-XtAc", sql],
            &[("PGPASSWORD", password)],
            false,
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let data = self.data().display().to_string();
        let _ = pg_tool(
            "pg_ctl",
            &["-D", &data, "-m", "immediate", "-w", "-t", "20", "stop"],
            &[],
            true,
        );
        // If pg_ctl could not stop it, kill the postmaster by its recorded PID.
        if let Ok(pid) = std::fs::read_to_string(Path::new(&data).join("postmaster.pid"))
            && let Some(pid) = pid.lines().next()
        {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
    }
}

fn rendered() -> (Vec<Value>, Value) {
    let resources = render::render(
        &Values::default(),
        &Release {
            name: "db".into(),
            gvc: "prod".into(),
            org: None,
        },
        &Credentials::from_fn(|key| format!("test-{}", key.secret_key())),
    )
    .unwrap();
    let config = resources
        .iter()
        .find(|r| r["name"] == "db-patroni-config")
        .unwrap();
    let config: Value = serde_json::from_str(config["data"]["payload"].as_str().unwrap()).unwrap();
    (resources, config)
}

/// initdb options exactly as the rendered Patroni configuration gives them.
fn initdb_options(config: &Value) -> Vec<String> {
    config["bootstrap"]["initdb"]
        .as_array()
        .unwrap()
        .iter()
        .map(|option| match option {
            Value::String(flag) => format!("--{flag}"),
            Value::Object(map) => {
                let (key, value) = map.iter().next().unwrap();
                format!("--{key}={}", value.as_str().unwrap())
            }
            other => panic!("unexpected initdb option {other}"),
        })
        .collect()
}

#[test]
fn bootstrap_script_creates_the_role_and_database_byte_exact() {
    let (resources, config) = rendered();
    let server = Server::start(&initdb_options(&config));
    let script_text = resources
        .iter()
        .find(|r| r["name"] == "db-postgres-bootstrap")
        .unwrap()["data"]["payload"]
        .as_str()
        .unwrap()
        .to_owned();
    let script = server.dir.path().join("post-bootstrap.sh");
    std::fs::write(&script, &script_text).unwrap();
    // Names that need quoting (any name PostgreSQL accepts is valid) prove the
    // identifiers are quoted too.
    let database = "app \"db\"; x";
    let user = "svc-App";
    let pg = runtime();
    let out = run(
        Command::new("bash")
            .arg(&script)
            .arg(format!(
                "postgresql://postgres@127.0.0.1:{}/postgres",
                server.port
            ))
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", pg.join("bin").display()),
            )
            .env("LD_LIBRARY_PATH", pg.join("lib"))
            .env("PGPASSWORD", SUPERUSER)
            .env("APP_USERNAME", user)
            .env("APP_PASSWORD", HOSTILE)
            .env("APP_DATABASE", database),
        None,
        Duration::from_secs(60),
    );
    assert_eq!(
        out.code,
        Some(0),
        "bootstrap script: {}{}",
        out.stdout,
        out.stderr
    );

    let login = server.psql(
        user,
        database,
        HOSTILE,
        "select current_user || '|' || current_database()",
    );
    assert_eq!(login.code, Some(0), "{}", login.stderr);
    assert_eq!(login.stdout.trim(), format!("{user}|{database}"));
    let owner = server.psql(
        "postgres",
        "postgres",
        SUPERUSER,
        &format!(
            "select pg_get_userbyid(datdba) from pg_database where datname = '{}'",
            database.replace('\'', "''")
        ),
    );
    assert_eq!(owner.stdout.trim(), user);
    // Byte-exact means a near miss fails: drop the last character, or the newline.
    for wrong in [&HOSTILE[..HOSTILE.len() - 1], &HOSTILE.replace('\n', "")] {
        let denied = server.psql(user, database, wrong, "select 1");
        assert_ne!(denied.code, Some(0), "a wrong password logged in");
        assert!(
            denied.stderr.contains("password authentication failed"),
            "{}",
            denied.stderr
        );
    }
    // The superuser role survived the `'; DROP ROLE postgres; --` inside the password.
    let superuser = server.psql(
        "postgres",
        "postgres",
        SUPERUSER,
        "select rolsuper from pg_roles where rolname = 'postgres'",
    );
    assert_eq!(superuser.stdout.trim(), "t");
    // Checksums are on, as the rendered initdb options ask.
    let checksums = server.psql("postgres", "postgres", SUPERUSER, "show data_checksums");
    assert_eq!(checksums.stdout.trim(), "on");
}

/// `postgres.parameters` is checked against the pinned server's own `pg_settings`:
/// regenerating the table from the installed PostgreSQL changes nothing.
#[test]
fn parameter_table_is_the_pinned_servers_own() {
    runtime();
    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("pg_settings.rs");
    let out = run(
        Command::new("bash")
            .arg(root().join("scripts/gen-pg-settings.sh"))
            .arg(root().join(".tools/runtime"))
            .arg(&generated),
        None,
        Duration::from_secs(120),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        std::fs::read_to_string(&generated).unwrap()
            == std::fs::read_to_string(root().join("core/src/pg_settings.rs")).unwrap(),
        "core/src/pg_settings.rs is stale: run scripts/gen-pg-settings.sh .tools/runtime"
    );
}
