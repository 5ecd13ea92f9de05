//! The shared Patroni-configuration generator, run by the real Patroni 4.1.5 against a
//! real etcd 3.4.23 and PostgreSQL 17.11: one member bootstraps as leader, the
//! rendered post-bootstrap script creates the application role, passwords arrive only
//! through the environment, and the REST API refuses unsafe requests without them.
//! Everything listens on 127.0.0.1, runs unprivileged, is bounded in time and is
//! stopped by PID.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use postgres_ha_core::render::{Topology, patroni_config, post_bootstrap};
use postgres_ha_core::values::Values;
use postgres_ha_tests::{Output, free_port, is_root, root, run};

const APP_PASSWORD: &str = "app 'pass' \"word\" $HOME `x`\n;";

fn runtime() -> PathBuf {
    let runtime = root().join(".tools/runtime");
    for tool in ["pg/bin/postgres", "venv/bin/patroni", "etcd/etcd"] {
        assert!(
            runtime.join(tool).exists(),
            "{tool} missing; run scripts/install-test-tools.sh"
        );
    }
    runtime
}

/// Starts `program` as `nobody` (when root) with a clean environment, logging to `log`.
fn spawn(program: &Path, args: &[String], env: &[(&str, String)], log: &Path) -> Child {
    let mut command = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(program);
        c
    } else {
        Command::new(program)
    };
    let log = std::fs::File::create(log).unwrap();
    command
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// A plain HTTP/1.0 request on 127.0.0.1; returns the status code and body.
fn http(port: u16, method: &str, path: &str) -> Option<(u16, String)> {
    let mut stream =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// Processes killed by PID when the test ends, however it ends.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in self.0.iter_mut().rev() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn patroni_runs_the_generated_configuration() {
    let runtime = runtime();
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    if is_root() {
        std::os::unix::fs::chown(base, Some(65534), Some(65534)).unwrap();
    }
    let (etcd_client, etcd_peer, restapi, postgres) =
        (free_port(), free_port(), free_port(), free_port());
    let path = format!("{}:/usr/bin:/bin", runtime.join("pg/bin").display());
    let mut processes = Processes(Vec::new());

    processes.0.push(spawn(
        &runtime.join("etcd/etcd"),
        &[
            "--name=e0".into(),
            format!("--data-dir={}", base.join("etcd").display()),
            format!("--listen-client-urls=http://127.0.0.1:{etcd_client}"),
            format!("--advertise-client-urls=http://127.0.0.1:{etcd_client}"),
            format!("--listen-peer-urls=http://127.0.0.1:{etcd_peer}"),
            format!("--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}"),
            format!("--initial-cluster=e0=http://127.0.0.1:{etcd_peer}"),
        ],
        &[("PATH", path.clone()), ("HOME", base.display().to_string())],
        &base.join("etcd.log"),
    ));

    let script = base.join("post-bootstrap.sh");
    std::fs::write(&script, post_bootstrap()).unwrap();
    let mut values = Values::default();
    values.patroni.timing.ttl = Some(20);
    values.patroni.timing.loop_wait = Some(2);
    values.patroni.timing.retry_timeout = Some(5);
    let topology = Topology {
        scope: "local-test".into(),
        name: "m0".into(),
        restapi_listen: format!("127.0.0.1:{restapi}"),
        restapi_connect: format!("127.0.0.1:{restapi}"),
        postgres_listen: format!("127.0.0.1:{postgres}"),
        postgres_connect: format!("127.0.0.1:{postgres}"),
        etcd_hosts: vec![format!("127.0.0.1:{etcd_client}")],
        data_dir: base.join("data").display().to_string(),
        bin_dir: Some(runtime.join("pg/bin").display().to_string()),
        pgpass: base.join("pgpass").display().to_string(),
        socket_dir: Some(base.display().to_string()),
        client_networks: vec!["127.0.0.1/32".into()],
        post_bootstrap: format!("/bin/bash {}", script.display()),
        before_stop: None,
    };
    let config = base.join("patroni.yml");
    let text = serde_json::to_string_pretty(&patroni_config(&values, &topology)).unwrap();
    assert!(
        !text.contains("secret"),
        "a password reached the configuration"
    );
    std::fs::write(&config, text).unwrap();
    let env = vec![
        ("PATH", path.clone()),
        ("HOME", base.display().to_string()),
        ("LANG", "C.UTF-8".to_owned()),
        (
            "LD_LIBRARY_PATH",
            runtime.join("pg/lib").display().to_string(),
        ),
        ("PATRONI_SUPERUSER_PASSWORD", "superuser-secret".to_owned()),
        (
            "PATRONI_REPLICATION_PASSWORD",
            "replication-secret".to_owned(),
        ),
        ("PATRONI_REWIND_PASSWORD", "rewind-secret".to_owned()),
        ("PATRONI_RESTAPI_PASSWORD", "restapi-secret".to_owned()),
        ("APP_USERNAME", "app".to_owned()),
        ("APP_PASSWORD", APP_PASSWORD.to_owned()),
        ("APP_DATABASE", "appdb".to_owned()),
    ];
    processes.0.push(spawn(
        &runtime.join("venv/bin/patroni"),
        &[config.display().to_string()],
        &env,
        &base.join("patroni.log"),
    ));

    // Leader within a bounded wait: /primary answers 200 only on the leader.
    let deadline = Instant::now() + Duration::from_secs(90);
    while http(restapi, "GET", "/primary").is_none_or(|(status, _)| status != 200) {
        assert!(
            Instant::now() < deadline,
            "no leader within 90 s; patroni log:\n{}",
            std::fs::read_to_string(base.join("patroni.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let (_, status) = http(restapi, "GET", "/patroni").unwrap();
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["role"], "primary");
    assert_eq!(status["patroni"]["scope"], "local-test");

    // The application role exists, with its password byte for byte.
    let login: Output = run(
        Command::new(runtime.join("pg/bin/psql"))
            .arg(format!(
                "host=127.0.0.1 port={postgres} user=app dbname=appdb connect_timeout=5"
            ))
            .args(["-XtAc", "select current_user"])
            .env_clear()
            .env("LD_LIBRARY_PATH", runtime.join("pg/lib"))
            .env("PGPASSWORD", APP_PASSWORD),
        None,
        Duration::from_secs(30),
    );
    assert_eq!(login.code, Some(0), "{}", login.stderr);
    assert_eq!(login.stdout.trim(), "app");

    // Unsafe REST endpoints need the REST API password.
    let (status, _) = http(restapi, "POST", "/restart").unwrap();
    assert_eq!(status, 401);

    // The DCS timers came from the values.
    let (_, dcs) = http(restapi, "GET", "/config").unwrap();
    let dcs: serde_json::Value = serde_json::from_str(&dcs).unwrap();
    assert_eq!(
        (
            dcs["ttl"].as_u64(),
            dcs["loop_wait"].as_u64(),
            dcs["retry_timeout"].as_u64()
        ),
        (Some(20), Some(2), Some(5))
    );
    assert_eq!(dcs["synchronous_mode"], true);
    drop(processes);
}
