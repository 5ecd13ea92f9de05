//! Day-2 operations on a real local cluster (etcd 3.4.23, Patroni 4.1.5, PostgreSQL
//! 17.11), under a writer that records every acknowledged id: refusals first, then a
//! switchover to a named member and to an automatic choice, a rolling restart, a
//! reload, a reinit, and a pause in which the leader dies, nobody takes over, and a
//! failover promotes the member we name. After all of it: every acknowledged write is
//! stored, exactly one member accepts writes, and no password appeared in any output.

use std::time::{Duration, Instant};

use postgres_ha_tests::Output;
use postgres_ha_tests::cluster::{
    Local, PASSWORD, lock, primaries, read_acked, stop_writer_and_check,
};
use serde_json::Value;

fn members(status: &Value) -> Vec<Value> {
    status["members"].as_array().cloned().unwrap_or_default()
}

fn leader(status: &Value) -> String {
    Local::member(status, "leader").unwrap()["name"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn ports(status: &Value) -> Vec<u64> {
    members(status)
        .iter()
        .map(|m| m["port"].as_u64().unwrap())
        .collect()
}

/// `db-pg1` → `pg1`: commands take the short name too.
fn short(name: &str) -> &str {
    name.rsplit('-').next().unwrap()
}

/// Every command's output, to check no password reached any of them.
struct Run<'a> {
    cluster: &'a Local,
    outputs: Vec<String>,
}

/// Brings the cluster up with a synchronous standby and starts a writer on it.
fn under_writer(cluster: &Local) -> (Value, std::process::Child, std::path::PathBuf) {
    let status = cluster.up_with_sync_standby();
    let (writer, acked) = cluster.start_writer(Local::member(&status, "leader").unwrap(), 400);
    (status, writer, acked)
}

impl<'a> Run<'a> {
    fn new(cluster: &'a Local) -> Self {
        Self {
            cluster,
            outputs: Vec::new(),
        }
    }

    fn assert_no_password(&self, passwords: &[String]) {
        for output in &self.outputs {
            for password in passwords {
                assert!(
                    !output.contains(password.as_str()),
                    "a password reached the output: {output}"
                );
            }
        }
    }

    fn op(&mut self, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        all.insert(1, &self.cluster.name);
        all.push("--local");
        let out = self.cluster.cli(&all, 300);
        self.outputs.push(format!("{}{}", out.stdout, out.stderr));
        out
    }

    fn ok(&mut self, args: &[&str]) -> Output {
        let out = self.op(args);
        assert_eq!(out.code, Some(0), "{args:?}: {}{}", out.stdout, out.stderr);
        out
    }

    fn json(&mut self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json", "--yes"]);
        let out = self.ok(&all);
        serde_json::from_str(&out.stdout).unwrap_or_else(|_| panic!("{out:?}"))
    }
}

#[test]
fn day2_operations_keep_every_acknowledged_write_and_one_leader() {
    let _serial = lock();
    let cluster = Local::new("ops");
    let (status, mut writer, acked_file) = under_writer(&cluster);
    let mut run = Run::new(&cluster);
    let first = leader(&status);
    let sync = Local::member(&status, "sync_standby").unwrap()["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = members(&status)
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .find(|n| *n != first && *n != sync)
        .unwrap();
    let all_ports = ports(&status);
    let mut acked_so_far = read_acked(&acked_file).len();
    let mut writes_resume = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while read_acked(&acked_file).len() < acked_so_far + 20 {
            assert!(
                Instant::now() < deadline,
                "writes did not resume after {what}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        acked_so_far = read_acked(&acked_file).len();
    };

    // Refusals change nothing and say what to do.
    let out = run.op(&["switchover"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("pass --yes"), "{}", out.stderr);
    let out = run.ok(&["switchover", "--dry-run"]);
    assert!(
        out.stdout.contains("dry run: nothing was changed"),
        "{}",
        out.stdout
    );
    let out = run.op(&["switchover", "--candidate", "pg9", "--yes"]);
    assert!(
        out.stderr.contains("has no member") && out.stderr.contains(&sync),
        "{}",
        out.stderr
    );
    // Synchronous mode: only the synchronous standby may take over.
    let out = run.op(&["switchover", "--candidate", short(&other), "--yes"]);
    assert!(
        out.stderr.contains("not a synchronous standby"),
        "{}",
        out.stderr
    );
    let out = run.op(&["failover", "--candidate", short(&sync), "--yes"]);
    assert!(out.stderr.contains("use `switchover`"), "{}", out.stderr);
    assert_eq!(leader(&cluster.status()), first);

    // A switchover to a named member (short name), measured.
    let report = run.json(&["switchover", "--candidate", short(&sync)]);
    let handover = &report["switchovers"][0];
    assert_eq!(handover["from"], first.as_str());
    assert_eq!(handover["to"], sync.as_str());
    assert!(
        handover["write_gap_seconds"].as_f64().is_some(),
        "{report:#}"
    );
    assert_eq!(report["status"]["leader"], sync.as_str());
    let home = cluster.dir().join(short(&first));
    assert!(
        !home.join("fast-demote").exists(),
        "the marker was left armed"
    );
    writes_resume("the named switchover");

    // An automatic one: the synchronous standby of the moment.
    cluster.wait_for("a synchronous standby", Duration::from_secs(30), |s| {
        Local::member(s, "sync_standby").is_some_and(|m| m["state"] == "streaming")
    });
    let report = run.json(&["switchover"]);
    let to = report["switchovers"][0]["to"].as_str().unwrap().to_owned();
    assert_ne!(to, sync);
    assert_eq!(leader(&cluster.status()), to);
    writes_resume("the automatic switchover");

    // A rolling restart: every postmaster replaced, one switchover.
    let before = cluster.wait_for("every replica streaming", Duration::from_secs(30), |s| {
        members(s)
            .iter()
            .filter(|m| m["state"] == "streaming")
            .count()
            == 2
    });
    let report = run.json(&["restart"]);
    assert_eq!(
        report["switchovers"].as_array().unwrap().len(),
        1,
        "{report:#}"
    );
    let after = cluster.status();
    for member in members(&before) {
        let now = members(&after)
            .into_iter()
            .find(|m| m["name"] == member["name"])
            .unwrap();
        assert_ne!(
            now["postmaster_pid"], member["postmaster_pid"],
            "{} kept its postmaster",
            member["name"]
        );
    }
    assert_ne!(leader(&after), to);
    writes_resume("the rolling restart");

    // `--recreate` stops a member's processes and starts them afresh: a new Patroni
    // as well as a new postmaster, and no switchover for a replica.
    let before = cluster.status();
    let replica = members(&before)
        .into_iter()
        .find(|m| m["name"].as_str() != Some(leader(&before).as_str()))
        .unwrap();
    let name = replica["name"].as_str().unwrap();
    let report = run.json(&["restart", "--member", name, "--recreate"]);
    assert!(
        report["switchovers"].as_array().unwrap().is_empty(),
        "{report:#}"
    );
    let now = members(&cluster.status())
        .into_iter()
        .find(|m| m["name"] == name)
        .unwrap();
    assert_ne!(now["patroni_pid"], replica["patroni_pid"], "{now}");
    assert_ne!(now["postmaster_pid"], replica["postmaster_pid"], "{now}");
    assert_eq!(now["state"], "streaming", "{now}");
    writes_resume("recreating a replica");

    // A scheduled switchover: Patroni carries it out at the time given.
    cluster.wait_for("a synchronous standby", Duration::from_secs(30), |s| {
        Local::member(s, "sync_standby").is_some_and(|m| m["state"] == "streaming")
    });
    let at = std::process::Command::new("date")
        .args(["-u", "-d", "+6 seconds", "+%Y-%m-%dT%H:%M:%S+00:00"])
        .output()
        .unwrap();
    let at = String::from_utf8(at.stdout).unwrap().trim().to_owned();
    let before = leader(&cluster.status());
    let out = run.ok(&["switchover", "--scheduled", &at, "--yes"]);
    assert!(
        out.stdout.contains(&format!("scheduled at {at}")),
        "{}",
        out.stdout
    );
    cluster.wait_for("the scheduled switchover", Duration::from_secs(40), |s| {
        Local::member(s, "leader")
            .is_some_and(|m| m["name"] != before.as_str() && m["state"] == "running")
    });
    writes_resume("the scheduled switchover");

    // `status --watch` redraws until interrupted.
    let watch = std::process::Command::new(postgres_ha_tests::bin())
        .args(["status", "ops", "--local", "--watch"])
        .env("CPLN_POSTGRES_HA_STATE", cluster.state.path())
        .env(
            "CPLN_POSTGRES_HA_RUNTIME",
            postgres_ha_tests::cluster::runtime(),
        )
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(5));
    let _ = std::process::Command::new("kill")
        .args(["-INT", &watch.id().to_string()])
        .status();
    let watched = watch.wait_with_output().unwrap();
    assert!(watched.status.success(), "{watched:?}");
    let text = String::from_utf8_lossy(&watched.stdout);
    assert!(text.matches("leader: ").count() >= 2, "{text}");

    // Connection strings by role: a replica, and the leader.
    for (role, recovery) in [("replica", "t"), ("leader", "f")] {
        let dsn = run.ok(&["dsn", "--role", role]).stdout.trim().to_owned();
        let pg = postgres_ha_tests::cluster::runtime().join("pg");
        let out = postgres_ha_tests::run(
            std::process::Command::new(pg.join("bin/psql"))
                .arg(&dsn)
                .args(["-XAtc", "select pg_is_in_recovery()"])
                .env_clear()
                .env("LD_LIBRARY_PATH", pg.join("lib"))
                .env("PGPASSWORD", PASSWORD),
            None,
            Duration::from_secs(30),
        );
        assert_eq!(out.stdout.trim(), recovery, "{role}: {out:?}");
    }

    // Reload and reinit of a replica.
    run.ok(&["reload", "--yes"]);
    let current = leader(&cluster.status());
    let replica = members(&cluster.status())
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .find(|n| *n != current)
        .unwrap();
    let out = run.op(&["reinit", "--member", short(&current), "--yes"]);
    assert!(out.stderr.contains("switch over first"), "{}", out.stderr);
    run.ok(&["reinit", "--member", short(&replica), "--yes"]);
    writes_resume("the reinit");

    // Paused: the leader's PostgreSQL dies and nobody takes over …
    cluster.wait_for("a synchronous standby", Duration::from_secs(30), |s| {
        Local::member(s, "sync_standby").is_some_and(|m| m["state"] == "streaming")
    });
    run.ok(&["pause", "--yes"]);
    assert_eq!(cluster.status()["paused"], true);
    let status = cluster.status();
    let dead = Local::member(&status, "leader").unwrap().clone();
    let heir = Local::member(&status, "sync_standby").unwrap()["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &dead["postmaster_pid"].to_string()])
        .status();
    // ttl of the fast preset (20 s) and then some: no promotion while paused.
    let quiet = Instant::now() + Duration::from_secs(25);
    while Instant::now() < quiet {
        assert!(
            primaries(&all_ports).is_empty(),
            "a member was promoted while paused"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    // … until a failover names the heir.
    let report = run.json(&["failover", "--candidate", short(&heir)]);
    assert_eq!(report["status"]["leader"], heir.as_str(), "{report:#}");
    run.ok(&["resume", "--yes"]);
    assert_eq!(cluster.status()["paused"], false);
    writes_resume("the failover");
    cluster.wait_for(
        "every member back and streaming",
        Duration::from_secs(90),
        |s| {
            members(s)
                .iter()
                .filter(|m| m["state"] == "streaming")
                .count()
                == 2
        },
    );

    stop_writer_and_check(&mut writer, &acked_file, &all_ports, PASSWORD);

    // No password in anything a command printed.
    let mut passwords: Vec<String> = cluster.credentials().into_values().collect();
    assert_eq!(passwords.len(), 6, "the six internal passwords");
    passwords.push(PASSWORD.to_owned());
    run.assert_no_password(&passwords);
}

/// Scale 3 → 5 → 2 → 3 under a writer, the scale-down removing the leader's member:
/// the lead moves to a member that stays, the removed members' slots and registrations
/// go, their data stays (until a new member takes the index), and every acknowledged
/// write survives.
#[test]
fn scale_grows_and_shrinks_with_the_leader_on_a_leaving_member() {
    let _serial = lock();
    let cluster = Local::new("grow");
    let (_, mut writer, acked_file) = under_writer(&cluster);
    let mut run = Run::new(&cluster);
    let index = |name: &str| short(name)[2..].parse::<usize>().unwrap();

    // The HA rules first: the platform allows at most six members.
    let out = run.op(&["scale", "--replicas", "7", "--yes"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("R007"), "{}", out.stderr);
    let out = run.ok(&["scale", "--replicas", "5", "--dry-run"]);
    assert!(out.stdout.contains("add 2 members"), "{}", out.stdout);
    assert_eq!(members(&cluster.status()).len(), 3);

    run.json(&["scale", "--replicas", "5"]);
    let status = cluster.status();
    assert_eq!(members(&status).len(), 5);
    assert_eq!(
        members(&status)
            .iter()
            .filter(|m| m["state"] == "streaming")
            .count(),
        4,
        "{status:#}"
    );

    // The lead onto a member that the scale-down to 2 removes.
    for _ in 0..6 {
        if index(&leader(&cluster.status())) >= 2 {
            break;
        }
        cluster.wait_for("a synchronous standby", Duration::from_secs(30), |s| {
            Local::member(s, "sync_standby").is_some_and(|m| m["state"] == "streaming")
        });
        run.json(&["switchover"]);
    }
    let old = leader(&cluster.status());
    assert!(index(&old) >= 2, "the lead stayed on {old}");

    let report = run.json(&["scale", "--replicas", "2"]);
    assert_eq!(
        report["switchovers"].as_array().unwrap().len(),
        1,
        "{report:#}"
    );
    let status = cluster.status();
    let names: Vec<String> = members(&status)
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["grow-pg0", "grow-pg1"], "{status:#}");
    let now = leader(&status);
    assert!(index(&now) < 2);
    let slots = Local::psql(
        Local::member(&status, "leader").unwrap()["port"]
            .as_u64()
            .unwrap(),
        "select slot_name from pg_replication_slots order by 1",
    );
    let other = names.iter().find(|n| **n != now).unwrap().replace('-', "_");
    assert_eq!(
        slots.stdout.trim(),
        other,
        "slots of removed members remain"
    );
    // Without --purge their data stays.
    assert!(cluster.dir().join("pg4/data").exists());

    run.json(&["scale", "--replicas", "3"]);
    let status = cluster.status();
    assert_eq!(members(&status).len(), 3);
    assert_eq!(
        members(&status)
            .iter()
            .filter(|m| m["state"] == "streaming")
            .count(),
        2,
        "{status:#}"
    );
    let aside = std::fs::read_dir(cluster.dir())
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().starts_with("pg2.removed-"));
    assert!(aside, "the old pg2 data was not kept aside");

    let (_, acked) = stop_writer_and_check(&mut writer, &acked_file, &ports(&status), PASSWORD);
    assert!(acked > 100, "the writer barely wrote");
    run.assert_no_password(&[PASSWORD.to_owned()]);
}

/// Whether `password` logs in as `user` on the member at `port` (a physical
/// replication connection for the replication user).
fn logs_in(port: u64, user: &str, password: &str, replication: bool) -> bool {
    let pg = postgres_ha_tests::cluster::runtime().join("pg");
    let extra = if replication { " replication=true" } else { "" };
    let out = postgres_ha_tests::run(
        std::process::Command::new(pg.join("bin/psql"))
            .arg(format!(
                "host=127.0.0.1 port={port} user={user} dbname=postgres connect_timeout=3{extra}"
            ))
            .args([
                "-XAtc",
                if replication {
                    "IDENTIFY_SYSTEM"
                } else {
                    "select 1"
                },
            ])
            .env_clear()
            .env("LD_LIBRARY_PATH", pg.join("lib"))
            .env("PGPASSWORD", password),
        None,
        Duration::from_secs(30),
    );
    assert!(
        out.code == Some(0) || out.stderr.contains("password authentication failed"),
        "{out:?}"
    );
    out.code == Some(0)
}

/// Whether Patroni's REST API on `port` takes `password` (a reload, harmless).
fn restapi_accepts(port: u64, password: &str) -> bool {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", u16::try_from(port).unwrap())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = postgres_ha_tests::b64(&format!("patroni:{password}"));
    write!(
        stream,
        "POST /reload HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Basic {auth}\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    assert!(!status.is_empty(), "no answer from {port}");
    status != "401"
}

/// Every user's password rotated under a writer: the new one logs in, the old one
/// is refused, no write fails, nothing acknowledged is lost, no command prints a
/// password; and a rotation interrupted after each phase leaves a working password
/// and completes when run again.
#[test]
fn rotation_changes_each_password_with_no_failed_write() {
    let _serial = lock();
    let cluster = Local::new("rotate");
    let (status, mut writer, acked_file) = under_writer(&cluster);
    let port = Local::member(&status, "leader").unwrap()["port"]
        .as_u64()
        .unwrap();
    let mut run = Run::new(&cluster);
    let mut every_password: Vec<String> = cluster.credentials().into_values().collect();
    every_password.push(PASSWORD.to_owned());

    let out = run.op(&["rotate-password", "--user", "nobody", "--generate", "--yes"]);
    assert!(out.stderr.contains("unknown user"), "{}", out.stderr);
    let out = run.op(&["rotate-password", "--user", "superuser", "--yes"]);
    assert!(out.stderr.contains("--generate"), "{}", out.stderr);
    let out = run.op(&[
        "rotate-password",
        "--user",
        "app",
        "--password-stdin",
        "--yes",
    ]);
    assert_ne!(out.code, Some(0), "an empty password was taken");

    for (user, key, role, replication) in [
        ("superuser", "superuser-password", "postgres", false),
        ("replication", "replication-password", "replicator", true),
        ("rewind", "rewind-password", "rewind_user", false),
        ("restapi", "restapi-password", "", false),
    ] {
        let old = cluster.credentials()[key].clone();
        let out = run.ok(&["rotate-password", "--user", user, "--generate", "--yes"]);
        assert!(
            out.stdout.contains("old password is refused"),
            "{}",
            out.stdout
        );
        let new = cluster.credentials()[key].clone();
        assert_ne!(old, new);
        every_password.push(new.clone());
        if role.is_empty() {
            for member in members(&cluster.status()) {
                let api = member["api_port"].as_u64().unwrap();
                assert!(restapi_accepts(api, &new), "{user}: new refused");
                assert!(!restapi_accepts(api, &old), "{user}: old accepted");
            }
        } else {
            assert!(
                logs_in(port, role, &new, replication),
                "{user}: new refused"
            );
            assert!(
                !logs_in(port, role, &old, replication),
                "{user}: old accepted"
            );
        }
    }
    // The application's: from standard input, kept with the cluster's values.
    let new_app = "Kq7-wintry-Lantern-58";
    every_password.push(new_app.to_owned());
    let mut command = std::process::Command::new(postgres_ha_tests::bin());
    command
        .args([
            "rotate-password",
            "rotate",
            "--local",
            "--user",
            "app",
            "--password-stdin",
            "--yes",
        ])
        .env("CPLN_POSTGRES_HA_STATE", cluster.state.path())
        .env(
            "CPLN_POSTGRES_HA_RUNTIME",
            postgres_ha_tests::cluster::runtime(),
        );
    let out = postgres_ha_tests::run(
        &mut command,
        Some(format!("{new_app}\n").as_bytes()),
        Duration::from_secs(120),
    );
    run.outputs.push(format!("{}{}", out.stdout, out.stderr));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(logs_in(port, "app", new_app, false));
    assert!(!logs_in(port, "app", PASSWORD, false));
    let values = std::fs::read_to_string(cluster.dir().join("values.yaml")).unwrap();
    assert!(values.contains(new_app) && !values.contains(PASSWORD));
    let dsn = run.ok(&["dsn", "--show-password"]);
    assert!(dsn.stdout.contains(new_app), "{}", dsn.stdout);
    run.outputs.pop(); // asked to show it

    // Interrupted after each phase, then run again: a working password throughout.
    for phase in ["preflight", "prepare", "database", "members"] {
        let old = cluster.credentials()["superuser-password"].clone();
        let out = run.op(&[
            "rotate-password",
            "--user",
            "superuser",
            "--generate",
            "--yes",
            "--stop-after",
            phase,
        ]);
        assert_eq!(out.code, Some(1), "{phase}: {out:?}");
        let journal = cluster.dir().join("rotation.json");
        let pending = std::fs::read_to_string(&journal).ok().map(|t| {
            serde_json::from_str::<Value>(&t).unwrap()["password"]
                .as_str()
                .unwrap()
                .to_owned()
        });
        assert_eq!(pending.is_some(), phase != "preflight", "{phase}");
        if let Some(new) = &pending {
            every_password.push(new.clone());
            assert!(
                logs_in(port, "postgres", &old, false) || logs_in(port, "postgres", new, false),
                "after {phase} neither password works"
            );
            // Another user waits for this rotation to finish.
            let out = run.op(&["rotate-password", "--user", "rewind", "--generate", "--yes"]);
            assert!(out.stderr.contains("finish it first"), "{}", out.stderr);
        }
        run.ok(&[
            "rotate-password",
            "--user",
            "superuser",
            "--generate",
            "--yes",
        ]);
        assert!(!journal.exists());
        let now = cluster.credentials()["superuser-password"].clone();
        every_password.push(now.clone());
        if let Some(new) = &pending {
            assert_eq!(
                &now, new,
                "{phase}: the rerun did not finish the recorded rotation"
            );
        }
        assert!(logs_in(port, "postgres", &now, false));
        assert!(!logs_in(port, "postgres", &old, false));
    }
    assert_eq!(
        postgres_ha_tests::cluster::failed_writes(&acked_file),
        0,
        "writes failed during the rotations"
    );
    // The cluster still switches over with the rotated passwords (replication,
    // rewind, REST API, superuser).
    run.ok(&["switchover", "--yes"]);
    let status = cluster.status();
    stop_writer_and_check(&mut writer, &acked_file, &ports(&status), new_app);
    run.assert_no_password(&every_password);
}

/// `apply` under a writer: the same values change nothing; a dynamic parameter takes
/// effect without a restart; a restart-needing one is left pending without
/// `--restart`, then carried out by a rolling restart with it; a new password is
/// rotated in; a change a running cluster cannot take is refused whole.
#[test]
fn apply_carries_changed_values_out() {
    let _serial = lock();
    let cluster = Local::new("apply");
    let (_, mut writer, acked_file) = under_writer(&cluster);
    let mut run = Run::new(&cluster);
    let base = std::fs::read_to_string(&cluster.values).unwrap();
    let file = cluster.state.path().join("changed.yaml");
    let show = |name: &str| {
        let status = cluster.status();
        let port = Local::member(&status, "leader").unwrap()["port"]
            .as_u64()
            .unwrap();
        Local::psql(port, &format!("show {name}"))
            .stdout
            .trim()
            .to_owned()
    };

    let out = run.ok(&["apply", "-f", cluster.values.to_str().unwrap(), "--yes"]);
    assert!(out.stdout.contains("nothing to apply"), "{}", out.stdout);

    // A dynamic parameter: reloaded, no restart.
    let pids: Vec<Value> = members(&cluster.status())
        .iter()
        .map(|m| m["postmaster_pid"].clone())
        .collect();
    // (`postgres:` is the base's first section; parameters go under it.)
    std::fs::write(
        &file,
        base.replacen(
            "postgres:\n",
            "postgres:\n  parameters:\n    work_mem: 12MB\n",
            1,
        ),
    )
    .unwrap();
    let file_arg = file.to_str().unwrap().to_owned();
    let out = run.ok(&["apply", "-f", &file_arg, "--yes"]);
    assert!(
        out.stdout.contains("done: apply 1 change"),
        "{}",
        out.stdout
    );
    assert_eq!(show("work_mem"), "12MB");
    let after: Vec<Value> = members(&cluster.status())
        .iter()
        .map(|m| m["postmaster_pid"].clone())
        .collect();
    assert_eq!(pids, after, "a reload-only change restarted PostgreSQL");
    let out = run.ok(&["apply", "-f", &file_arg, "--yes"]);
    assert!(
        out.stdout.contains("nothing to apply"),
        "second apply drifted: {}",
        out.stdout
    );

    // A restart-needing one: pending without --restart, done with it.
    std::fs::write(
        &file,
        base.replacen(
            "postgres:\n",
            "postgres:\n  parameters:\n    work_mem: 12MB\n    max_connections: 140\n",
            1,
        ),
    )
    .unwrap();
    let out = run.ok(&["apply", "-f", &file_arg, "--yes"]);
    assert!(
        out.stdout.contains("restart is left pending"),
        "{}",
        out.stdout
    );
    cluster.wait_for(
        "a restart pending everywhere",
        Duration::from_secs(30),
        |s| members(s).iter().all(|m| m["pending_restart"] == true),
    );
    assert_eq!(show("max_connections"), "100");
    let report = run.json(&["apply", "-f", &file_arg, "--restart"]);
    assert_eq!(
        report["switchovers"].as_array().unwrap().len(),
        1,
        "{report:#}"
    );
    assert_eq!(show("max_connections"), "140");
    assert!(
        members(&cluster.status())
            .iter()
            .all(|m| m["pending_restart"] == false)
    );

    // What a running cluster cannot take is refused, and nothing changes.
    std::fs::write(&file, format!("{base}etcd:\n  replicas: 5\n")).unwrap();
    let out = run.op(&["apply", "-f", &file_arg, "--yes"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("etcd settings changed"),
        "{}",
        out.stderr
    );

    let status = cluster.status();
    let (port, _) = stop_writer_and_check(&mut writer, &acked_file, &ports(&status), PASSWORD);

    // Last, a new password: rotated in, the old one refused.
    let new_password = "Vq4-amber-Harbor-93";
    std::fs::write(
        &file,
        base.replace(PASSWORD, new_password).replacen(
            "postgres:\n",
            "postgres:\n  parameters:\n    work_mem: 12MB\n    max_connections: 140\n",
            1,
        ),
    )
    .unwrap();
    let out = run.ok(&["apply", "-f", &file_arg, "--yes"]);
    assert!(
        out.stdout.contains("done: apply 1 change"),
        "{}",
        out.stdout
    );
    assert_eq!(
        Local::psql_as(port, "app", new_password, "select 1").code,
        Some(0)
    );
    assert_ne!(Local::psql(port, "select 1").code, Some(0));
    run.assert_no_password(&[PASSWORD.to_owned(), new_password.to_owned()]);
}
